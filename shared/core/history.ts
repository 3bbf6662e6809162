// The admin history (docs/api.md, "History"): every write of an issuer or binding, by the admin
// plane or a key push, leaves one immutable record, and only a write that happened does. Without
// transactions (dynalite has none) the record and the write are tied by a per-object claim, the
// "head" (docs/decisions.md, "The admin history"): a writer claims the object's head with its
// record, writes the object, then files the record and frees the head. While a head is claimed
// nobody else writes the object, so the object's version alone tells whether the claimed write
// happened; a claim left by a crash is settled that way once it is older than the lease.
import { randomUUID } from 'node:crypto'
import type { JSONWebKeySet } from 'jose'
import { ConflictError, InvalidParameterError, isBrokerError } from './errors.js'
import type { Binding, Issuer } from './model.js'
import { decodeNextToken, encodeNextToken, parseLimit } from './pagination.js'
import { ID_PATTERN } from './patterns.js'
import type { Clock, HistoryLog, Registry } from './ports.js'

/**
 * A claim older than this is a crashed writer's (the admin and keys functions time out after
 * 10 s and their DynamoDB calls within it), and is settled by the next writer or reader.
 */
export const HISTORY_LEASE_SECONDS = 120

/**
 * A write that meets another write's fresh claim waits this long for it to finish (a write takes
 * a few DynamoDB calls), then answers 409 `write_in_progress`; writes of one object take turns.
 */
export const HISTORY_CLAIM_WAIT_MS = 2000
const CLAIM_POLL_MS = 25

/** One write of one object. Field names and kids only: never a key, a token or a document. */
export interface HistoryRecord {
  issuerId: string
  /** Absent for the issuer itself. */
  bindingId?: string
  object: 'issuer' | 'binding'
  action: 'create' | 'update' | 'delete'
  /** The IAM principal ARN in AWS, `local-admin` locally, `key-push:<sub>` for a key push. */
  actor: string
  /** When the write began (ISO 8601, the writer's clock). */
  at: string
  /** Unique per write: the record's identity, and the claim's. */
  writeId: string
  requestId?: string
  /** Absent on create. */
  versionBefore?: number
  /** Absent on delete. */
  versionAfter?: number
  /** The top-level fields whose value changed (all the object's fields on create, none on delete). */
  changed: string[]
  /** When `jwks` changed: the kids that came and went. */
  kidsAdded?: string[]
  kidsRemoved?: string[]
}

/** The object a record is about, as its head names it. */
export const objectKeyOf = (record: Pick<HistoryRecord, 'object' | 'bindingId'>): string =>
  record.object === 'issuer' ? 'issuer' : `binding#${record.bindingId}`

/** The version a record's object is at after its write (0: absent), and before it. */
export const versionAfterOf = (record: HistoryRecord): number => record.versionAfter ?? 0
export const versionBeforeOf = (record: HistoryRecord): number => record.versionBefore ?? 0

/** What a claim of an object's head found. */
export type ClaimOutcome =
  | { claimed: true }
  /** Another write holds the head: its record and when it claimed it. */
  | { claimed: false; held: HistoryRecord; heldSince: string }
  /**
   * The head is free at another version than the record's `versionBefore` (`head`): a stale
   * read, or an object that changed without a write of its own (a binding its issuer's delete ended).
   */
  | { claimed: false; held?: undefined; head?: number }

const SERVER_FIELDS = new Set(['version', 'createdAt', 'updatedAt', 'updatedBy', 'keysPushedAt'])

const kidsOf = (jwks: unknown): Set<string> =>
  new Set(
    ((jwks as JSONWebKeySet | undefined)?.keys ?? []).flatMap((key) =>
      typeof key.kid === 'string' ? [key.kid] : [],
    ),
  )

/**
 * The record's content: which fields changed between `before` and `after` (names only, server
 * stamps left out), and for a key set the kids added and removed. Values are never copied.
 */
