// Every HTTP route and the Lambda function behind it. serverless.yml declares the same
// routes for API Gateway; the local server routes with this table. The paths themselves are in
// shared/http/paths.ts, which the CLI fills in.
import { PATHS } from '../shared/http/paths.js'

export type FunctionName = 'credentials' | 'roles' | 'discovery' | 'admin' | 'keys'

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  path: string
  function: FunctionName
  /** Admin routes are IAM-authorized in AWS and admin-token-authorized locally. */
  admin?: true
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: PATHS.credentials, function: 'credentials' },
  { method: 'POST', path: PATHS.credentials, function: 'credentials' },
  { method: 'GET', path: PATHS.roles, function: 'roles' },
  { method: 'GET', path: PATHS.openIdConfiguration, function: 'discovery' },
  { method: 'GET', path: PATHS.jwks, function: 'discovery' },
  { method: 'GET', path: PATHS.healthz, function: 'discovery' },
  // Public: the token is the credential (key-push.ts), so no admin route and not the admin function.
  { method: 'PUT', path: PATHS.issuerKeys, function: 'keys' },
  { method: 'GET', path: PATHS.issuers, function: 'admin', admin: true },
  { method: 'PUT', path: PATHS.issuer, function: 'admin', admin: true },
  { method: 'GET', path: PATHS.issuer, function: 'admin', admin: true },
  { method: 'DELETE', path: PATHS.issuer, function: 'admin', admin: true },
  { method: 'POST', path: PATHS.issuerRefresh, function: 'admin', admin: true },
  { method: 'GET', path: PATHS.bindings, function: 'admin', admin: true },
  { method: 'PUT', path: PATHS.binding, function: 'admin', admin: true },
  { method: 'GET', path: PATHS.binding, function: 'admin', admin: true },
  { method: 'DELETE', path: PATHS.binding, function: 'admin', admin: true },
  { method: 'POST', path: PATHS.explain, function: 'admin', admin: true },
  { method: 'POST', path: PATHS.revocations, function: 'admin', admin: true },
  { method: 'GET', path: PATHS.revocations, function: 'admin', admin: true },
  { method: 'DELETE', path: PATHS.revocation, function: 'admin', admin: true },
  { method: 'GET', path: PATHS.history, function: 'admin', admin: true },
]

export const routeKey = (route: Pick<Route, 'method' | 'path'>): string => `${route.method} ${route.path}`
