import { describe, expect, it } from 'vitest'
import { UnauthorizedError } from '../../../shared/core/errors.js'
import {
  iamAdminAuthenticator,
  LOCAL_ADMIN_ACTOR,
  tokenAdminAuthenticator,
} from '../../../shared/http/admin-auth.js'
import { thrownBy } from '../fixtures.js'
import { httpEvent } from './http-event.js'

const ADMIN_TOKEN = 'a-local-admin-token-of-32-chars!'

describe('tokenAdminAuthenticator', () => {
  const authenticate = tokenAdminAuthenticator(ADMIN_TOKEN)

  it.each([`Bearer ${ADMIN_TOKEN}`, `bearer ${ADMIN_TOKEN}`, `Bearer  ${ADMIN_TOKEN} `])(
    'accepts the admin token as %j and names the local admin as actor',
    (authorization) => {
      // Act
      const actor = authenticate(httpEvent({ headers: { authorization } }))
      // Assess
      expect(actor).toBe(LOCAL_ADMIN_ACTOR)
    },
  )

  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer not-the-admin-token-at-all' }],
    ['the token without Bearer', { authorization: ADMIN_TOKEN }],
    ['a prefix of the token', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` }],
    ['the token with extra characters', { authorization: `Bearer ${ADMIN_TOKEN}x` }],
    [
      'Basic authentication',
      { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` },
    ],
    ['an empty Bearer', { authorization: 'Bearer ' }],
  ])('refuses %s with 401 Unauthorized', (_label, headers) => {
    // Act
    const error = thrownBy(() => authenticate(httpEvent({ headers })))
    // Assess
    expect(error).toBeInstanceOf(UnauthorizedError)
    expect(error).toMatchObject({ code: 'Unauthorized', statusCode: 401 })
  })
})

describe('iamAdminAuthenticator', () => {
  it("names the caller's IAM ARN as actor", () => {
    // Act
    const actor = iamAdminAuthenticator(httpEvent({ userArn: 'arn:aws:iam::111122223333:user/alice' }))
    // Assess
    expect(actor).toBe('arn:aws:iam::111122223333:user/alice')
  })

  it('refuses a request without an IAM identity', () => {
    // Act
    const error = thrownBy(() => iamAdminAuthenticator(httpEvent()))
    // Assess
    expect(error).toMatchObject({ code: 'Unauthorized', reason: 'iam_identity_missing' })
  })
})
