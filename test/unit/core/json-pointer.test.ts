import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseJsonPointer, resolveJsonPointer } from '../../../shared/core/json-pointer.js'

const claims = {
  sub: 'system:serviceaccount:ml:trainer',
  'kubernetes.io': { namespace: 'ml', serviceaccount: { name: 'trainer' } },
  'a/b': 'slash',
  'm~n': 'tilde',
  groups: ['dev', 'ops'],
  '': 'empty key',
}

describe('parseJsonPointer', () => {
  it.each([
    ['', []],
    ['/', ['']],
    ['/kubernetes.io/namespace', ['kubernetes.io', 'namespace']],
    ['/a~1b', ['a/b']],
    ['/m~0n', ['m~n']],
    ['/~01', ['~1']],
    ['/groups/0', ['groups', '0']],
  ])('parses %j into its reference tokens', (pointer, tokens) => {
    // Act
    const parsed = parseJsonPointer(pointer)
    // Assess
    expect(parsed).toEqual(tokens)
  })

  it.each(['sub', 'kubernetes.io/namespace', '/bad~escape', '/trailing~', '/~2'])(
    'refuses %j as a pointer',
    (pointer) => {
      // Act
      const parsed = parseJsonPointer(pointer)
      // Assess
      expect(parsed).toBeUndefined()
    },
  )
})

describe('resolveJsonPointer', () => {
  it.each([
    ['/sub', 'system:serviceaccount:ml:trainer'],
    ['/kubernetes.io/namespace', 'ml'],
    ['/kubernetes.io/serviceaccount/name', 'trainer'],
    ['/a~1b', 'slash'],
    ['/m~0n', 'tilde'],
    ['/groups/1', 'ops'],
    ['/', 'empty key'],
  ])('resolves %j to %j', (pointer, expected) => {
    // Prepare
    const tokens = parseJsonPointer(pointer) ?? []
    // Act
    const value = resolveJsonPointer(claims, tokens)
    // Assess
    expect(value).toBe(expected)
  })

  it('resolves the empty pointer to the whole document', () => {
    // Act
    const value = resolveJsonPointer(claims, [])
    // Assess
    expect(value).toBe(claims)
  })

  it.each(['/missing', '/groups/2', '/groups/01', '/groups/-', '/groups/length', '/sub/length', '/sub/0'])(
    'resolves %j to undefined',
    (pointer) => {
      // Act
      const value = resolveJsonPointer(claims, parseJsonPointer(pointer) ?? [])
      // Assess
      expect(value).toBeUndefined()
    },
  )

  it.each([
    '/constructor',
    '/__proto__',
    '/toString',
    '/hasOwnProperty',
    '/kubernetes.io/constructor/name',
    '/groups/constructor',
    '/groups/map',
  ])('never reaches the inherited member %j', (pointer) => {
    // Act
    const value = resolveJsonPointer(claims, parseJsonPointer(pointer) ?? [])
    // Assess
    expect(value).toBeUndefined()
  })

  it('reaches an own member named like a prototype member', () => {
    // Prepare
    const document = JSON.parse('{"__proto__": "own", "constructor": {"name": "own too"}}') as unknown
    // Act
    const proto = resolveJsonPointer(document, ['__proto__'])
    const name = resolveJsonPointer(document, ['constructor', 'name'])
    // Assess
    expect(proto).toBe('own')
    expect(name).toBe('own too')
  })

  it('property: never returns an inherited member of any object on the path', () => {
    const inherited = fc.constantFrom(
      ...Object.getOwnPropertyNames(Object.prototype),
      ...Object.getOwnPropertyNames(Array.prototype),
      ...Object.getOwnPropertyNames(String.prototype),
    )
    fc.assert(
      fc.property(
        fc.json(),
        fc.array(fc.oneof(fc.string(), inherited), { maxLength: 4 }),
        inherited,
        (text, prefix, last) => {
          // Prepare
          const document = JSON.parse(text) as unknown
          const pointer = [...prefix, last]
          // Act
          const value = resolveJsonPointer(document, pointer)
          // Assess: whatever it found must be an own member of its parent
          const parent = resolveJsonPointer(document, prefix)
          if (value !== undefined) {
            expect(typeof parent === 'object' && parent !== null && Object.hasOwn(parent, last)).toBe(true)
          }
          expect(typeof value).not.toBe('function')
        },
      ),
    )
  })
})
