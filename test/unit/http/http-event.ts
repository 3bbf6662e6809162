// A minimal API Gateway HTTP API (payload 2.0) event for the http-layer tests.
import type { HttpEvent } from '../../../shared/http/event.js'

export interface EventParts {
  method?: string
  path?: string
  headers?: Record<string, string>
  query?: Record<string, string>
  pathParameters?: Record<string, string>
  body?: string
  isBase64Encoded?: boolean
  requestId?: string
  userArn?: string
}

export const httpEvent = (parts: EventParts = {}): HttpEvent => {
  const method = parts.method ?? 'GET'
  const path = parts.path ?? '/v1/credentials'
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: new URLSearchParams(parts.query ?? {}).toString(),
    headers: parts.headers ?? {},
    ...(parts.query ? { queryStringParameters: parts.query } : {}),
    ...(parts.pathParameters ? { pathParameters: parts.pathParameters } : {}),
    ...(parts.body !== undefined ? { body: parts.body } : {}),
    isBase64Encoded: parts.isBase64Encoded ?? false,
    requestContext: {
      accountId: '111122223333',
      apiId: 'api',
      domainName: 'broker.example.com',
      domainPrefix: 'broker',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId: parts.requestId ?? 'req-test-1',
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: '04/May/2031:12:00:00 +0000',
      timeEpoch: 1935748800000,
      ...(parts.userArn ? { authorizer: { iam: { userArn: parts.userArn } } } : {}),
    },
  }
}
