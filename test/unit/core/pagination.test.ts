import { describe, expect, it } from 'vitest'
import {
  DEFAULT_PAGE_LIMIT,
  decodeNextToken,
  encodeNextToken,
  pageOf,
  parseLimit,
} from '../../../shared/core/pagination.js'

const refusal = (run: () => unknown) => {
  try {
    run()
  } catch (error) {
    return { code: (error as { code?: string }).code, field: (error as { field?: string }).field }
  }
  return undefined
}

describe('parseLimit', () => {
  it('defaults to 100 and accepts 1 to 1000', () => {
    expect([parseLimit(undefined), parseLimit(''), parseLimit('1'), parseLimit('1000')]).toEqual([
      DEFAULT_PAGE_LIMIT,
      DEFAULT_PAGE_LIMIT,
      1,
      1000,
    ])
  })

  it.each(['0', '1001', '-1', '1.5', 'ten', '99999', ' 5'])('refuses %j with a 400 naming limit', (raw) => {
    expect(refusal(() => parseLimit(raw))).toEqual({ code: 'InvalidParameterValue', field: 'limit' })
  })
})

describe('next tokens', () => {
  it('give back the position they were made with, for the same list', () => {
    const token = encodeNextToken('bindings:onprem', { sk: 'BINDING#b-7' })
    expect(decodeNextToken('bindings:onprem', token, ['sk'])).toEqual({ sk: 'BINDING#b-7' })
  })

  it.each([
    ['another list', encodeNextToken('bindings:other', { sk: 'BINDING#x' }), ['sk']],
    ['another field', encodeNextToken('bindings:onprem', { pk: 'ISSUER#x' }), ['sk']],
    ['an extra field', encodeNextToken('bindings:onprem', { sk: 'a', pk: 'b' }), ['sk']],
    [
      'a number for a string',
      Buffer.from('{"v":1,"l":"bindings:onprem","p":{"sk":5}}').toString('base64url'),
      ['sk'],
    ],
    [
      'another version',
      Buffer.from('{"v":2,"l":"bindings:onprem","p":{"sk":"a"}}').toString('base64url'),
      ['sk'],
    ],
    [
      'a prototype key',
      Buffer.from('{"v":1,"l":"bindings:onprem","p":{"__proto__":"a","sk":"b"}}').toString('base64url'),
      ['sk'],
    ],
    ['not base64url', 'a+b/c==', ['sk']],
    ['not JSON', Buffer.from('{{').toString('base64url'), ['sk']],
    ['an array', Buffer.from('[1]').toString('base64url'), ['sk']],
    ['empty', '', ['sk']],
    ['too long', 'A'.repeat(4096), ['sk']],
  ])('refuse a token of %s with a 400 naming nextToken', (_what, token, fields) => {
    expect(refusal(() => decodeNextToken('bindings:onprem', token as string, fields as string[]))).toEqual({
      code: 'InvalidParameterValue',
      field: 'nextToken',
    })
  })
})

describe('pageOf', () => {
  const all = ['a', 'b', 'c', 'd', 'e']

  it('walks the whole list in order, page by page, each item once', () => {
    const seen: string[] = []
    let after: Record<string, string> | undefined
    let pages = 0
    do {
      const page = pageOf(all, { limit: 2, after }, (item) => item)
      seen.push(...page.items)
      after = page.next
      pages++
    } while (after)
    expect(seen).toEqual(all)
    expect(pages).toBe(3)
  })

  it('gives no next position on the last page, and an empty page after the end', () => {
    expect(pageOf(all, { limit: 5 }, (item) => item).next).toBeUndefined()
    expect(pageOf(all, { limit: 5, after: { id: 'e' } }, (item) => item)).toEqual({ items: [] })
  })
})
