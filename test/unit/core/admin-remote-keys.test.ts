// The admin plane with remote key sets: registration by `jwksUri` or `discovery` fetches and
// checks now (400 with the reason when it cannot), and the refresh reports the kids held.
import { describe, expect, it } from 'vitest'
import { type AdminDeps, createAdmin, type WriteContext } from '../../../shared/core/admin.js'
import { IdentityProviderUnavailableError } from '../../../shared/core/errors.js'
import type { Issuer } from '../../../shared/core/model.js'
import { KeyFetchError, type KeySetStatus } from '../../../shared/core/remote-keys.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createAuditLog, createTestClock, generateRsaKey, rejectionOf } from '../fixtures.js'

const key = await generateRsaKey('inline-1')
const ISSUER = 'https://container.googleapis.com/v1/projects/p/locations/l/clusters/c'
const JWKS_URL = 'https://oidc.example.com/keys'
const alice: WriteContext = { actor: 'arn:aws:iam::111122223333:user/alice', requestId: 'req-1' }

/** A key-set source that records what it was asked for and answers as scripted. */
const createKeySets = () => {
  const asked: Issuer[] = []
  let failure: unknown
  const status = (issuer: Issuer): KeySetStatus => ({
    issuerId: issuer.issuerId,
    source: issuer.jwksUri ? 'jwksUri' : 'discovery',
    jwksUri: issuer.jwksUri ?? `${ISSUER}/jwks`,
    kids: ['remote-1', 'remote-2'],
    keyCount: 2,
    fetchedAt: '2031-05-04T12:00:00.000Z',
  })
  return {
    asked,
    keySets: {
      refresh: async (issuer: Issuer) => {
        asked.push(issuer)
        if (failure !== undefined) throw failure
        return status(issuer)
      },
    },
    failWith: (error: unknown) => {
      failure = error
    },
  }
}

const setup = (options: { withKeySets?: boolean } = {}) => {
  const registry = createMemoryRegistry()
  const audit = createAuditLog()
  const source = createKeySets()
  let changes = 0
  const deps: AdminDeps = {
    registry,
    clock: createTestClock(),
    audit: audit.sink,
    onChange: () => {
      changes++
    },
    ...(options.withKeySets === false ? {} : { keySets: source.keySets }),
  }
  return { admin: createAdmin(deps), registry, audit, source, changes: () => changes }
}

describe('admin: registering issuers with remote keys', () => {
  it('registers by jwksUri after fetching the keys, and stores the URL without inline keys', async () => {
    // Prepare
    const { admin, registry, source } = setup()
    // Act
    const { object, created } = await admin.putIssuer(
      'gke',
      { issuer: ISSUER, audiences: ['irsa-broker'], jwksUri: JWKS_URL },
      alice,
    )
    // Assess
    expect(created).toBe(true)
    expect(source.asked).toHaveLength(1)
    expect(source.asked[0]).toMatchObject({ issuerId: 'gke', issuer: ISSUER, jwksUri: JWKS_URL })
    expect(object).not.toHaveProperty('jwks')
    expect(await registry.getIssuer('gke')).toEqual(object)
  })

  it('registers by discovery after fetching the keys', async () => {
    // Prepare
    const { admin, source } = setup()
    // Act
    const { object } = await admin.putIssuer(
      'gke',
      { issuer: ISSUER, audiences: ['irsa-broker'], discovery: true },
      alice,
    )
    // Assess
    expect(object).toMatchObject({ discovery: true })
    expect(source.asked.map((issuer) => issuer.discovery)).toEqual([true])
  })

  it('does not fetch anything for inline keys', async () => {
    // Prepare
    const { admin, source } = setup()
    // Act
    await admin.putIssuer(
      'onprem',
      { issuer: ISSUER, audiences: ['irsa-broker'], jwks: { keys: [key.jwk] } },
      alice,
    )
    // Assess
    expect(source.asked).toEqual([])
  })

  it('answers 400 naming jwksUri and the reason when the keys cannot be fetched, and stores nothing', async () => {
    // Prepare
    const { admin, registry, audit, source, changes } = setup()
    source.failWith(
      new KeyFetchError(
        'address_refused',
        `${JWKS_URL}: oidc.example.com resolves to a private address, which is refused`,
      ),
    )
    // Act
    const error = await rejectionOf(
      admin.putIssuer('gke', { issuer: ISSUER, audiences: ['irsa-broker'], jwksUri: JWKS_URL }, alice),
    )
    // Assess
    expect(error).toMatchObject({
      code: 'InvalidParameterValue',
      statusCode: 400,
      field: 'jwksUri',
      reason: 'jwks_fetch_address_refused',
      message: `jwksUri: the keys could not be fetched: ${JWKS_URL}: oidc.example.com resolves to a private address, which is refused`,
    })
    expect(await registry.getIssuer('gke')).toBeUndefined()
    expect(audit.records).toEqual([])
    expect(changes()).toBe(0)
  })

  it('answers 400 naming discovery when discovery fails', async () => {
    // Prepare
    const { admin, source } = setup()
    source.failWith(new KeyFetchError('discovery_issuer_mismatch', 'names another issuer'))
    // Act
    const error = await rejectionOf(
      admin.putIssuer('gke', { issuer: ISSUER, audiences: ['irsa-broker'], discovery: true }, alice),
    )
    // Assess
    expect(error).toMatchObject({ field: 'discovery', reason: 'jwks_fetch_discovery_issuer_mismatch' })
  })

  it('refuses remote keys with 400 when the broker has no key fetcher', async () => {
    // Prepare
    const { admin } = setup({ withKeySets: false })
    // Act
    const error = await rejectionOf(
      admin.putIssuer('gke', { issuer: ISSUER, audiences: ['irsa-broker'], jwksUri: JWKS_URL }, alice),
    )
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', field: 'jwksUri' })
  })

  it('lets an unexpected failure of the fetcher through instead of calling it a bad parameter', async () => {
    // Prepare
    const { admin, source } = setup()
    const bug = new TypeError('a bug')
    source.failWith(bug)
    // Act
    const thrown = await admin
      .putIssuer('gke', { issuer: ISSUER, audiences: ['irsa-broker'], jwksUri: JWKS_URL }, alice)
      .catch((error: unknown) => error)
    // Assess
    expect(thrown).toBe(bug)
  })

  it('switches an issuer from inline keys to a jwksUri on update, dropping the inline keys', async () => {
    // Prepare
    const { admin, registry } = setup()
    await admin.putIssuer(
      'gke',
      { issuer: ISSUER, audiences: ['irsa-broker'], jwks: { keys: [key.jwk] } },
      alice,
    )
    // Act
    await admin.putIssuer(
      'gke',
      { issuer: ISSUER, audiences: ['irsa-broker'], jwksUri: JWKS_URL, version: 1 },
      alice,
    )
    // Assess
    const stored = await registry.getIssuer('gke')
    expect(stored).toMatchObject({ version: 2, jwksUri: JWKS_URL })
    expect(stored).not.toHaveProperty('jwks')
  })
})

