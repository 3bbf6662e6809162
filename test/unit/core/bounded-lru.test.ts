import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createBoundedLru } from '../../../shared/core/bounded-lru.js'

const entry = (bytes: number, name = 'x') => ({ name, bytes })
const KEYS = fc.constantFrom('a', 'b', 'c', 'd')

describe('createBoundedLru', () => {
  it('evicts the least recently used entry past maxEntries, a get counting as a use', () => {
    // Prepare
    const lru = createBoundedLru<ReturnType<typeof entry>>({ maxEntries: 2, maxBytes: 1000 })
    lru.set('a', entry(1, 'a'))
    lru.set('b', entry(1, 'b'))
    // Act
    lru.get('a')
    lru.set('c', entry(1, 'c'))
    // Assess
    expect([lru.get('a')?.name, lru.get('b'), lru.get('c')?.name]).toEqual(['a', undefined, 'c'])
    expect(lru.size).toBe(2)
  })

  it('evicts the oldest entries until the byte total is within maxBytes', () => {
    // Prepare
    const lru = createBoundedLru<ReturnType<typeof entry>>({ maxEntries: 10, maxBytes: 100 })
    lru.set('a', entry(40))
    lru.set('b', entry(40))
    // Act
    lru.set('c', entry(50))
    // Assess
    expect([lru.get('a'), lru.get('b')?.bytes, lru.get('c')?.bytes]).toEqual([undefined, 40, 50])
    expect(lru.bytes).toBe(90)
  })

  it('refuses an entry larger than maxBytes on its own and keeps what it held', () => {
    // Prepare
    const lru = createBoundedLru<ReturnType<typeof entry>>({ maxEntries: 10, maxBytes: 100 })
    lru.set('a', entry(30, 'kept'))
    // Act
    lru.set('a', entry(101, 'too big'))
    // Assess
    expect(lru.get('a')?.name).toBe('kept')
    expect(lru.bytes).toBe(30)
  })

  it('counts bytes right through replace, delete and clear', () => {
    // Prepare
    const lru = createBoundedLru<ReturnType<typeof entry>>({ maxEntries: 10, maxBytes: 100 })
    lru.set('a', entry(30))
    lru.set('a', entry(20))
    lru.set('b', entry(10))
    // Act
    lru.delete('b')
    const afterDelete = lru.bytes
    lru.clear()
    // Assess
    expect(afterDelete).toBe(20)
    expect([lru.size, lru.bytes]).toEqual([0, 0])
  })
  it('evicts the least recently used whatever the order of hits, repeated hits on the newest key included (checked against a model)', () => {
    fc.assert(
      fc.property(
        fc.array(
          // clear and delete are rare: each one resets what the sets and gets built up
          fc.oneof(
            { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), key: KEYS }) },
            { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key: KEYS }) },
            { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key: KEYS }) },
            { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const), key: fc.constant('') }) },
          ),
          { minLength: 20, maxLength: 80 },
        ),
        (ops) => {
          // Prepare: the model is an array, most recently used last
          const lru = createBoundedLru<ReturnType<typeof entry>>({ maxEntries: 3, maxBytes: 1000 })
          let model: string[] = []
          // Act
          for (const { op, key } of ops) {
            if (op === 'set') {
              lru.set(key, entry(10, key))
              model = [...model.filter((k) => k !== key), key].slice(-3)
            } else if (op === 'get') {
              const found = lru.get(key)
              expect(found?.name).toBe(model.includes(key) ? key : undefined)
              if (model.includes(key)) model = [...model.filter((k) => k !== key), key]
            } else if (op === 'delete') {
              lru.delete(key)
              model = model.filter((k) => k !== key)
            } else {
              lru.clear()
              model = []
            }
          }
          // Assess: every get above found exactly what the model holds (so evictions took the
          // model's least recently used), and the sizes agree
          expect(lru.size).toBe(model.length)
        },
      ),
      { numRuns: 300 },
    )
  })
})
