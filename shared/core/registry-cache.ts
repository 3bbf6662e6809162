// In-memory cache in front of the registry for the exchange path: issuers by `iss` and
// bindings by issuer, each for a TTL; a bounded negative cache for unknown `iss`, so a
// flood of garbage tokens costs no registry reads; concurrent misses share one load.
// Past the TTL an entry is reloaded; while the registry fails (DynamoDB down or hanging) the
// entry read before is served for a bounded stale window, and after it the read fails (503).
import type { Binding, Issuer } from './model.js'
import type { Clock, Logger, RegistryReader } from './ports.js'

export interface RegistryCacheOptions {
  ttlSeconds: number
  /** How long past the TTL an entry is still served while reloading it fails (0: never). */
  staleSeconds?: number
  /**
   * How long a request waits for the reload of an expired entry before it answers from the
   * stale one (the reload goes on and serves the next request).
   */
  refreshWaitMs?: number
  /** After a failed reload, the stale entry is served without a new read for this long. */
  retryIntervalMs?: number
  /** Most entries per map; the oldest entry is dropped past it. */
  maxEntries: number
  /** Most unknown `iss` values remembered at once. */
  negativeMaxEntries: number
  clock: Clock
  /** Told once per failed reload that left a stale entry in use. */
  logger?: Pick<Logger, 'warn'>
}

export const REGISTRY_CACHE_DEFAULTS = {
  staleSeconds: 0,
  refreshWaitMs: 100,
  retryIntervalMs: 1000,
} as const

/** One cached read: the last value loaded, and the reload in flight. */
interface Slot<T> {
  value?: T
  loadedAt: number
  pending?: Promise<T>
  /** When the last reload failed; cleared by the next success. */
  failedAt?: number
}

const createSlotMap = <T>(maxEntries: number) => {
  const slots = new Map<string, Slot<T>>()
  return {
    get: (key: string) => slots.get(key),
    /** Inserts (or moves to the newest place) and drops the oldest past the bound. */
    set(key: string, slot: Slot<T>) {
      slots.delete(key)
      slots.set(key, slot)
      if (slots.size > maxEntries) {
        const oldest = slots.keys().next().value
        if (oldest !== undefined) slots.delete(oldest)
      }
    },
    delete(key: string, slot: Slot<T>) {
      if (slots.get(key) === slot) slots.delete(key)
    },
    clear: () => slots.clear(),
  }
}

type SlotMap<T> = ReturnType<typeof createSlotMap<T>>

/** How one entry is read from the registry, and where the answer goes in the maps. */
interface Source<T> {
  load: () => Promise<T>
  /** Files a loaded value under its map (issuers found, or the negative cache). */
  placed: (value: T) => void
  /** Drops the slot from its maps after a failed first load. */
  forget: () => void
  kind: string
}

export interface CachedRegistry extends RegistryReader {
  /** Forgets everything; called after an admin write in the same process. */
  invalidate(): void
}

export const createRegistryCache = (
  source: RegistryReader,
  options: RegistryCacheOptions,
): CachedRegistry => {
  const ttlMs = options.ttlSeconds * 1000
  const staleMs = (options.staleSeconds ?? REGISTRY_CACHE_DEFAULTS.staleSeconds) * 1000
  const refreshWaitMs = options.refreshWaitMs ?? REGISTRY_CACHE_DEFAULTS.refreshWaitMs
  const retryIntervalMs = options.retryIntervalMs ?? REGISTRY_CACHE_DEFAULTS.retryIntervalMs
  const issuers = createSlotMap<Issuer[]>(options.maxEntries)
  // New `iss` values start here, so a flood of garbage can only evict other garbage.
  const unknownIss = createSlotMap<Issuer[]>(options.negativeMaxEntries)
  const bindings = createSlotMap<Binding[]>(options.maxEntries)
  const now = () => options.clock.now().getTime()
  /** Bumped by `invalidate`: a load started before must not write what it read. */
  let generation = 0

  const reload = <T>(slot: Slot<T>, { load, placed, forget, kind }: Source<T>): Promise<T> => {
    if (slot.pending) return slot.pending
    const startedIn = generation
    const pending = load().then(
      (value) => {
        if (startedIn === generation) {
          slot.value = value
          slot.loadedAt = now()
          slot.failedAt = undefined
          placed(value)
        }
        return value
      },
      (error: unknown) => {
        if (startedIn === generation) {
          slot.failedAt = now()
          if (slot.value === undefined) forget()
          else {
            options.logger?.warn('registry read failed; the entry read before stays in use', {
              kind,
              ageSeconds: Math.round((now() - slot.loadedAt) / 1000),
              staleUntil: new Date(slot.loadedAt + ttlMs + staleMs).toISOString(),
              error,
            })
          }
        }
        throw error
      },
    )
    slot.pending = pending
    const clear = () => {
      if (slot.pending === pending) slot.pending = undefined
    }
    pending.then(clear, clear)
    return pending
  }

  /** The reload's answer if it comes within the refresh wait; the stale value otherwise. */
  const reloadOrStale = <T>(reloading: Promise<T>, stale: T): Promise<T> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(stale), refreshWaitMs)
      reloading.then(
        (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        () => {
          clearTimeout(timer)
          resolve(stale)
        },
      )
    })

  const read = <T>(slot: Slot<T>, source: Source<T>): Promise<T> => {
    const at = now()
    const { value } = slot
    if (value !== undefined) {
      const age = at - slot.loadedAt
      if (age < ttlMs) return Promise.resolve(value)
      if (age < ttlMs + staleMs) {
        const recentlyFailed = slot.failedAt !== undefined && at - slot.failedAt < retryIntervalMs
        if (recentlyFailed && !slot.pending) return Promise.resolve(value)
        return reloadOrStale(reload(slot, source), value)
      }
      // Too old to serve, whatever the registry says next.
      slot.value = undefined
    }
    return reload(slot, source)
  }

  const slotIn = <T>(map: SlotMap<T>, key: string): Slot<T> => {
    let slot = map.get(key)
    if (!slot) {
      slot = { loadedAt: 0 }
      map.set(key, slot)
    }
    return slot
  }

  return {
    findIssuersByIss(iss) {
      const slot = issuers.get(iss) ?? slotIn(unknownIss, iss)
      return read(slot, {
        load: () => source.findIssuersByIss(iss),
        placed: (found) => {
          if (found.length === 0) {
            issuers.delete(iss, slot)
            unknownIss.set(iss, slot)
          } else {
            unknownIss.delete(iss, slot)
            issuers.set(iss, slot)
          }
        },
        forget: () => {
          issuers.delete(iss, slot)
          unknownIss.delete(iss, slot)
        },
        kind: 'issuers',
      })
    },
    listBindings(issuerId) {
      const slot = slotIn(bindings, issuerId)
      return read(slot, {
        load: () => source.listBindings(issuerId),
        placed: () => undefined,
        forget: () => bindings.delete(issuerId, slot),
        kind: 'bindings',
      })
    },
    invalidate() {
      generation++
      issuers.clear()
      unknownIss.clear()
      bindings.clear()
    },
  }
}