describe('admin: refreshing an issuer’s keys', () => {
  it('refetches a remote key set and reports the kids held, with an audit record', async () => {
    // Prepare
    const { admin, audit, source } = setup()
    await admin.putIssuer('gke', { issuer: ISSUER, audiences: ['irsa-broker'], jwksUri: JWKS_URL }, alice)
    audit.records.length = 0
    // Act
    const status = await admin.refreshIssuerKeys('gke', alice)
    // Assess
    expect(status).toEqual({
      issuerId: 'gke',
      source: 'jwksUri',
      jwksUri: JWKS_URL,
      kids: ['remote-1', 'remote-2'],
      keyCount: 2,
      fetchedAt: '2031-05-04T12:00:00.000Z',
    })
    expect(source.asked).toHaveLength(2)
    expect(audit.records).toEqual([
      {
        type: 'audit',
        event: 'admin.issuer.refresh',
        actor: alice.actor,
        requestId: 'req-1',
        issuerId: 'gke',
        outcome: 'fetched',
        keyCount: 2,
      },
    ])
  })

  it('answers 503 IDPCommunicationError with the reason when the refetch fails, audited', async () => {
    // Prepare
    const { admin, audit, source } = setup()
    await admin.putIssuer('gke', { issuer: ISSUER, audiences: ['irsa-broker'], jwksUri: JWKS_URL }, alice)
    source.failWith(new KeyFetchError('timeout', `${JWKS_URL}: no complete answer within 3000 ms`))
    // Act
    const error = await rejectionOf(admin.refreshIssuerKeys('gke', alice))
    // Assess
    expect(error).toBeInstanceOf(IdentityProviderUnavailableError)
    expect(error).toMatchObject({ statusCode: 503, retryAfterSeconds: 1 })
    expect(error.message).toBe(
      `A dependency of the broker is unavailable (jwks: ${JWKS_URL}: no complete answer within 3000 ms; the keys held before stay in use while they last); retry later.`,
    )
    expect(audit.records.at(-1)).toMatchObject({
      event: 'admin.issuer.refresh',
      outcome: 'failed',
      code: 'timeout',
    })
  })

  it('reports inline keys as they are, without fetching', async () => {
    // Prepare
    const { admin, source } = setup()
    await admin.putIssuer(
      'onprem',
      {
        issuer: ISSUER,
        audiences: ['irsa-broker'],
        jwks: { keys: [key.jwk, { ...key.jwk, kid: undefined }] },
      },
      alice,
    )
    // Act
    const status = await admin.refreshIssuerKeys('onprem', alice)
    // Assess
    expect(status).toEqual({ issuerId: 'onprem', source: 'inline', kids: ['inline-1'], keyCount: 2 })
    expect(source.asked).toEqual([])
  })

  it('answers 404 for an issuer that does not exist', async () => {
    // Prepare
    const { admin } = setup()
    // Act
    const error = await rejectionOf(admin.refreshIssuerKeys('missing', alice))
    // Assess
    expect(error).toMatchObject({ code: 'NotFound', statusCode: 404 })
  })
})
