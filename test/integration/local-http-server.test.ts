// The local HTTP front on a loopback port, with the real discovery function behind it: /healthz
// answers like API Gateway would route it, and a known path asked with another method is a 405
// with its own wire code and the methods the path serves, not a malformed-request 400 code.
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDiscoveryHandler } from '../../functions/discovery/app.js'
import { ROUTES } from '../../functions/routes.js'
import { createLocalHttpServer, type FunctionTable } from '../../infra/local/http-server.js'
import { WIRE_STATUS } from '../../shared/core/errors.js'
import type { Logger, Signer } from '../../shared/core/ports.js'
import { PATHS } from '../../shared/http/paths.js'

const quietLogger: Logger = { info: () => {}, warn: () => {}, error: () => {}, metric: () => {} }
const unusedSigner: Signer = {
  algorithm: 'RS256',
  keyId: async () => 'unused',
  sign: async () => {
    throw new Error('not signing in this test')
  },
  publicJwks: async () => ({ keys: [] }),
}
const notCalled = async () => {
  throw new Error('only the discovery function is called in this test')
}

const server = createLocalHttpServer(
  (): FunctionTable => ({
    discovery: createDiscoveryHandler({
      signer: unusedSigner,
      logger: quietLogger,
      issuerUrl: 'http://127.0.0.1:8787',
    }),
    credentials: notCalled,
    roles: notCalled,
    admin: notCalled,
    keys: notCalled,
  }),
)
let base = ''

beforeAll(async () => {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((done) => server.close(() => done())))

describe('the local server', () => {
  it('routes GET /healthz (a route of the table, so of serverless.yml too) to an uncached 200 {"status":"ok"}', async () => {
    // Act
    const response = await fetch(`${base}/healthz`)
    // Assess
    expect(ROUTES).toContainEqual({ method: 'GET', path: PATHS.healthz, function: 'discovery' })
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await response.json()).toEqual({ status: 'ok' })
  })

  it.each([
    ['DELETE', '/v1/roles', 'GET'],
    ['PATCH', '/v1/credentials', 'GET, POST'],
    ['POST', '/v1/admin/issuers/onprem-a', 'PUT, GET, DELETE'],
  ])('answers %s %s with 405 MethodNotAllowed and Allow: %s', async (method, path, allow) => {
    // Act
    const response = await fetch(`${base}${path}`, { method })
    const body = (await response.json()) as { error: { code: string; message: string } }
    // Assess
    expect(response.status).toBe(405)
    expect(WIRE_STATUS.MethodNotAllowed).toBe(405)
    expect(response.headers.get('allow')).toBe(allow)
    expect(body.error).toMatchObject({
      code: 'MethodNotAllowed',
      message: `${method} is not served on this path.`,
    })
  })

  it('still answers an unknown path with 404 NotFound', async () => {
    const response = await fetch(`${base}/v1/nothing`)
    expect(response.status).toBe(404)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('NotFound')
  })
})
