// A least-recently-used map bounded by entry count and by approximate bytes: the storage under
// the credential cache and the verified-token cache.

export interface Sized {
  /** Approximate memory the entry holds, in bytes. */
  bytes: number
}

export interface BoundedLru<V extends Sized> {
  /** The entry, marked most recently used. */
  get(key: string): V | undefined
  /** Stores the entry, then evicts the least recently used until both bounds hold; an entry larger than maxBytes alone is not stored. */
  set(key: string, value: V): void
  delete(key: string): void
  clear(): void
  readonly size: number
  readonly bytes: number
}

export const createBoundedLru = <V extends Sized>(options: {
  maxEntries: number
  maxBytes: number
}): BoundedLru<V> => {
  // Map order is insertion order and a hit re-inserts, so the first key is the least recently used.
  const entries = new Map<string, V>()
  let bytes = 0
  /**
   * The key last inserted, which is the most recently used one: a hit on it needs no move. A hot
   * key asked for again and again (one Deployment's token) then costs a lookup, not a delete and
   * an insert, whose tombstones make V8 rebuild a large Map every few hundred hits.
   */
  let newest: string | undefined

  const remove = (key: string) => {
    const entry = entries.get(key)
    if (!entry) return
    entries.delete(key)
    bytes -= entry.bytes
    if (newest === key) newest = undefined
  }

  return {
    get(key) {
      const entry = entries.get(key)
      if (entry && key !== newest) {
        entries.delete(key)
        entries.set(key, entry)
        newest = key
      }
      return entry
    },
    set(key, value) {
      if (value.bytes > options.maxBytes) return
      remove(key)
      entries.set(key, value)
      newest = key
      bytes += value.bytes
      while (entries.size > options.maxEntries || bytes > options.maxBytes) {
        const oldest = entries.keys().next().value
        if (oldest === undefined) break
        remove(oldest)
      }
    },
    delete: remove,
    clear() {
      entries.clear()
      bytes = 0
      newest = undefined
    },
    get size() {
      return entries.size
    },
    get bytes() {
      return bytes
    },
  }
}