export const describeChange = (
  before: Issuer | Binding | undefined,
  after: Issuer | Binding | undefined,
): Pick<
  HistoryRecord,
  'action' | 'versionBefore' | 'versionAfter' | 'changed' | 'kidsAdded' | 'kidsRemoved'
> => {
  const was = (before ?? {}) as Record<string, unknown>
  const is = (after ?? {}) as Record<string, unknown>
  const changed = after
    ? [...new Set([...Object.keys(was), ...Object.keys(is)])]
        .filter((field) => !SERVER_FIELDS.has(field))
        .filter((field) => JSON.stringify(was[field]) !== JSON.stringify(is[field]))
        .sort()
    : []
  const kids = changed.includes('jwks')
    ? (() => {
        const [old, now] = [kidsOf(was.jwks), kidsOf(is.jwks)]
        return {
          kidsAdded: [...now].filter((kid) => !old.has(kid)).sort(),
          kidsRemoved: [...old].filter((kid) => !now.has(kid)).sort(),
        }
      })()
    : {}
  return {
    action: before === undefined ? 'create' : after === undefined ? 'delete' : 'update',
    ...(before ? { versionBefore: before.version } : {}),
    ...(after ? { versionAfter: after.version } : {}),
    changed,
    ...kids,
  }
}

export interface HistoryDeps {
  log: HistoryLog
  clock: Clock
  /** Reads an object's current version to settle a claim (consistent reads). */
  registry: Pick<Registry, 'getIssuer' | 'getBinding'>
  newWriteId?: () => string
  /** Waits between looks at a claimed head (a timer by default). */
  sleep?: (ms: number) => Promise<void>
}

/** What a writer tells about its write; the rest of the record is made here. */
export interface WriteDescription {
  actor: string
  requestId?: string | undefined
  issuerId: string
  bindingId?: string | undefined
  before: Issuer | Binding | undefined
  after: Issuer | Binding | undefined
}

export interface HistoryQuery {
  issuerId?: string | undefined
  since?: string | undefined
  limit?: string | undefined
  nextToken?: string | undefined
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/

export const createHistory = (deps: HistoryDeps) => {
  const newWriteId = deps.newWriteId ?? (() => randomUUID())
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((done) => setTimeout(done, ms)))
  /** Records sort by time: one process's writes get distinct, increasing times (a cascade is one ms). */
  let lastAt = 0
  const nextAt = (): string => {
    lastAt = Math.max(deps.clock.now().getTime(), lastAt + 1)
    return new Date(lastAt).toISOString()
  }

  const currentVersion = async (record: HistoryRecord): Promise<number> => {
    const object =
      record.object === 'issuer'
        ? await deps.registry.getIssuer(record.issuerId)
        : await deps.registry.getBinding(record.issuerId, record.bindingId ?? '')
    return object?.version ?? 0
  }

  /**
   * Settles a claim whose writer is gone: while the claim stood only its writer could write the
   * object, so the object is at the record's `versionAfter` if and only if the write happened.
   */
  const settle = async (record: HistoryRecord): Promise<void> => {
    if ((await currentVersion(record)) === versionAfterOf(record)) await deps.log.commit(record)
    else await deps.log.abandon(record)
  }

  /** Best effort after an ambiguous failure: a write seen done is filed now rather than after the lease. */
  const fileIfDone = async (record: HistoryRecord): Promise<void> => {
    try {
      if ((await currentVersion(record)) === versionAfterOf(record)) await deps.log.commit(record)
    } catch {
      // The store is failing too: the claim is settled after the lease.
    }
  }

  const isStale = (since: string) =>
    deps.clock.now().getTime() - Date.parse(since) > HISTORY_LEASE_SECONDS * 1000

