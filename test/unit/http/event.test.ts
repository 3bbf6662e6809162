import { describe, expect, it } from 'vitest'
import * as z from 'zod'
import { parseInput } from '../../../shared/core/schemas.js'
import { readUnverifiedToken } from '../../../shared/core/verify.js'
import {
  header,
  jsonBody,
  MAX_BODY_BYTES,
  pathParameter,
  queryParameters,
  rawBody,
  rejectQueryParameters,
  requestIdOf,
  workloadToken,
} from '../../../shared/http/event.js'
import { thrownBy } from '../fixtures.js'
import { httpEvent } from './http-event.js'

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln'

describe('workloadToken', () => {
  it('takes the raw token, as the SDK container provider sends the token file', () => {
    // Act
    const token = workloadToken(httpEvent({ headers: { authorization: TOKEN } }))
    // Assess
    expect(token).toBe(TOKEN)
  })

  it.each([`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER   ${TOKEN}`])('takes the token from %j', (value) => {
    // Act
    const token = workloadToken(httpEvent({ headers: { authorization: value } }))
    // Assess
    expect(token).toBe(TOKEN)
  })

  it('trims the newline a token file usually ends with', () => {
    // Act
    const token = workloadToken(httpEvent({ headers: { authorization: `${TOKEN}\n` } }))
    // Assess
    expect(token).toBe(TOKEN)
  })

  it('reads the header whatever its case', () => {
    // Act
    const token = workloadToken(httpEvent({ headers: { Authorization: TOKEN } }))
    // Assess
    expect(token).toBe(TOKEN)
  })

  it.each([
    ['no header', {}],
    ['an empty header', { authorization: '' }],
    ['a blank header', { authorization: '   ' }],
  ])('answers undefined for %s', (_label, headers) => {
    // Act
    const token = workloadToken(httpEvent({ headers }))
    // Assess
    expect(token).toBeUndefined()
  })

  it('yields nothing the exchange could take for a token from a bare Bearer prefix', () => {
    // Act
    const token = workloadToken(httpEvent({ headers: { authorization: 'Bearer ' } }))
    const error = thrownBy(() => readUnverifiedToken(token))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', statusCode: 401 })
  })
})

describe('header, query, path and request id', () => {
  it('finds a header case-insensitively', () => {
    // Act
    const value = header(httpEvent({ headers: { 'If-Match': '"3"' } }), 'if-match')
    // Assess
    expect(value).toBe('"3"')
  })

  it('answers undefined for an absent header', () => {
    // Act
    const value = header(httpEvent(), 'if-match')
    // Assess
    expect(value).toBeUndefined()
  })

  it('returns the query parameters, or none', () => {
    // Act
    const query = queryParameters(httpEvent({ query: { role: 'ml-reader' } }))
    const none = queryParameters(httpEvent())
    // Assess
    expect(query).toEqual({ role: 'ml-reader' })
    expect(none).toEqual({})
  })

  it('refuses any query parameter where none is taken, naming the first as an empty strict schema would', () => {
    // Prepare
    const event = httpEvent({ query: { debug: '1', role: 'x' } })
    // Act
    const error = thrownBy(() => rejectQueryParameters(event))
    const bySchema = thrownBy(() => parseInput(z.strictObject({}), queryParameters(event)))
    // Assess
    expect(() => rejectQueryParameters(httpEvent())).not.toThrow()
    expect(error).toMatchObject({
      code: 'InvalidParameterValue',
      field: 'debug',
      message: 'debug: is not a known field',
    })
    expect(error).toEqual(bySchema)
  })

  it('returns a path parameter and refuses a missing one naming it', () => {
    // Prepare
    const event = httpEvent({ pathParameters: { issuerId: 'onprem-a' } })
    // Act
    const value = pathParameter(event, 'issuerId')
    const error = thrownBy(() => pathParameter(event, 'bindingId'))
    // Assess
    expect(value).toBe('onprem-a')
    expect(error).toMatchObject({ code: 'InvalidParameterValue', field: 'bindingId' })
  })

  it('reads the request id, with a fallback', () => {
    // Act
    const id = requestIdOf(httpEvent({ requestId: 'abc' }))
    // Assess
    expect(id).toBe('abc')
    expect(requestIdOf({ ...httpEvent(), requestContext: undefined } as never)).toBe('unknown')
  })
})

describe('jsonBody and rawBody', () => {
  it('parses a JSON body', () => {
    // Act
    const body = jsonBody(httpEvent({ body: '{"role":"ml-reader"}' }))
    // Assess
    expect(body).toEqual({ role: 'ml-reader' })
  })

  it('decodes a base64 body', () => {
    // Act
    const body = jsonBody(
      httpEvent({ body: Buffer.from('{"durationSeconds":900}').toString('base64'), isBase64Encoded: true }),
    )
    // Assess
    expect(body).toEqual({ durationSeconds: 900 })
  })

  it('answers undefined without a body', () => {
    // Act
    const none = jsonBody(httpEvent())
    const empty = jsonBody(httpEvent({ body: '' }))
    // Assess
    expect(none).toBeUndefined()
    expect(empty).toBeUndefined()
  })

  it('refuses invalid JSON with a 400 naming the body', () => {
    // Act
    const error = thrownBy(() => jsonBody(httpEvent({ body: '{role:' })))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', statusCode: 400, field: 'body' })
  })

  it('refuses a body over 64 KiB with 413', () => {
    // Act
    const error = thrownBy(() => rawBody(httpEvent({ body: 'x'.repeat(MAX_BODY_BYTES + 1) })))
    // Assess
    expect(error).toMatchObject({ code: 'PayloadTooLarge', statusCode: 413 })
  })

  it('measures a base64 body by its decoded size', () => {
    // Prepare
    const decoded = Buffer.alloc(MAX_BODY_BYTES, 0x20)
    // Act
    const text = rawBody(httpEvent({ body: decoded.toString('base64'), isBase64Encoded: true }))
    // Assess
    expect(text).toHaveLength(MAX_BODY_BYTES)
  })
})
