// The admin plane: register, read and remove issuers and bindings. Writes are optimistic
// (a version precondition, 409 when stale) and each change is an audit record.
import {
  ConflictError,
  IdentityProviderUnavailableError,
  InvalidParameterError,
  isBrokerError,
  NotFoundError,
} from './errors.js'
import type { History, WriteDescription } from './history.js'
import { isObject } from './json.js'
import { checkJwks } from './jwks.js'
import { hasRemoteKeys } from './keys.js'
import type { Binding, Issuer, ServerFields } from './model.js'
import { byCodeUnits } from './order.js'
import {
  decodeNextToken,
  encodeNextToken,
  type Page,
  type PageRequest,
  pageOf,
  parseLimit,
} from './pagination.js'
import { type InputOutput, type InputSchema, parseInput } from './parse-input.js'
import type { AdminRegistry, AuditSink, Clock } from './ports.js'
import { isKeyFetchError, type KeySetStatus, type RemoteKeyResolver } from './remote-keys.js'
import { MAX_REVOCATIONS_PER_ISSUER, type Revocation, revocationIdOf, withRevocation } from './revocations.js'
import { bindingDocumentSchema, issuerDocumentSchema, revocationDocumentSchema } from './schemas.js'

export interface AdminDeps {
  registry: AdminRegistry
  clock: Clock
  audit: AuditSink
  /** Called after every successful write, e.g. to drop this process's registry cache. */
  onChange?: () => void
  /** Fetches remote key sets (`jwksUri`, `discovery`); without it such issuers are refused. */
  keySets?: Pick<RemoteKeyResolver, 'refresh'>
  /** The admin history (history.ts): each write is made with its record. The deployed roots pass it. */
  history?: Pick<History, 'recorded'>
}

export interface WriteContext {
  actor: string
  requestId: string
  /** The version named by an `If-Match` header, if any. */
  ifMatch?: string | undefined
}

export interface WriteResult<T> {
  object: T
  created: boolean
}

/** The query of a list route: `limit` and `nextToken` as sent (pagination.ts checks them). */
export interface ListQuery {
  limit?: string | undefined
  nextToken?: string | undefined
}

/** The page a list query asks for, of the list `list` positioned by `field`; a bad one is a 400. */
const pageRequest = (list: string, field: string, query: ListQuery): PageRequest => ({
  limit: parseLimit(query.limit),
  ...(query.nextToken === undefined ? {} : { after: decodeNextToken(list, query.nextToken, [field]) }),
})

/**
 * One page of the list `list`, positioned by `field`: the query checked (a token of another list
 * is a 400 naming it) before `read` runs, and `nextToken` while more remain.
 */
const listPage = async <T>(
  list: string,
  field: string,
  query: ListQuery,
  read: (request: PageRequest) => Promise<Page<T>>,
): Promise<{ items: T[]; nextToken?: string }> => {
  const page = await read(pageRequest(list, field, query))
  return { items: page.items, ...(page.next ? { nextToken: encodeNextToken(list, page.next) } : {}) }
}

/** A `notBefore` further ahead is a typo more likely than a plan (it refuses the scope until then). */
const MAX_NOT_BEFORE_AHEAD_MS = 24 * 3600 * 1000

/** How often a revocation write rereads the issuer after another write moved its version. */
const REVOCATION_WRITE_ATTEMPTS = 3

const IF_MATCH = /^(?:W\/)?"?([1-9][0-9]{0,15})"?$/

/** The precondition a write names: body `version` and/or `If-Match`; both must agree. */
const expectedVersion = (
  bodyVersion: number | undefined,
  ifMatch: string | undefined,
): number | undefined => {
  let headerVersion: number | undefined
  if (ifMatch !== undefined) {
    const match = IF_MATCH.exec(ifMatch.trim())
    if (!match) throw new InvalidParameterError('If-Match', 'must be a quoted version like "3"')
    headerVersion = Number(match[1])
  }
  if (bodyVersion !== undefined && headerVersion !== undefined && bodyVersion !== headerVersion) {
    throw new InvalidParameterError('version', 'differs from the If-Match header')
  }
  return headerVersion ?? bodyVersion
}

const sameId = (field: string, fromBody: unknown, fromPath: string) => {
  if (fromBody !== undefined && fromBody !== fromPath)
    throw new InvalidParameterError(field, `must equal "${fromPath}" from the path`)
}

/**
 * An admin document: a JSON object first (a clear 400 for anything else), then its schema, then
 * the ids it names (if it names them) equal to the path's.
 */
