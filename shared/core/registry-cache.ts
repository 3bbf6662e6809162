// In-memory cache in front of the registry for the exchange path: issuers by `iss` and
// bindings by issuer, each for a TTL; a bounded negative cache for unknown `iss`, so a
// flood of garbage tokens costs no registry reads; concurrent misses share one load.
import type { Binding, Issuer } from './model.js'
import type { Clock, RegistryReader } from './ports.js'

export interface RegistryCacheOptions {
  ttlSeconds: number
  /** Most entries per map; the oldest entry is dropped past it. */
  maxEntries: number
  /** Most unknown `iss` values remembered at once. */
  negativeMaxEntries: number
  clock: Clock
}

interface Entry<T> {
  value: Promise<T>
  expiresAt: number
}

const createTtlMap = <T>(maxEntries: number) => {
  const entries = new Map<string, Entry<T>>()
  return {
    get(key: string, now: number): Promise<T> | undefined {
      const entry = entries.get(key)
      if (!entry) return undefined
      if (entry.expiresAt <= now) {
        entries.delete(key)
        return undefined
      }
      return entry.value
    },
    set(key: string, value: Promise<T>, expiresAt: number) {
      entries.delete(key)
      entries.set(key, { value, expiresAt })
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value
        if (oldest !== undefined) entries.delete(oldest)
      }
    },
    delete: (key: string) => entries.delete(key),
    clear: () => entries.clear(),
    get size() {
      return entries.size
    },
  }
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
  const issuers = createTtlMap<Issuer[]>(options.maxEntries)
  const unknownIss = createTtlMap<Issuer[]>(options.negativeMaxEntries)
  const bindings = createTtlMap<Binding[]>(options.maxEntries)

  const load = <T>(
    map: ReturnType<typeof createTtlMap<T>>,
    key: string,
    loader: () => Promise<T>,
  ): Promise<T> => {
    const now = options.clock.now().getTime()
    const cached = map.get(key, now)
    if (cached) return cached
    const pending = loader()
    map.set(key, pending, now + ttlMs)
    // A failed load is not remembered: the next request tries again.
    pending.catch(() => map.delete(key))
    return pending
  }

  return {
    findIssuersByIss(iss) {
      const now = options.clock.now().getTime()
      const negative = unknownIss.get(iss, now)
      if (negative) return negative
      return load(issuers, iss, () => source.findIssuersByIss(iss)).then((found) => {
        if (found.length === 0) {
          issuers.delete(iss)
          unknownIss.set(iss, Promise.resolve(found), now + ttlMs)
        }
        return found
      })
    },
    listBindings: (issuerId) => load(bindings, issuerId, () => source.listBindings(issuerId)),
    invalidate() {
      issuers.clear()
      unknownIss.clear()
      bindings.clear()
    },
  }
}