  const claim = async (record: HistoryRecord): Promise<void> => {
    let settled = false
    let realigned = false
    for (let waited = 0; ; waited += CLAIM_POLL_MS) {
      const outcome = await deps.log.claim(record, record.at)
      if (outcome.claimed) return
      if (outcome.held === undefined) {
        // A free head behind or ahead of the object while the object is where the writer read it:
        // the object changed with no write of its own, which only a binding does, when its
        // issuer's delete ends it (docs/decisions.md, "The admin history"). Nobody holds the head,
        // so it is moved to the object's version (conditionally) and claimed again, once.
        const head = outcome.head
        if (!realigned && head !== undefined && (await currentVersion(record)) === versionBeforeOf(record)) {
          realigned = true
          await deps.log.realign(record, head)
          continue
        }
        throw new ConflictError(`The ${record.object} changed meanwhile; read it again.`)
      }
      if (!settled && isStale(outcome.heldSince)) {
        // A crashed writer's claim: settled once, then claimed again.
        settled = true
        await settle(outcome.held)
        continue
      }
      if (waited >= HISTORY_CLAIM_WAIT_MS)
        throw new ConflictError(
          `Another write of this ${record.object} is under way; try again in a moment.`,
          'write_in_progress',
        )
      await sleep(CLAIM_POLL_MS)
    }
  }

  /**
   * Runs `write` (the conditional write of one object) with its record: the record is filed if
   * and only if the write happened. A definite refusal (409) frees the claim; any other failure
   * leaves it, to be settled after the lease by whoever meets it.
   */
  const recorded = async (description: WriteDescription, write: () => Promise<void>): Promise<void> => {
    const { actor, requestId, issuerId, bindingId, before, after } = description
    const record: HistoryRecord = {
      issuerId,
      ...(bindingId === undefined ? {} : { bindingId }),
      object: bindingId === undefined ? 'issuer' : 'binding',
      actor,
      at: nextAt(),
      writeId: newWriteId(),
      ...(requestId === undefined ? {} : { requestId }),
      ...describeChange(before, after),
    }
    await claim(record)
    try {
      await write()
    } catch (error) {
      // A 409 under the claim is either a retried call whose first try went through (the object
      // is at versionAfter: it happened) or a write that did not happen.
      if (isBrokerError(error) && error instanceof ConflictError) {
        if ((await currentVersion(record)) === versionAfterOf(record)) {
          await deps.log.commit(record)
          return
        }
        await deps.log.abandon(record)
        throw error
      }
      // Any other refusal of the caller's (4xx: the registry found the issuer gone) wrote nothing.
      if (isBrokerError(error) && error.statusCode < 500) {
        await deps.log.abandon(record)
        throw error
      }
      // Any other failure (a lost answer, a timeout) is ambiguous: the write may still land, so
      // the claim stays for the lease, unless the write is seen done already (then it is filed;
      // the caller still hears the failure, as without a history).
      await fileIfDone(record)
      throw error
    }
    await deps.log.commit(record)
  }

  /** A page of an issuer's history, oldest first; claims past their lease are settled first. */
  const read = async (query: HistoryQuery): Promise<{ records: HistoryRecord[]; nextToken?: string }> => {
    const { issuerId, since } = query
    if (issuerId === undefined || issuerId === '')
      throw new InvalidParameterError('issuerId', 'is required: the history is kept per issuer')
    if (!ID_PATTERN.test(issuerId))
      throw new InvalidParameterError('issuerId', 'must be 1-64 letters, digits, ".", "_" or "-"')
    if (since !== undefined && (!ISO_TIME.test(since) || Number.isNaN(Date.parse(since))))
      throw new InvalidParameterError('since', 'must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z')
    const limit = parseLimit(query.limit)
    const list = `history:${issuerId}`
    const after = query.nextToken === undefined ? undefined : decodeNextToken(list, query.nextToken, ['at'])
    for (const held of await deps.log.claims(issuerId)) if (isStale(held.since)) await settle(held.record)
    const sinceIso = since === undefined ? undefined : new Date(Date.parse(since)).toISOString()
    const page = await deps.log.list(issuerId, sinceIso, { limit, after })
    return {
      records: page.items,
      ...(page.next ? { nextToken: encodeNextToken(list, page.next) } : {}),
    }
  }

  return { recorded, read, settle }
}

export type History = ReturnType<typeof createHistory>
