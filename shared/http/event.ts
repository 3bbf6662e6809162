// Reading API Gateway HTTP API (payload 2.0) events: headers, query, path parameters and a
// size-limited JSON body. Everything read here is untrusted and enters as `unknown`.
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { InvalidParameterError, PayloadTooLargeError } from '../core/errors.js'
import { duplicateMember } from '../core/json-text.js'

export type HttpEvent = APIGatewayProxyEventV2 & {
  requestContext: APIGatewayProxyEventV2['requestContext'] & {
    authorizer?: { iam?: { userArn?: string; accountId?: string; callerId?: string } }
  }
}

export const MAX_BODY_BYTES = 64 * 1024

/** Header names in HTTP API events are lower case already; this tolerates other producers. */
export const header = (event: HttpEvent, name: string): string | undefined => {
  const headers = event.headers ?? {}
  const wanted = name.toLowerCase()
  if (Object.hasOwn(headers, wanted)) return headers[wanted]
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value
  return undefined
}

export const pathParameter = (event: HttpEvent, name: string): string => {
  const value = event.pathParameters?.[name]
  if (value === undefined) throw new InvalidParameterError(name, 'is missing from the path')
  return value
}

export const queryParameters = (event: HttpEvent): Record<string, string> => {
  const query: Record<string, string> = {}
  for (const [key, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined) query[key] = value
  }
  return query
}

/**
 * For routes that take no query string (answers as `parseInput` with an empty strict schema
 * would, without loading a schema library into a function that has no other use for one).
 */
export const rejectQueryParameters = (event: HttpEvent): void => {
  const [first] = Object.keys(queryParameters(event))
  if (first !== undefined) throw new InvalidParameterError(first, 'is not a known field')
}

export const rawBody = (event: HttpEvent): string | undefined => {
  if (event.body === undefined || event.body === null || event.body === '') return undefined
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8')
  if (bytes.length > MAX_BODY_BYTES) throw new PayloadTooLargeError('request body', MAX_BODY_BYTES)
  return bytes.toString('utf8')
}

/**
 * The body as JSON (`undefined` when there is none); invalid JSON is a 400, and so is an object
 * naming a member twice (JSON.parse would keep the last silently: docs/decisions.md).
 */
export const jsonBody = (event: HttpEvent): unknown => {
  const text = rawBody(event)
  if (text === undefined) return undefined
  let body: unknown
  try {
    body = JSON.parse(text) as unknown
  } catch {
    throw new InvalidParameterError('body', 'is not valid JSON')
  }
  const duplicate = duplicateMember(text)
  if (duplicate !== undefined)
    throw new InvalidParameterError(duplicate, 'is given twice; a member may appear once')
  return body
}

/**
 * The workload token from `Authorization`: the raw token (what the SDK container provider
 * sends, the token file's content verbatim) or `Bearer <token>`.
 */
export const workloadToken = (event: HttpEvent): string | undefined => {
  const value = header(event, 'authorization')?.trim()
  if (!value) return undefined
  // The scheme alone is matched: the token after it can be 16 KiB.
  const bearer = /^Bearer\s+/i.exec(value)
  return bearer ? value.slice(bearer[0].length) : value
}

/** `Authorization: Bearer <token>`, the token alone; anything else (a raw token too) is none. */
export const bearerToken = (event: HttpEvent): string | undefined => {
  const value = header(event, 'authorization')?.trim()
  const bearer = value ? /^Bearer\s+/i.exec(value) : null
  return bearer && value ? value.slice(bearer[0].length) : undefined
}

export const requestIdOf = (event: HttpEvent): string => event.requestContext?.requestId ?? 'unknown'
