// The admin function of a multi-Region stage outside its home Region (docs/multi-region.md):
// every route that writes the registry is refused with 421 NotHomeRegion before the admin core
// is called, reads and `explain` go through, and the caller is authenticated first.
import type { Context } from 'aws-lambda'
import { describe, expect, it } from 'vitest'
import { type AdminHandlerDeps, createAdminHandler, writesRegistry } from '../../../functions/admin/app.js'
import { ROUTES, routeKey } from '../../../functions/routes.js'
import { createJsonLogger } from '../../../shared/adapters/json-logger.js'
import { UnauthorizedError } from '../../../shared/core/errors.js'
import type { HttpEvent } from '../../../shared/http/event.js'
import type { HttpResponse } from '../../../shared/http/response.js'
import { httpEvent } from './http-event.js'

const ADMIN_ROUTES = ROUTES.filter((route) => route.admin)

/** An admin core that records which of its methods a request reached, and answers nothing useful. */
const recordingDeps = (regions: AdminHandlerDeps['regions']) => {
  const reached: string[] = []
  const recorder = new Proxy(
    {},
    {
      get: (_, name) => async () => {
        reached.push(String(name))
        return { object: { version: 1 }, created: true, version: 1 }
      },
    },
  )
  const deps = {
    admin: recorder,
    exchange: recorder,
    history: recorder,
    logger: createJsonLogger(() => undefined),
    authenticate: (event: HttpEvent) => {
      if (event.headers.authorization !== 'Bearer admin') throw new UnauthorizedError()
      return 'arn:aws:iam::111122223333:role/admin'
    },
    ...(regions ? { regions } : {}),
  } as unknown as AdminHandlerDeps
  return { deps, reached }
}

const eventFor = (route: (typeof ADMIN_ROUTES)[number], authorization = 'Bearer admin'): HttpEvent =>
  httpEvent({
    method: route.method,
    path: route.path,
    headers: { authorization, 'content-type': 'application/json' },
    pathParameters: { issuerId: 'onprem', bindingId: 'readers', revocationId: 'rAAAAAAAAAAAAAAAA' },
    body: JSON.stringify(route.path.endsWith('/explain') ? { token: 'x.y.z' } : {}),
  })

const send = async (handler: ReturnType<typeof createAdminHandler>, event: HttpEvent) =>
  (await handler(event, {} as Context)) as HttpResponse

describe('admin writes outside the home Region', () => {
  it('counts every admin route but GET, explain and refresh as a registry write', () => {
    // Act
    const writes = ADMIN_ROUTES.filter((route) => writesRegistry(routeKey(route))).map(routeKey)

    // Assess
    expect(writes.sort()).toEqual(
      [
        'PUT /v1/admin/issuers/{issuerId}',
        'DELETE /v1/admin/issuers/{issuerId}',
        'PUT /v1/admin/issuers/{issuerId}/bindings/{bindingId}',
        'DELETE /v1/admin/issuers/{issuerId}/bindings/{bindingId}',
        'POST /v1/admin/issuers/{issuerId}/revocations',
        'DELETE /v1/admin/issuers/{issuerId}/revocations/{revocationId}',
      ].sort(),
    )
    // A route added later that is not a GET is a write until said otherwise.
    expect(writesRegistry('POST /v1/admin/issuers/{issuerId}/history-notes')).toBe(true)
  })

  it.each(ADMIN_ROUTES.filter((route) => writesRegistry(routeKey(route))).map(routeKey))(
    'refuses %s with 421 NotHomeRegion in eu-west-1 of a stage at home in us-east-1, before the admin core',
    async (key) => {
      // Prepare
      const route = ADMIN_ROUTES.find((candidate) => routeKey(candidate) === key)
      if (!route) throw new Error(key)
      const { deps, reached } = recordingDeps({ region: 'eu-west-1', homeRegion: 'us-east-1' })

      // Act
      const response = await send(createAdminHandler(deps), eventFor(route))

      // Assess
      expect(response.statusCode).toBe(421)
      expect(JSON.parse(String(response.body)).error).toMatchObject({
        code: 'NotHomeRegion',
        message:
          'This Region (eu-west-1) serves admin reads only; send admin writes to the home Region, us-east-1.',
      })
      expect(reached).toEqual([])
    },
  )

  it('lets reads, explain and refresh through in eu-west-1, and every route in the home Region and in a single-Region stage', async () => {
    // Prepare
    const elsewhere = recordingDeps({ region: 'eu-west-1', homeRegion: 'us-east-1' })
    const home = recordingDeps({ region: 'us-east-1', homeRegion: 'us-east-1' })
    const single = recordingDeps(undefined)
    const reads = ADMIN_ROUTES.filter((route) => !writesRegistry(routeKey(route)))

    // Act
    for (const route of reads) await send(createAdminHandler(elsewhere.deps), eventFor(route))
    for (const route of ADMIN_ROUTES) await send(createAdminHandler(home.deps), eventFor(route))
    for (const route of ADMIN_ROUTES) await send(createAdminHandler(single.deps), eventFor(route))

    // Assess: every request reached the admin core (or explain) once
    expect(elsewhere.reached).toHaveLength(reads.length)
    expect(home.reached).toHaveLength(ADMIN_ROUTES.length)
    expect(single.reached).toHaveLength(ADMIN_ROUTES.length)
  })

  it('authenticates first: an unauthenticated write in eu-west-1 is a 401, not a 421', async () => {
    // Prepare
    const route = ADMIN_ROUTES.find((candidate) => candidate.method === 'PUT')
    if (!route) throw new Error('no PUT route')
    const { deps } = recordingDeps({ region: 'eu-west-1', homeRegion: 'us-east-1' })

    // Act
    const response = await send(createAdminHandler(deps), eventFor(route, 'Bearer someone-else'))

    // Assess
    expect(response.statusCode).toBe(401)
  })
})
