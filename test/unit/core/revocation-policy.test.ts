import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { matchGlob } from '../../../shared/core/glob.js'
import {
  buildRevocationPolicies,
  globsMayOverlap,
  type RevocableBinding,
  RevocationPolicyError,
  revocationPolicyName,
} from '../../../shared/core/revocation-policy.js'
import { workloadName } from '../../../shared/core/workload-identity.js'
import { identityPolicyProblems } from '../../support/iam-policy-grammar.js'

const role = (name: string) => `arn:aws:iam::111122223333:role/${name}`
const sa = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`

const BINDINGS: RevocableBinding[] = [
  { bindingId: 'ml-readers', roleArn: role('ml-s3-reader'), subjects: [sa('ml', '*')] },
  { bindingId: 'ml-writers', roleArn: role('ml-s3-writer'), subjects: [sa('ml', 'trainer')] },
  { bindingId: 'ops', roleArn: role('team/ops-admin'), subjects: [sa('ops', '*')] },
  { bindingId: 'ml-readers-2', roleArn: role('ml-s3-reader'), subjects: [sa('ml-x', '*')] },
]
const ISSUED_BEFORE = new Date('2026-12-04T18:40:00.000Z')

const build = (scope: { bindingId?: string; subject?: string }, bindings = BINDINGS) =>
  buildRevocationPolicies({
    scope: { issuerId: 'onprem-a', ...scope },
    issuedBefore: ISSUED_BEFORE,
    issuerMode: 'broker',
    bindings,
  })

describe('buildRevocationPolicies', () => {
  it('denies every action to sessions of the issuer issued before the time, on every role its bindings hand out', () => {
    // Act
    const policies = build({})
    // Assess
    expect(policies.map((p) => p.roleArn)).toEqual([
      role('ml-s3-reader'),
      role('ml-s3-writer'),
      role('team/ops-admin'),
    ])
    expect(policies[0]?.bindingIds).toEqual(['ml-readers', 'ml-readers-2'])
    expect(policies[2]?.roleName).toBe('ops-admin')
    for (const policy of policies) {
      expect(policy.covers).toBe('scope')
      // A valid identity policy (IAM's grammar) of one statement: deny every action on every
      // resource, only to the issuer's sessions issued before the time.
      expect(identityPolicyProblems(JSON.stringify(policy.policy))).toEqual([])
      expect(policy.policy.Statement).toHaveLength(1)
      const [statement] = policy.policy.Statement
      expect([statement.Effect, statement.Action, statement.Resource]).toEqual(['Deny', '*', '*'])
      expect(statement.Condition).toEqual({
        DateLessThan: { 'aws:TokenIssueTime': '2026-12-04T18:40:00Z' },
        StringLike: { 'aws:SourceIdentity': ['onprem-a.*'] },
      })
    }
  })

  it('names only the role of the binding in scope', () => {
    // Act
    const policies = build({ bindingId: 'ops' })
    // Assess
    expect(policies.map((p) => p.roleArn)).toEqual([role('team/ops-admin')])
  })

  it('names, for an exact subject, the roles of the bindings that admit it and its source identity exactly', () => {
    // Act
    const policies = build({ subject: sa('ml', 'trainer') })
    // Assess
    expect(policies.map((p) => p.roleArn)).toEqual([role('ml-s3-reader'), role('ml-s3-writer')])
    expect(policies[0]?.bindingIds).toEqual(['ml-readers'])
    expect(policies[0]?.policy.Statement[0].Condition).toEqual({
      DateLessThan: { 'aws:TokenIssueTime': '2026-12-04T18:40:00Z' },
      StringEquals: { 'aws:SourceIdentity': [workloadName('onprem-a', sa('ml', 'trainer'))] },
    })
  })

  it('names, for a subject glob, the roles of every binding whose subjects may overlap it', () => {
    // Act
    const policies = build({ subject: sa('ml-*', '*') })
    // Assess
    expect(policies.map((p) => p.roleArn)).toEqual([role('ml-s3-reader')])
    expect(policies[0]?.bindingIds).toEqual(['ml-readers-2'])
    expect(policies[0]?.policy.Statement[0].Condition.StringLike).toEqual({
      // Readable names, then hashed ones (which keep only the start of the workload).
      'aws:SourceIdentity': ['onprem-a.ml-*.*', 'onprem-a.ml-*'],
    })
  })

  it('includes a binding without subjects (claim rules only): it may admit any subject', () => {
    // Prepare
    const bindings = [{ bindingId: 'claims-only', roleArn: role('by-claims') }]
    // Act
    const policies = build({ subject: sa('ml', 'trainer') }, bindings)
    // Assess
    expect(policies.map((p) => p.roleArn)).toEqual([role('by-claims')])
  })

  it('denies every session with a source identity on a role whose binding sets its own template', () => {
    // Prepare
    const bindings = [{ ...BINDINGS[1], sourceIdentity: 'team.{/sub}' } as RevocableBinding]
    // Act
    const [policy] = build({ subject: sa('ml', 'trainer') }, bindings)
    // Assess
    expect(policy?.covers).toBe('any-source-identity')
    expect(policy?.policy.Statement[0].Condition).toEqual({
      DateLessThan: { 'aws:TokenIssueTime': '2026-12-04T18:40:00Z' },
      Null: { 'aws:SourceIdentity': 'false' },
    })
  })

  it('denies every session of the role for a passthrough issuer, whose sessions carry no broker source identity', () => {
    // Act
    const [policy] = buildRevocationPolicies({
      scope: { issuerId: 'onprem-a', bindingId: 'ops' },
      issuedBefore: ISSUED_BEFORE,
      issuerMode: 'passthrough',
      bindings: BINDINGS,
    })
    // Assess
    expect(policy?.covers).toBe('all')
    expect(policy?.policy.Statement[0].Condition).toEqual({
      DateLessThan: { 'aws:TokenIssueTime': '2026-12-04T18:40:00Z' },
    })
  })

  it('rounds the time up to the whole second (aws:TokenIssueTime has seconds)', () => {
    // Act
    const [policy] = buildRevocationPolicies({
      scope: { issuerId: 'onprem-a' },
      issuedBefore: new Date('2026-12-04T18:40:00.001Z'),
      issuerMode: 'broker',
      bindings: BINDINGS,
    })
    // Assess
    expect(policy?.policy.Statement[0].Condition.DateLessThan['aws:TokenIssueTime']).toBe(
      '2026-12-04T18:40:01Z',
    )
  })

  it('refuses an unknown binding and a scope no binding covers, with codes', () => {
    expect(() => build({ bindingId: 'nope' })).toThrow(
      expect.objectContaining({ code: 'unknown_binding' }) as unknown as Error,
    )
    expect(() => build({ subject: sa('web', 'frontend') })).toThrow(RevocationPolicyError)
    expect(() => build({ subject: sa('web', 'frontend') })).toThrow(/no binding of issuer "onprem-a"/)
  })

  it('gives one scope one policy name, and another scope another', () => {
    // Act
    const names = [
      revocationPolicyName({ issuerId: 'onprem-a' }),
      revocationPolicyName({ issuerId: 'onprem-a' }),
      revocationPolicyName({ issuerId: 'onprem-a', bindingId: 'ops' }),
      revocationPolicyName({ issuerId: 'onprem-a', subject: 'ops' }),
    ]
    // Assess
    expect(names[0]).toBe(names[1])
    expect(new Set(names).size).toBe(3)
    for (const name of names) expect(name).toMatch(/^irsa-broker-revoke-r[\w-]{16}$/)
  })
})

describe('globsMayOverlap', () => {
  it('answers true whenever some string matches both globs', () => {
    const glob = fc.string({ unit: fc.constantFrom('a', 'b', ':', '*'), maxLength: 8 })
    const text = fc.string({ unit: fc.constantFrom('a', 'b', ':'), maxLength: 10 })
    fc.assert(
      fc.property(glob, glob, text, (a, b, value) => {
        if (matchGlob(a, value) && matchGlob(b, value)) expect(globsMayOverlap(a, b)).toBe(true)
      }),
      { numRuns: 5000 },
    )
  })

  it('tells apart globs with different fixed starts or ends', () => {
    expect(globsMayOverlap(sa('ml', '*'), sa('ops', '*'))).toBe(false)
    expect(globsMayOverlap('*:trainer', '*:writer')).toBe(false)
    expect(globsMayOverlap(sa('ml-*', '*'), sa('ml', 'trainer'))).toBe(false)
  })
})
