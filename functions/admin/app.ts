// The admin API: issuers, bindings and `explain`, dispatched by the HTTP API route key.
import * as z from 'zod/mini'
import type { BrokerSettings } from '../../shared/config.js'
import { NotFoundError, NotHomeRegionError } from '../../shared/core/errors.js'
import { explain } from '../../shared/core/exchange-trace.js'
import type { AdminRegistry } from '../../shared/core/ports.js'
import { explainBodySchema, parseInput } from '../../shared/core/schemas.js'
import type { AdminAuthenticator } from '../../shared/http/admin-auth.js'
import {
  type HttpEvent,
  header,
  jsonBody,
  pathParameter,
  queryParameters,
  requestIdOf,
} from '../../shared/http/event.js'
import { httpFunction } from '../../shared/http/middleware.js'
import { PATHS } from '../../shared/http/paths.js'
import { type HttpResponse, json, noContent } from '../../shared/http/response.js'
import { type Adapters, type Core, createAdminCore } from '../../shared/wiring.js'
import { withoutSigningOrSts } from '../../shared/without-signing-or-sts.js'

const noQuery = z.strictObject({})
/** A list route's query (shared/core/pagination.ts checks the values, naming the parameter). */
const listQuery = z.strictObject({ limit: z.optional(z.string()), nextToken: z.optional(z.string()) })
const deleteQuery = z.strictObject({
  version: z.optional(
    z.pipe(
      z.string().check(z.regex(/^[1-9][0-9]{0,15}$/, 'must be a positive integer')),
      z.transform(Number),
    ),
  ),
  cascade: z.optional(
    z.pipe(
      z.enum(['true', 'false']),
      z.transform((value) => value === 'true'),
    ),
  ),
})

const historyQuery = z.strictObject({
  issuerId: z.optional(z.string()),
  since: z.optional(z.string()),
  limit: z.optional(z.string()),
  nextToken: z.optional(z.string()),
})

/** Routes that take a query string besides the deletes (which take `version`, `cascade`). */
const WITH_QUERY = new Set([
  `GET ${PATHS.issuers}`,
  `GET ${PATHS.bindings}`,
  `GET ${PATHS.revocations}`,
  `GET ${PATHS.history}`,
])

const etag = (version: number) => ({ etag: `"${version}"` })

export interface AdminHandlerDeps extends Pick<Core, 'admin' | 'exchange' | 'logger' | 'history'> {
  authenticate: AdminAuthenticator
  /**
   * Where this function runs and the home Region of its stage. Outside the home Region of a
   * multi-Region stage every admin write is refused (docs/multi-region.md); without a home
   * Region (single-Region stages, local mode by default) every write is taken.
   */
  regions?: { region: string; homeRegion?: string | undefined }
}

/**
 * The admin routes that change nothing in the registry, whatever their method: `explain`
 * evaluates a token, `refresh` refetches an issuer's remote keys into this process's cache.
 * Every other route but a GET writes, including routes added later: refused by default.
 */
const READS_BY_POST = new Set([`POST ${PATHS.explain}`, `POST ${PATHS.issuerRefresh}`])

export const writesRegistry = (routeKey: string): boolean =>
  !routeKey.startsWith('GET ') && !READS_BY_POST.has(routeKey)

