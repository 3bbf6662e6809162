// Every HTTP route and the Lambda function behind it. serverless.yml declares the same
// routes for API Gateway; the local server routes with this table.

export type FunctionName = 'credentials' | 'roles' | 'discovery' | 'admin'

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  path: string
  function: FunctionName
  /** Admin routes are IAM-authorized in AWS and admin-token-authorized locally. */
  admin?: true
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/v1/credentials', function: 'credentials' },
  { method: 'POST', path: '/v1/credentials', function: 'credentials' },
  { method: 'GET', path: '/v1/roles', function: 'roles' },
  { method: 'GET', path: '/.well-known/openid-configuration', function: 'discovery' },
  { method: 'GET', path: '/.well-known/jwks.json', function: 'discovery' },
  { method: 'GET', path: '/v1/admin/issuers', function: 'admin', admin: true },
  { method: 'PUT', path: '/v1/admin/issuers/{issuerId}', function: 'admin', admin: true },
  { method: 'GET', path: '/v1/admin/issuers/{issuerId}', function: 'admin', admin: true },
  { method: 'DELETE', path: '/v1/admin/issuers/{issuerId}', function: 'admin', admin: true },
  { method: 'POST', path: '/v1/admin/issuers/{issuerId}/refresh', function: 'admin', admin: true },
  { method: 'GET', path: '/v1/admin/issuers/{issuerId}/bindings', function: 'admin', admin: true },
  {
    method: 'PUT',
    path: '/v1/admin/issuers/{issuerId}/bindings/{bindingId}',
    function: 'admin',
    admin: true,
  },
  {
    method: 'GET',
    path: '/v1/admin/issuers/{issuerId}/bindings/{bindingId}',
    function: 'admin',
    admin: true,
  },
  {
    method: 'DELETE',
    path: '/v1/admin/issuers/{issuerId}/bindings/{bindingId}',
    function: 'admin',
    admin: true,
  },
  { method: 'POST', path: '/v1/admin/explain', function: 'admin', admin: true },
]

export const routeKey = (route: Pick<Route, 'method' | 'path'>): string => `${route.method} ${route.path}`