const parseDocument = <S extends InputSchema>(
  schema: S,
  body: unknown,
  idsFromPath: Readonly<Record<string, string>>,
): InputOutput<S> => {
  if (!isObject(body)) throw new InvalidParameterError('', 'the body must be a JSON object')
  const doc = parseInput(schema, body)
  for (const [field, fromPath] of Object.entries(idsFromPath))
    sameId(field, (doc as Record<string, unknown>)[field], fromPath)
  return doc
}

/**
 * How long a cascade delete sweeps the bindings' items before it answers: well within the admin
 * function's 10 s timeout (serverless.yml). What is left is cleared by the same DELETE again.
 */
export const CASCADE_SWEEP_MS = 5_000

/** What a cascade delete did: `done` false while inert binding items are left to sweep. */
export interface DeleteOutcome {
  bindingsDeleted: number
  done: boolean
}

export const createAdmin = (deps: AdminDeps) => {
  const { registry } = deps

  const stamp = (previous: ServerFields | undefined, actor: string): ServerFields => {
    const now = deps.clock.now().toISOString()
    return {
      version: (previous?.version ?? 0) + 1,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
      updatedBy: actor,
    }
  }

  const changed = (record: Record<string, string | number | undefined>, context: WriteContext) => {
    deps.onChange?.()
    deps.audit({ type: 'audit', actor: context.actor, requestId: context.requestId, ...record })
  }

  /** One registry write, with its history record when a history is kept. */
  const recorded = (
    description: Omit<WriteDescription, 'actor' | 'requestId'>,
    context: WriteContext,
    write: () => Promise<void>,
  ): Promise<void> =>
    deps.history
      ? deps.history.recorded({ ...description, actor: context.actor, requestId: context.requestId }, write)
      : write()

  const requireIssuer = async (issuerId: string): Promise<Issuer> => {
    const issuer = await registry.getIssuer(issuerId)
    if (!issuer) throw new NotFoundError(`Issuer "${issuerId}" does not exist.`)
    return issuer
  }

  /** Reads the current object for an update, and turns a missing or stale one into 404/409. */
  const current = async <T extends ServerFields>(
    read: () => Promise<T | undefined>,
    expected: number | undefined,
    what: string,
  ): Promise<T | undefined> => {
    const existing = await read()
    if (expected === undefined) {
      if (existing)
        throw new ConflictError(`${what} exists already; send its "version" to update it.`, 'exists')
      return undefined
    }
    if (!existing) throw new NotFoundError(`${what} does not exist.`)
    if (existing.version !== expected)
      throw new ConflictError(`${what} is at version ${existing.version}, not ${expected}.`)
    return existing
  }

  const putIssuer = async (
    issuerId: string,
    body: unknown,
    context: WriteContext,
  ): Promise<WriteResult<Issuer>> => {
    const doc = parseDocument(issuerDocumentSchema, body, { issuerId })
    let jwks: Issuer['jwks']
    if (doc.jwks !== undefined) {
      const keys = await checkJwks(doc.jwks, doc.algorithms)
      if ('field' in keys)
        throw new InvalidParameterError(`jwks.${keys.field}`, keys.message, 'jwks_rejected')
      jwks = keys.jwks
    }
    const expected = expectedVersion(doc.version, context.ifMatch)
    const previous = await current(() => registry.getIssuer(issuerId), expected, `Issuer "${issuerId}"`)
    const {
      version: _v,
      createdAt: _c,
      updatedAt: _u,
      updatedBy: _b,
      keysPushedAt: _p,
      revocations: _r,
      jwks: _k,
      ...spec
    } = doc
    const issuer: Issuer = {
      ...spec,
      issuerId,
      ...(jwks ? { jwks } : {}),
      ...stamp(previous, context.actor),
      // The key push's rate limit (key-push.ts) outlives an admin's edit of the issuer.
      ...(previous?.keysPushedAt ? { keysPushedAt: previous.keysPushedAt } : {}),
      // Revocations have their own routes; a PUT of the issuer keeps them.
      ...(previous?.revocations ? { revocations: previous.revocations } : {}),
    }
    // Remote keys are fetched and checked now: a registration that cannot be used is refused.
    if (hasRemoteKeys(issuer)) await fetchForRegistration(issuer)
    await recorded({ issuerId, before: previous, after: issuer }, context, () =>
      registry.putIssuer(issuer, expected),
    )
    changed(
      { event: 'admin.issuer.put', issuerId, versionBefore: previous?.version, versionAfter: issuer.version },
      context,
    )
    return { object: issuer, created: previous === undefined }
  }

  const fetchForRegistration = async (issuer: Issuer): Promise<void> => {
    const field = issuer.jwksUri !== undefined ? 'jwksUri' : 'discovery'
    if (!deps.keySets) {
      throw new InvalidParameterError(
        field,
        'remote key sets are not available here',
        'jwks_fetch_unavailable',
      )
    }
    try {
      await deps.keySets.refresh(issuer)
    } catch (error) {
      if (!isKeyFetchError(error)) throw error
      throw new InvalidParameterError(
        field,
        `the keys could not be fetched: ${error.message}`,
        `jwks_fetch_${error.code}`,
      )
    }
  }

  /** Refetches a remote key set now and reports the kids held; inline keys are reported as they are. */
  const refreshIssuerKeys = async (issuerId: string, context: WriteContext): Promise<KeySetStatus> => {
    const issuer = await requireIssuer(issuerId)
    if (!hasRemoteKeys(issuer)) {
      const keys = issuer.jwks?.keys ?? []
      return {
        issuerId,
        source: 'inline',
        kids: keys.flatMap((key) => (typeof key.kid === 'string' ? [key.kid] : [])),
        keyCount: keys.length,
      }
    }
    if (!deps.keySets)
      throw new IdentityProviderUnavailableError('jwks', { detail: 'no key fetcher is configured' })
    const auditRefresh = (outcome: Record<string, string | number>) =>
      deps.audit({
        type: 'audit',
        event: 'admin.issuer.refresh',
        actor: context.actor,
        requestId: context.requestId,
        issuerId,
        ...outcome,
      })
    try {
      const status = await deps.keySets.refresh(issuer)
      auditRefresh({ outcome: 'fetched', keyCount: status.keyCount })
      return status
    } catch (error) {
      if (!isKeyFetchError(error)) throw error
      auditRefresh({ outcome: 'failed', code: error.code })
      throw new IdentityProviderUnavailableError('jwks', {
        cause: error,
        detail: `${error.message}; the keys held before stay in use while they last`,
        retryAfterSeconds: 1,
      })
    }
  }

  const deleteIssuer = async (
    issuerId: string,
    options: { version?: number | undefined; cascade: boolean },
    context: WriteContext,
  ): Promise<DeleteOutcome> => {
    const existing = await registry.getIssuer(issuerId)
    if (!existing) {
      // A cascade whose sweep did not finish goes on: the issuer is gone, its bindings' items
      // are inert and only cleared here. Nothing left is the 404 it always was.
      const swept = options.cascade ? await sweep(issuerId) : { bindingsDeleted: 0, done: true }
      if (swept.bindingsDeleted === 0 && swept.done)
        throw new NotFoundError(`Issuer "${issuerId}" does not exist.`)
      changed({ event: 'admin.issuer.sweep', issuerId, ...sweptFields(swept) }, context)
      return swept
    }
    const expected = expectedVersion(options.version, context.ifMatch)
    if (expected !== undefined && existing.version !== expected) {
      throw new ConflictError(`Issuer "${issuerId}" is at version ${existing.version}, not ${expected}.`)
    }
    const bindings = options.cascade ? [] : await registry.listBindings(issuerId)
    if (bindings.length > 0) {
      throw new ConflictError(
        `Issuer "${issuerId}" still has ${bindings.length} binding(s); delete them first or pass ?cascade=true.`,
        'has_bindings',
      )
    }
    // The issuer goes first: with it goes its generation, so every binding of it is inert at once
    // (a binding written meanwhile too); the sweep only clears their items, in batches, within the
    // request's time (docs/decisions.md, "Cascade delete"). The history records the issuer's
    // delete; its bindings end with it and are not recorded one by one ("The admin history").
    await recorded({ issuerId, before: existing, after: undefined }, context, () =>
      registry.deleteIssuer(issuerId, existing.version),
    )
    const swept = options.cascade ? await sweep(issuerId) : { bindingsDeleted: 0, done: true }
    changed(
      { event: 'admin.issuer.delete', issuerId, versionBefore: existing.version, ...sweptFields(swept) },
      context,
    )
    return swept
  }

  /**
   * Clears the items of a deleted issuer's bindings for at most CASCADE_SWEEP_MS. The delete has
   * happened by then, so a failing store ends the sweep (`done` false, the next DELETE goes on)
   * rather than the request.
   */
  const sweep = async (issuerId: string): Promise<DeleteOutcome> => {
    try {
      const { deleted, done } = await registry.sweepBindings(issuerId, CASCADE_SWEEP_MS)
      return { bindingsDeleted: deleted, done }
    } catch (error) {
      if (isBrokerError(error) && error.statusCode < 500) throw error
      return { bindingsDeleted: 0, done: false }
    }
  }

  const sweptFields = (swept: DeleteOutcome) => ({
    bindingsDeleted: swept.bindingsDeleted,
    ...(swept.done ? {} : { bindingsLeft: 'some' }),
  })

  const putBinding = async (
    issuerId: string,
    bindingId: string,
    body: unknown,
    context: WriteContext,
  ): Promise<WriteResult<Binding>> => {
    const doc = parseDocument(bindingDocumentSchema, body, { issuerId, bindingId })
    await requireIssuer(issuerId)
    const expected = expectedVersion(doc.version, context.ifMatch)
    const what = `Binding "${issuerId}/${bindingId}"`
    const previous = await current(() => registry.getBinding(issuerId, bindingId), expected, what)
    const { version: _v, createdAt: _c, updatedAt: _u, updatedBy: _b, ...spec } = doc
    const profile = doc.profile ?? bindingId
    await requireFreeProfile(issuerId, bindingId, profile)
    const binding: Binding = {
      ...spec,
      issuerId,
      bindingId,
      profile,
      ...stamp(previous, context.actor),
    }
    await recorded({ issuerId, bindingId, before: previous, after: binding }, context, () =>
      registry.putBinding(binding, expected),
    )
    changed(
      {
        event: 'admin.binding.put',
        issuerId,
        bindingId,
        versionBefore: previous?.version,
        versionAfter: binding.version,
      },
      context,
    )
    return { object: binding, created: previous === undefined }
  }

  /**
   * Workloads ask for a role by profile and `configure` writes one AWS profile per name: two
   * bindings of one issuer under one profile would make one of them unreachable.
   */
  const requireFreeProfile = async (issuerId: string, bindingId: string, profile: string) => {
    const holder = await registry.findBindingByProfile(issuerId, profile)
    if (holder && holder.bindingId !== bindingId)
      throw new ConflictError(
        `Profile "${profile}" is the profile of binding "${issuerId}/${holder.bindingId}" already; a profile names one binding of its issuer.`,
        'duplicate_profile',
      )
  }

  const deleteBinding = async (
    issuerId: string,
    bindingId: string,
    options: { version?: number | undefined },
    context: WriteContext,
  ): Promise<void> => {
    const existing = await registry.getBinding(issuerId, bindingId)
    if (!existing) throw new NotFoundError(`Binding "${issuerId}/${bindingId}" does not exist.`)
    const expected = expectedVersion(options.version, context.ifMatch)
    if (expected !== undefined && existing.version !== expected) {
      throw new ConflictError(
        `Binding "${issuerId}/${bindingId}" is at version ${existing.version}, not ${expected}.`,
      )
    }
    await recorded({ issuerId, bindingId, before: existing, after: undefined }, context, () =>
      registry.deleteBinding(issuerId, bindingId, existing.version),
    )
    changed({ event: 'admin.binding.delete', issuerId, bindingId, versionBefore: existing.version }, context)
  }

  /**
   * Applies `change` to the issuer's revocations and writes the issuer at the version it read.
   * Another write in between (a binding's is not one: they are items of their own) moves the
   * version: the change is made again on the new issuer, a bounded number of times, then 409.
   */
  const changeRevocations = async <T>(
    issuerId: string,
    change: (issuer: Issuer) => { revocations: Revocation[]; result: T },
    context: WriteContext,
  ): Promise<{ issuer: Issuer; result: T }> => {
    for (let attempt = 1; ; attempt++) {
      const issuer = await requireIssuer(issuerId)
      const { revocations, result } = change(issuer)
      const { revocations: _old, ...rest } = issuer
      const updated: Issuer = {
        ...rest,
        ...(revocations.length > 0 ? { revocations } : {}),
        ...stamp(issuer, context.actor),
      }
      try {
        await recorded({ issuerId, before: issuer, after: updated }, context, () =>
          registry.putIssuer(updated, issuer.version),
        )
        return { issuer: updated, result }
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= REVOCATION_WRITE_ATTEMPTS) throw error
      }
    }
  }

  const addRevocation = async (
    issuerId: string,
    body: unknown,
    context: WriteContext,
  ): Promise<WriteResult<Revocation>> => {
    const doc = parseDocument(revocationDocumentSchema, body, {})
    const now = deps.clock.now()
    let notBefore = now
    if (doc.notBefore !== undefined) {
      notBefore = new Date(doc.notBefore)
      if (notBefore.getTime() > now.getTime() + MAX_NOT_BEFORE_AHEAD_MS)
        throw new InvalidParameterError('notBefore', 'must be at most 24 hours ahead')
    }
    if (doc.bindingId !== undefined && !(await registry.getBinding(issuerId, doc.bindingId))) {
      await requireIssuer(issuerId)
      throw new InvalidParameterError(
        'bindingId',
        `binding "${issuerId}/${doc.bindingId}" does not exist`,
        'binding_not_found',
      )
    }
    const scope = { bindingId: doc.bindingId, subject: doc.subject }
    const revocation: Revocation = {
      revocationId: revocationIdOf(issuerId, scope),
      ...(doc.bindingId === undefined ? {} : { bindingId: doc.bindingId }),
      ...(doc.subject === undefined ? {} : { subject: doc.subject }),
      notBefore: notBefore.toISOString(),
      createdAt: now.toISOString(),
      createdBy: context.actor,
    }
    const { issuer, result: replaced } = await changeRevocations(
      issuerId,
      (current) => {
        const replaced = (current.revocations ?? []).some((r) => r.revocationId === revocation.revocationId)
        const revocations = withRevocation(current.revocations, revocation)
        if (revocations.length > MAX_REVOCATIONS_PER_ISSUER)
          throw new ConflictError(
            `Issuer "${issuerId}" has ${MAX_REVOCATIONS_PER_ISSUER} revocations, the most it holds; lift one first.`,
            'too_many_revocations',
          )
        return { revocations, result: replaced }
      },
      context,
    )
    changed(
      {
        event: 'admin.revocation.put',
        issuerId,
        revocationId: revocation.revocationId,
        bindingId: revocation.bindingId,
        subject: revocation.subject,
        notBefore: revocation.notBefore,
        versionAfter: issuer.version,
      },
      context,
    )
    return { object: revocation, created: !replaced }
  }

  const liftRevocation = async (
    issuerId: string,
    revocationId: string,
    context: WriteContext,
  ): Promise<void> => {
    const { issuer } = await changeRevocations(
      issuerId,
      (current) => {
        const revocations = (current.revocations ?? []).filter((r) => r.revocationId !== revocationId)
        if (revocations.length === (current.revocations ?? []).length)
          throw new NotFoundError(`Revocation "${issuerId}/${revocationId}" does not exist.`)
        return { revocations, result: undefined }
      },
      context,
    )
    changed(
      { event: 'admin.revocation.delete', issuerId, revocationId, versionAfter: issuer.version },
      context,
    )
  }

  return {
    putIssuer,
    refreshIssuerKeys,
    getIssuer: requireIssuer,
    listIssuers: () => registry.listIssuers(),
    /** A page of the issuers by id: `{issuers, nextToken?}`. */
    async listIssuersPage(query: ListQuery): Promise<{ issuers: Issuer[]; nextToken?: string }> {
      const { items, ...next } = await listPage('issuers', 'issuerId', query, registry.listIssuersPage)
      return { issuers: items, ...next }
    },
    /** A page of an issuer's bindings by id: `{bindings, nextToken?}`; 404 for an unknown issuer. */
    async listBindingsPage(
      issuerId: string,
      query: ListQuery,
    ): Promise<{ bindings: Binding[]; nextToken?: string }> {
      const { items, ...next } = await listPage(
        `bindings:${issuerId}`,
        'bindingId',
        query,
        async (request) => {
          await requireIssuer(issuerId)
          return registry.listBindingsPage(issuerId, request)
        },
      )
      return { bindings: items, ...next }
    },
    /** A page of an issuer's revocations by id: `{revocations, nextToken?}`. */
    async listRevocations(
      issuerId: string,
      query: ListQuery,
    ): Promise<{ revocations: Revocation[]; nextToken?: string }> {
      const read = async (request: PageRequest) => {
        const { revocations = [] } = await requireIssuer(issuerId)
        const all = [...revocations].sort((a, b) => byCodeUnits(a.revocationId, b.revocationId))
        return pageOf(all, request, (r) => r.revocationId, 'revocationId')
      }
      const { items, ...next } = await listPage(`revocations:${issuerId}`, 'revocationId', query, read)
      return { revocations: items, ...next }
    },
    addRevocation,
    liftRevocation,
    deleteIssuer,
    putBinding,
    async getBinding(issuerId: string, bindingId: string): Promise<Binding> {
      const binding = await registry.getBinding(issuerId, bindingId)
      if (!binding) throw new NotFoundError(`Binding "${issuerId}/${bindingId}" does not exist.`)
      return binding
    },
    async listBindings(issuerId: string): Promise<Binding[]> {
      await requireIssuer(issuerId)
      return registry.listBindings(issuerId)
    },
    deleteBinding,
  }
}

export type Admin = ReturnType<typeof createAdmin>
