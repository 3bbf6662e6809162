import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { duplicateMember } from '../../../shared/core/json-text.js'

describe('duplicateMember', () => {
  it('finds nothing in any text JSON.stringify writes, indented or not', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 2, '\t'), (value, indent) => {
        // Act / Assess
        expect(duplicateMember(JSON.stringify(value, null, indent))).toBeUndefined()
      }),
    )
  })

  it('names the path of a member written twice, wherever it sits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.nat(3)), { maxLength: 5 }),
        fc.string(),
        fc.jsonValue(),
        (path, name, value) => {
          // Prepare: the duplicate at the end of `path`, objects and arrays around it
          let text = `{${JSON.stringify(name)}: ${JSON.stringify(value)}, ${JSON.stringify(name)}: 1}`
          for (const step of [...path].reverse()) {
            text =
              typeof step === 'number'
                ? `[${[...Array.from({ length: step }, () => '{}'), text].join(', ')}]`
                : `{"other": {"x": 1}, ${JSON.stringify(step)}: ${text}}`
          }
          // Act / Assess: the path as admin errors name fields (a.b[2].c)
          const expected = [...path, name].reduce<string>(
            (at, step) => (typeof step === 'number' ? `${at}[${step}]` : at ? `${at}.${step}` : step),
            '',
          )
          expect(duplicateMember(text)).toBe(expected)
        },
      ),
    )
  })

  it('reads escapes in names: "a\\u0062" and "ab" are the same member', () => {
    // Act / Assess
    expect(duplicateMember('{"a\\u0062": 1, "ab": 2}')).toBe('ab')
    expect(duplicateMember('{"a\\"": {"b": "\\"}", "b": 1}}')).toBe('a".b')
  })

  it('costs no stack however deep the nesting', () => {
    // Act / Assess
    expect(duplicateMember(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBeUndefined()
  })
})
