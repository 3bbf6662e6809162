import { describe, expect, it } from 'vitest'
import { matchAnyGlob } from '../../../shared/core/glob.js'
import { sanitizeSessionName } from '../../../shared/core/templates.js'
import {
  fitName,
  STS_NAME_PATTERN,
  workloadName,
  workloadNamePatterns,
} from '../../../shared/core/workload-identity.js'

const sa = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`

describe('workloadName', () => {
  it('reads <issuerId>.<namespace>.<serviceaccount> for a ServiceAccount that fits', () => {
    expect(workloadName('onprem-a', sa('ml', 'trainer'))).toBe('onprem-a.ml.trainer')
  })

  it('reads <issuerId>.<sub> for a sub without dots that is not a ServiceAccount', () => {
    expect(workloadName('github', 'repo-octo-ci')).toBe('github.repo-octo-ci')
  })

  it('tells ml-x/trainer from ml/x-trainer, which the sub-based session name confused', () => {
    // Prepare: what the broker named both sessions before (docs/decisions.md).
    expect(sanitizeSessionName(sa('ml-x', 'trainer'))).toBe(sanitizeSessionName(sa('ml', 'x-trainer')))
    // Act
    const a = workloadName('onprem-a', sa('ml-x', 'trainer'))
    const b = workloadName('onprem-a', sa('ml', 'x-trainer'))
    // Assess
    expect(a).toBe('onprem-a.ml-x.trainer')
    expect(b).toBe('onprem-a.ml.x-trainer')
  })

  it('gives two long namespaces that share their first 64 characters two names, each with a hash', () => {
    // Prepare
    const namespace = 'n'.repeat(63)
    // Act
    const a = workloadName('onprem-a', sa(namespace, 'trainer'))
    const b = workloadName('onprem-a', sa(namespace, 'trainer2'))
    // Assess
    expect(a).not.toBe(b)
    for (const name of [a, b]) {
      expect(name).toMatch(STS_NAME_PATTERN)
      expect(name).toHaveLength(64)
      expect(name).toMatch(/^onprem-a\.n+=[\w-]{20}$/)
    }
  })

  it('hashes a name whose parts could be read two ways: a dotted issuerId or namespace, a dotted non-ServiceAccount sub', () => {
    for (const [issuerId, sub] of [
      ['a.b', sa('c', 'd')],
      ['a', sa('b.c', 'd')],
      ['a', 'b.c.d'],
    ] as const) {
      expect(workloadName(issuerId, sub)).toMatch(/=[\w-]{20}$/)
      expect(workloadName(issuerId, sub)).not.toBe('a.b.c.d')
    }
  })

  it('replaces what STS refuses in the readable part of a hashed name and keeps the issuerId in front', () => {
    // Act
    const name = workloadName('onprem-a', 'user:alice@example.com')
    // Assess
    expect(name).toMatch(/^onprem-a\.user-alice@example\.com=[\w-]{20}$/)
  })
})

describe('fitName', () => {
  it('keeps a valid name as it is', () => {
    expect(fitName('ml.trainer')).toBe('ml.trainer')
  })

  it('hashes what is too long, too short, STS-invalid, or shaped like a hashed name', () => {
    for (const text of ['x'.repeat(65), 'x', '', 'ml:trainer', `ml=${'a'.repeat(20)}`]) {
      const name = fitName(text)
      expect(name).toMatch(STS_NAME_PATTERN)
      expect(name).toMatch(/=[\w-]{20}$/)
      expect(name).not.toBe(text)
    }
  })
})

describe('workloadNamePatterns', () => {
  it('covers a namespace with one pattern, readable and hashed names alike', () => {
    // Act
    const patterns = workloadNamePatterns('onprem-a', sa('ml', '*'))
    // Assess
    expect(patterns).toEqual(['onprem-a.ml.*'])
    expect(matchAnyGlob(patterns, workloadName('onprem-a', sa('ml', 'trainer')))).toBe(true)
    expect(matchAnyGlob(patterns, workloadName('onprem-a', sa('ml', 't'.repeat(80))))).toBe(true)
  })

  it('does not cover a workload of another namespace, another issuer or the neighbour ml-x', () => {
    // Act
    const patterns = workloadNamePatterns('onprem-a', sa('ml', '*'))
    // Assess
    expect(matchAnyGlob(patterns, workloadName('onprem-a', sa('ml-x', 'trainer')))).toBe(false)
    expect(matchAnyGlob(patterns, workloadName('onprem-a', sa('ops', 'trainer')))).toBe(false)
    expect(matchAnyGlob(patterns, workloadName('onprem-b', sa('ml', 'trainer')))).toBe(false)
  })

  it('covers the whole issuer for a glob that may match ServiceAccounts and other subjects', () => {
    expect(workloadNamePatterns('onprem-a', 'system:*')).toEqual(['onprem-a.*'])
    expect(workloadNamePatterns('onprem-a', '*')).toEqual(['onprem-a.*'])
  })

  it('keeps a long issuerId whole for readable names and its head for hashed ones', () => {
    // Prepare
    const issuerId = 'i'.repeat(50)
    // Act
    const patterns = workloadNamePatterns(issuerId)
    // Assess
    expect(patterns).toEqual([`${issuerId}.*`, `${'i'.repeat(42)}.*`])
  })
})
