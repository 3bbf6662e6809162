// In-memory cache in front of the registry for the exchange path: issuers by `iss`, a token's
// bindings by (issuer, subject), an issuer's pattern bindings, each for a TTL; a bounded negative cache for unknown `iss`, so a
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
  /** Most bytes (approximate) the binding lists together hold, by subject and patterns; default 32 MB. */
  bindingsMaxBytes?: number
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

const createSlotMap = <T>(maxEntries: number, maxBytes = Number.POSITIVE_INFINITY) => {
  const slots = new Map<string, Slot<T>>()
  /** Approximate bytes of each loaded value, by key, and their sum. */
  const sizes = new Map<string, number>()
  let bytes = 0
  const drop = (key: string) => {
    slots.delete(key)
    bytes -= sizes.get(key) ?? 0
    sizes.delete(key)
  }
  const evict = () => {
    while (slots.size > maxEntries || bytes > maxBytes) {
      const oldest = slots.keys().next().value
      if (oldest === undefined) break
      drop(oldest)
    }
  }
  return {
    get: (key: string) => slots.get(key),
    /** Inserts (or moves to the newest place) and drops the oldest past the bounds. */
    set(key: string, slot: Slot<T>) {
      const size = sizes.get(key)
      drop(key)
      slots.set(key, slot)
      if (size !== undefined) {
        sizes.set(key, size)
        bytes += size
      }
      evict()
    },
    /** Records the size of the value just loaded into `key`'s slot, and evicts past the bounds. */
    weigh(key: string, slot: Slot<T>, size: number) {
      if (slots.get(key) !== slot) return
      bytes += size - (sizes.get(key) ?? 0)
      sizes.set(key, size)
      evict()
    },
    delete(key: string, slot: Slot<T>) {
      if (slots.get(key) === slot) drop(key)
    },
    clear: () => {
      slots.clear()
      sizes.clear()
      bytes = 0
    },
  }
}

/** Approximate bytes a list of bindings holds: its JSON's length, twice (UTF-16), plus objects. */
const bindingsBytes = (bindings: readonly Binding[]): number => 256 + JSON.stringify(bindings).length * 2

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
  const bindingsMaxBytes = options.bindingsMaxBytes ?? 32 * 1024 * 1024
  // Bindings by (issuer, subject) and each issuer's pattern bindings: what a request needs, held
  // within a count and a size, never an issuer's whole partition.
  const bySubject = createSlotMap<Binding[]>(options.maxEntries, bindingsMaxBytes / 2)
  const patterns = createSlotMap<Binding[]>(options.maxEntries, bindingsMaxBytes / 2)
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
    bindingsForSubject(issuerId, subject) {
      const key = `${issuerId}\u0000${subject}`
      const slot = slotIn(bySubject, key)
      return read(slot, {
        load: () => source.bindingsForSubject(issuerId, subject),
        placed: (found) => bySubject.weigh(key, slot, bindingsBytes(found)),
        forget: () => bySubject.delete(key, slot),
        kind: 'bindings',
      })
    },
    patternBindings(issuerId) {
      const slot = slotIn(patterns, issuerId)
      return read(slot, {
        load: () => source.patternBindings(issuerId),
        placed: (found) => patterns.weigh(issuerId, slot, bindingsBytes(found)),
        forget: () => patterns.delete(issuerId, slot),
        kind: 'bindings',
      })
    },
    invalidate() {
      generation++
      issuers.clear()
      unknownIss.clear()
      bindings.clear()
      bySubject.clear()
      patterns.clear()
    },
  }
}