export const createAdminHandler = (deps: AdminHandlerDeps) => {
  const { admin, exchange } = deps

  const routes: Record<string, (event: HttpEvent, actor: string) => Promise<HttpResponse>> = {
    'GET /v1/admin/issuers': async (event) =>
      json(200, await admin.listIssuersPage(parseInput(listQuery, queryParameters(event)))),
    'GET /v1/admin/issuers/{issuerId}': async (event) => {
      const issuer = await admin.getIssuer(pathParameter(event, 'issuerId'))
      return json(200, issuer, etag(issuer.version))
    },
    'PUT /v1/admin/issuers/{issuerId}': async (event, actor) => {
      const { object, created } = await admin.putIssuer(pathParameter(event, 'issuerId'), jsonBody(event), {
        actor,
        requestId: requestIdOf(event),
        ifMatch: header(event, 'if-match'),
      })
      return json(created ? 201 : 200, object, etag(object.version))
    },
    'DELETE /v1/admin/issuers/{issuerId}': async (event, actor) => {
      const query = parseInput(deleteQuery, queryParameters(event))
      const issuerId = pathParameter(event, 'issuerId')
      const outcome = await admin.deleteIssuer(
        issuerId,
        { version: query.version, cascade: query.cascade ?? false },
        { actor, requestId: requestIdOf(event), ifMatch: header(event, 'if-match') },
      )
      // The issuer is gone either way; 202 says its bindings' items are still being cleared.
      return outcome.done ? noContent() : json(202, { issuerId, ...outcome })
    },
    'POST /v1/admin/issuers/{issuerId}/refresh': async (event, actor) =>
      json(
        200,
        await admin.refreshIssuerKeys(pathParameter(event, 'issuerId'), {
          actor,
          requestId: requestIdOf(event),
        }),
      ),
    'GET /v1/admin/issuers/{issuerId}/bindings': async (event) =>
      json(
        200,
        await admin.listBindingsPage(
          pathParameter(event, 'issuerId'),
          parseInput(listQuery, queryParameters(event)),
        ),
      ),
    'GET /v1/admin/issuers/{issuerId}/bindings/{bindingId}': async (event) => {
      const binding = await admin.getBinding(
        pathParameter(event, 'issuerId'),
        pathParameter(event, 'bindingId'),
      )
      return json(200, binding, etag(binding.version))
    },
    'PUT /v1/admin/issuers/{issuerId}/bindings/{bindingId}': async (event, actor) => {
      const { object, created } = await admin.putBinding(
        pathParameter(event, 'issuerId'),
        pathParameter(event, 'bindingId'),
        jsonBody(event),
        { actor, requestId: requestIdOf(event), ifMatch: header(event, 'if-match') },
      )
      return json(created ? 201 : 200, object, etag(object.version))
    },
    'DELETE /v1/admin/issuers/{issuerId}/bindings/{bindingId}': async (event, actor) => {
      const query = parseInput(z.omit(deleteQuery, { cascade: true }), queryParameters(event))
      await admin.deleteBinding(
        pathParameter(event, 'issuerId'),
        pathParameter(event, 'bindingId'),
        { version: query.version },
        { actor, requestId: requestIdOf(event), ifMatch: header(event, 'if-match') },
      )
      return noContent()
    },
    'POST /v1/admin/issuers/{issuerId}/revocations': async (event, actor) => {
      const { object, created } = await admin.addRevocation(
        pathParameter(event, 'issuerId'),
        jsonBody(event),
        {
          actor,
          requestId: requestIdOf(event),
        },
      )
      return json(created ? 201 : 200, object)
    },
    'GET /v1/admin/issuers/{issuerId}/revocations': async (event) =>
      json(
        200,
        await admin.listRevocations(
          pathParameter(event, 'issuerId'),
          parseInput(listQuery, queryParameters(event)),
        ),
      ),
    'DELETE /v1/admin/issuers/{issuerId}/revocations/{revocationId}': async (event, actor) => {
      parseInput(noQuery, queryParameters(event))
      await admin.liftRevocation(pathParameter(event, 'issuerId'), pathParameter(event, 'revocationId'), {
        actor,
        requestId: requestIdOf(event),
      })
      return noContent()
    },
    'GET /v1/admin/history': async (event) => {
      const query = parseInput(historyQuery, queryParameters(event))
      if (!deps.history) throw new NotFoundError('This broker keeps no admin history.')
      return json(200, await deps.history.read(query))
    },
    'POST /v1/admin/explain': async (event) => {
      const body = parseInput(explainBodySchema, jsonBody(event) ?? {})
      return json(200, await explain(exchange, body))
    },
  }

  const { region = 'unknown', homeRegion } = deps.regions ?? {}
  const readOnlyIn = homeRegion !== undefined && region !== homeRegion ? { region, homeRegion } : undefined

  return httpFunction(deps.logger, async (event) => {
    const route = routes[event.routeKey]
    if (!route) throw new NotFoundError('No such admin route.')
    const actor = deps.authenticate(event)
    if (readOnlyIn && writesRegistry(event.routeKey))
      throw new NotHomeRegionError(readOnlyIn.region, readOnlyIn.homeRegion)
    if (!event.routeKey.startsWith('DELETE ') && !WITH_QUERY.has(event.routeKey))
      parseInput(noQuery, queryParameters(event))
    return route(event, actor)
  })
}

/**
 * The admin function from its adapters: registry reads and writes, issuers' remote keys and
 * `explain`, which returns the trace without signing or calling STS (so it is given neither).
 * `authenticate` names the actor: AWS_IAM in AWS, the admin token locally. Built here by its
 * Lambda root (handler.ts) and by the local stack alike.
 */
export const buildAdminFunction = (
  adapters: Omit<Adapters, 'sts' | 'signer'> & { registry: AdminRegistry; authenticate: AdminAuthenticator },
  settings: BrokerSettings,
) => {
  const { authenticate, ...rest } = adapters
  const core = createAdminCore({ ...rest, ...withoutSigningOrSts }, settings)
  return {
    handler: createAdminHandler({
      ...core,
      authenticate,
      regions: { region: settings.region, homeRegion: settings.homeRegion },
    }),
    core,
  }
}
