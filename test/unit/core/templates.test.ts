import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  FALLBACK_SESSION_NAME,
  parseTemplate,
  renderTemplate,
  SESSION_NAME_MAX,
  sanitizeSessionName,
  sanitizeTagValue,
  TAG_KEY_PATTERN,
  TAG_VALUE_MAX,
  type Template,
} from '../../../shared/core/templates.js'
import { makeClaims } from '../fixtures.js'

const STS_SESSION_NAME = /^[\w+=,.@-]{2,64}$/
const STS_TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u

const parsed = (text: string): Template => {
  const template = parseTemplate(text)
  if (typeof template === 'string') throw new Error(`expected a template, got: ${template}`)
  return template
}

describe('parseTemplate', () => {
  it('splits literals and JSON Pointer placeholders', () => {
    // Act
    const template = parseTemplate('{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}')
    // Assess
    expect(template).toEqual([
      { pointer: ['kubernetes.io', 'namespace'] },
      { literal: '.' },
      { pointer: ['kubernetes.io', 'serviceaccount', 'name'] },
    ])
  })

  it('parses text without placeholders as one literal', () => {
    // Act
    const template = parseTemplate('onprem-a')
    // Assess
    expect(template).toEqual([{ literal: 'onprem-a' }])
  })

  it.each([
    ['{sub}', '"{sub}" at position 0 is not a JSON Pointer placeholder like {/sub}'],
    ['x{}', '"{}" at position 1 is not a JSON Pointer placeholder like {/sub}'],
    ['{/a~2}', '"{/a~2}" at position 0 is not a JSON Pointer placeholder like {/sub}'],
    ['ab}{/sub}', 'unbalanced brace at position 2'],
    ['{/sub}{', 'unbalanced brace at position 6'],
    ['a{b', 'unbalanced brace at position 1'],
  ])('refuses %j and says where: %s', (text, message) => {
    // Act
    const result = parseTemplate(text)
    // Assess
    expect(result).toBe(message)
  })
})

describe('renderTemplate', () => {
  it('fills placeholders from the claims', () => {
    // Act
    const rendered = renderTemplate(parsed('{/kubernetes.io/namespace}/{/sub}'), makeClaims())
    // Assess
    expect(rendered).toBe('ml/system:serviceaccount:ml:trainer')
  })

  it('renders numbers and booleans as text', () => {
    // Act
    const rendered = renderTemplate(parsed('{/n}-{/b}'), makeClaims({ n: 7, b: false }))
    // Assess
    expect(rendered).toBe('7-false')
  })

  it.each([
    ['a missing claim', '{/missing}'],
    ['an object claim', '{/kubernetes.io}'],
    ['an array claim', '{/aud}'],
    ['a null claim', '{/nothing}'],
    ['an inherited member', '{/constructor}'],
  ])('renders %s as empty text', (_label, text) => {
    // Act
    const rendered = renderTemplate(parsed(text), makeClaims({ nothing: null }))
    // Assess
    expect(rendered).toBe('')
  })
})

describe('sanitizeSessionName', () => {
  it('replaces characters STS refuses with "-"', () => {
    // Act
    const name = sanitizeSessionName('system:serviceaccount:ml:trainer')
    // Assess
    expect(name).toBe('system-serviceaccount-ml-trainer')
  })

  it('keeps every character STS allows', () => {
    // Act
    const name = sanitizeSessionName('Ab_9+=,.@-')
    // Assess
    expect(name).toBe('Ab_9+=,.@-')
  })

  it('cuts a long name to 64 characters', () => {
    // Act
    const name = sanitizeSessionName('n'.repeat(200))
    // Assess
    expect(name).toBe('n'.repeat(SESSION_NAME_MAX))
  })

  it('pads a one-character name to the minimum of 2', () => {
    // Act
    const name = sanitizeSessionName('a')
    // Assess
    expect(name).toBe('a-')
  })

  it('falls back to a fixed name for an empty one', () => {
    // Act
    const name = sanitizeSessionName('')
    // Assess
    expect(name).toBe(FALLBACK_SESSION_NAME)
  })

  it.each(['ünïcödé', '日本語', '😀😀', 'a\nb\tc', 'ﬀ'])('turns %j into a valid session name', (raw) => {
    // Act
    const name = sanitizeSessionName(raw)
    // Assess
    expect(name).toMatch(STS_SESSION_NAME)
  })

  it('property: output always matches STS RoleSessionName [\\w+=,.@-]{2,64}', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 300 })),
        (raw) => {
          expect(sanitizeSessionName(raw)).toMatch(STS_SESSION_NAME)
        },
      ),
    )
  })

  it('property: a name already valid for STS is kept as it is', () => {
    fc.assert(
      fc.property(fc.stringMatching(STS_SESSION_NAME), (valid) => {
        expect(sanitizeSessionName(valid)).toBe(valid)
      }),
    )
  })
})

describe('sanitizeTagValue', () => {
  it('keeps letters, digits, spaces and _.:/=+-@', () => {
    // Act
    const value = sanitizeTagValue('ml team 7_a.b:c/d=e+f-g@h')
    // Assess
    expect(value).toBe('ml team 7_a.b:c/d=e+f-g@h')
  })

  it('keeps non-ASCII letters', () => {
    // Act
    const value = sanitizeTagValue('équipe-日本')
    // Assess
    expect(value).toBe('équipe-日本')
  })

  it('replaces other characters with "-"', () => {
    // Act
    const value = sanitizeTagValue('a,b;c*d"e<f>')
    // Assess
    expect(value).toBe('a-b-c-d-e-f-')
  })

  it('cuts a long value to 256 characters', () => {
    // Act
    const value = sanitizeTagValue('v'.repeat(1000))
    // Assess
    expect(value).toBe('v'.repeat(TAG_VALUE_MAX))
  })

  it('property: output is at most 256 characters, all from the allowed set', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 600 }), fc.string({ maxLength: 600 })),
        (raw) => {
          const value = sanitizeTagValue(raw)
          expect(Array.from(value).length).toBeLessThanOrEqual(TAG_VALUE_MAX)
          expect(value).toMatch(STS_TAG_VALUE)
        },
      ),
    )
  })

  it('property: keeps one output character per input character up to the limit', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 600 }), (raw) => {
        expect(Array.from(sanitizeTagValue(raw)).length).toBe(Math.min(Array.from(raw).length, TAG_VALUE_MAX))
      }),
    )
  })
})

describe('TAG_KEY_PATTERN', () => {
  it.each(['namespace', 'data-plane', 'aws:x', 'a b', 'k'.repeat(128)])('accepts the tag key %j', (key) => {
    // Act
    const accepted = TAG_KEY_PATTERN.test(key)
    // Assess
    expect(accepted).toBe(true)
  })

  it.each(['', 'k'.repeat(129), 'a,b', 'a*b', 'a"b'])('refuses the tag key %j', (key) => {
    // Act
    const accepted = TAG_KEY_PATTERN.test(key)
    // Assess
    expect(accepted).toBe(false)
  })
})
