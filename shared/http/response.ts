// Building HTTP API responses, and the one place where a broker error becomes a status code
// and an error body.
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda'
import type { BrokerError } from '../core/errors.js'

export type HttpResponse = APIGatewayProxyStructuredResultV2 & {
  statusCode: number
  headers: Record<string, string>
}

const BASE_HEADERS = {
  'content-type': 'application/json',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
}

export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponse => ({
  statusCode,
  headers: { ...BASE_HEADERS, ...headers },
  body: JSON.stringify(body),
})

export const noContent = (headers: Record<string, string> = {}): HttpResponse => ({
  statusCode: 204,
  headers: { ...BASE_HEADERS, ...headers },
  body: '',
})

/** The wire form of an error: `{"error":{"code","message","requestId"}}`, with `Retry-After` when retrying helps. */
export const errorResponse = (error: BrokerError, requestId: string): HttpResponse => {
  const expose = error.code !== 'InternalError'
  const headers: Record<string, string> = { 'x-request-id': requestId }
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds)
  if (error.code === 'Unauthorized') headers['www-authenticate'] = 'Bearer realm="irsa-broker-admin"'
  return json(
    error.statusCode,
    { error: { code: error.code, message: expose ? error.message : 'Internal error.', requestId } },
    headers,
  )
}
