import { describe, expect, it } from 'vitest'
import {
  type Revocation,
  revocationIdOf,
  revocationOf,
  withRevocation,
} from '../../../shared/core/revocations.js'

const NOT_BEFORE = '2026-12-04T18:40:00.000Z'
const BEFORE = Date.parse(NOT_BEFORE) / 1000 - 1
const AFTER = Date.parse(NOT_BEFORE) / 1000
const revocation = (scope: Partial<Revocation>): Revocation => ({
  revocationId: revocationIdOf('onprem-a', scope),
  notBefore: NOT_BEFORE,
  createdAt: NOT_BEFORE,
  createdBy: 'local-admin',
  ...scope,
})
const TRAINER = 'system:serviceaccount:ml:trainer'

describe('revocationOf', () => {
  it('refuses a token in scope issued before notBefore, and not one issued at or after it', () => {
    const revocations = [revocation({ subject: TRAINER })]
    expect(revocationOf(revocations, { sub: TRAINER, iat: BEFORE }, 'readers')).toBe(revocations[0])
    expect(revocationOf(revocations, { sub: TRAINER, iat: AFTER }, 'readers')).toBeUndefined()
  })

  it('leaves a workload out of scope alone: another subject, another binding', () => {
    const revocations = [revocation({ subject: 'system:serviceaccount:ml:*', bindingId: 'readers' })]
    expect(
      revocationOf(revocations, { sub: 'system:serviceaccount:ml-x:trainer', iat: BEFORE }, 'readers'),
    ).toBeUndefined()
    expect(revocationOf(revocations, { sub: TRAINER, iat: BEFORE }, 'writers')).toBeUndefined()
    expect(revocationOf(revocations, { sub: TRAINER, iat: BEFORE }, 'readers')).toBe(revocations[0])
  })

  it('applies a revocation of the whole issuer to every binding', () => {
    const revocations = [revocation({})]
    expect(revocationOf(revocations, { sub: TRAINER, iat: BEFORE }, 'readers')).toBe(revocations[0])
    expect(revocationOf(revocations, { sub: TRAINER, iat: BEFORE }, 'writers')).toBe(revocations[0])
  })

  it('refuses a token in scope without iat: it cannot show it is newer', () => {
    expect(revocationOf([revocation({})], { sub: TRAINER }, 'readers')).toBeDefined()
  })
})

describe('withRevocation', () => {
  it('replaces the revocation of the same scope and keeps the others, in id order', () => {
    const first = revocation({ subject: TRAINER })
    const other = revocation({ bindingId: 'readers' })
    const moved = { ...first, notBefore: '2026-12-04T19:00:00.000Z' }
    const list = withRevocation(withRevocation([first], other), moved)
    expect(list).toHaveLength(2)
    expect(list.find((r) => r.revocationId === first.revocationId)?.notBefore).toBe(moved.notBefore)
    expect(list.map((r) => r.revocationId)).toEqual([...list.map((r) => r.revocationId)].sort())
  })
})
