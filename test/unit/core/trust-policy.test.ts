import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { matchGlob } from '../../../shared/core/glob.js'
import {
  buildTrustPolicy,
  iamStringLikePattern,
  oidcProviderHostPath,
  TrustPolicyError,
} from '../../../shared/core/trust-policy.js'
import { makeBinding, thrownBy } from '../fixtures.js'

const BROKER = 'https://irsa-broker.example.com'

/**
 * IAM's StringLike as the policy language defines it: `*` any run of characters, `?` exactly
 * one, `${*}` `${?}` `${$}` the literal character; everything else literal. Written from the
 * IAM reference, independently of the module under test.
 */
const iamStringLike = (pattern: string, value: string): boolean => {
  let regex = '^'
  for (let i = 0; i < pattern.length; i++) {
    const escaped = /^\$\{([*?$])\}/.exec(pattern.slice(i))
    if (escaped?.[1]) {
      regex += `\\${escaped[1]}`
      i += escaped[0].length - 1
    } else if (pattern[i] === '*') regex += '[\\s\\S]*'
    else if (pattern[i] === '?') regex += '[\\s\\S]'
    else regex += (pattern[i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`${regex}$`, 'u').test(value)
}

describe('buildTrustPolicy', () => {
  it('trusts the broker provider of the role account for the three STS actions, aud sts.amazonaws.com and the binding subject', () => {
    // Prepare
    const binding = makeBinding({ subjects: ['system:serviceaccount:ml:*'] })

    // Act
    const policy = buildTrustPolicy({ issuerUrl: BROKER, binding })

    // Assess
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: 'arn:aws:iam::111122223333:oidc-provider/irsa-broker.example.com' },
          Action: ['sts:AssumeRoleWithWebIdentity', 'sts:TagSession', 'sts:SetSourceIdentity'],
          Condition: {
            StringEquals: { 'irsa-broker.example.com:aud': 'sts.amazonaws.com' },
            StringLike: { 'irsa-broker.example.com:sub': ['onprem-a:system:serviceaccount:ml:*'] },
          },
        },
      ],
    })
  })

  it('lists one sub pattern per binding subject, in order, each once', () => {
    // Prepare
    const binding = makeBinding({
      subjects: [
        'system:serviceaccount:ml:trainer',
        'system:serviceaccount:ops:*',
        'system:serviceaccount:ml:trainer',
      ],
    })

    // Act
    const policy = buildTrustPolicy({ issuerUrl: BROKER, binding })

    // Assess
    expect(policy.Statement[0].Condition.StringLike).toEqual({
      'irsa-broker.example.com:sub': [
        'onprem-a:system:serviceaccount:ml:trainer',
        'onprem-a:system:serviceaccount:ops:*',
      ],
    })
  })

  it('names provider and condition keys by host and path, lowercase host, no trailing slash', () => {
    // Prepare
    const binding = makeBinding()

    // Act
    const policy = buildTrustPolicy({ issuerUrl: 'https://API.Example.com/brokers/Prod/', binding })

    // Assess
    const [statement] = policy.Statement
    expect(statement.Principal.Federated).toBe(
      'arn:aws:iam::111122223333:oidc-provider/api.example.com/brokers/Prod',
    )
    expect(Object.keys(statement.Condition.StringEquals)).toEqual(['api.example.com/brokers/Prod:aud'])
    expect(Object.keys(statement.Condition.StringLike)).toEqual(['api.example.com/brokers/Prod:sub'])
  })

  it("takes the partition from the role ARN, so the provider ARN lives in the role's partition", () => {
    // Prepare
    const binding = makeBinding({ roleArn: 'arn:aws-cn:iam::111122223333:role/reader' })

    // Act
    const policy = buildTrustPolicy({ issuerUrl: BROKER, binding })

    // Assess
    expect(policy.Statement[0].Principal.Federated).toBe(
      'arn:aws-cn:iam::111122223333:oidc-provider/irsa-broker.example.com',
    )
  })

  it('accepts an accountId equal to the role account and refuses another one with account_mismatch', () => {
    // Prepare
    const binding = makeBinding()

    // Act
    const same = buildTrustPolicy({ issuerUrl: BROKER, accountId: '111122223333', binding })
    const other = thrownBy(() => buildTrustPolicy({ issuerUrl: BROKER, accountId: '444455556666', binding }))
    const malformed = thrownBy(() => buildTrustPolicy({ issuerUrl: BROKER, accountId: '1111', binding }))

    // Assess
    expect(same).toEqual(buildTrustPolicy({ issuerUrl: BROKER, binding }))
    expect(other).toBeInstanceOf(TrustPolicyError)
    expect(other).toMatchObject({ code: 'account_mismatch' })
    expect(malformed).toMatchObject({ code: 'invalid_account_id' })
  })

  it('refuses a role ARN that is not an IAM role with invalid_role_arn', () => {
    // Prepare
    const binding = makeBinding({ roleArn: 'arn:aws:iam::111122223333:user/alice' })

    // Act
    const error = thrownBy(() => buildTrustPolicy({ issuerUrl: BROKER, binding }))

    // Assess
    expect(error).toMatchObject({ name: 'TrustPolicyError', code: 'invalid_role_arn' })
  })

  it.each([
    'http://irsa-broker.example.com',
    'https://irsa-broker.example.com:8443',
    'https://user:secret@irsa-broker.example.com',
    'https://irsa-broker.example.com/?tenant=a',
    'https://irsa-broker.example.com/#keys',
    'irsa-broker.example.com',
  ])('refuses the issuer URL %j with invalid_issuer_url', (issuerUrl) => {
    // Act
    const error = thrownBy(() => buildTrustPolicy({ issuerUrl, binding: makeBinding() }))

    // Assess
    expect(error).toMatchObject({ name: 'TrustPolicyError', code: 'invalid_issuer_url' })
  })

  it('refuses a binding with claim rules only (binding_without_subjects), naming the binding and the way out', () => {
    // Prepare
    const { subjects: _omitted, ...rest } = makeBinding({ claims: { '/kubernetes.io/namespace': ['ml'] } })

    // Act
    const error = thrownBy(() => buildTrustPolicy({ issuerUrl: BROKER, binding: rest }))

    // Assess
    expect(error).toMatchObject({ code: 'binding_without_subjects' })
    expect((error as Error).message).toContain('onprem-a/ml-readers')
    expect((error as Error).message).toContain('"onprem-a:*"')
  })

  it('trusts every workload of the issuer (<issuerId>:*) for a claims-only binding when allowAnyWorkloadOfIssuer says so', () => {
    // Prepare
    const binding = makeBinding({ subjects: [], claims: { '/kubernetes.io/namespace': ['ml'] } })

    // Act
    const policy = buildTrustPolicy({ issuerUrl: BROKER, binding, allowAnyWorkloadOfIssuer: true })

    // Assess
    expect(policy.Statement[0].Condition.StringLike).toEqual({
      'irsa-broker.example.com:sub': ['onprem-a:*'],
    })
  })

  it('escapes ? and $ so IAM matches them literally, as the broker does, and keeps * a wildcard', () => {
    // Act
    const pattern = iamStringLikePattern('a?b$c*')

    // Assess
    // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM's escapes, not a JavaScript template
    expect(pattern).toBe('a${?}b${$}c*')
    expect(iamStringLike(pattern, 'a?b$c-anything')).toBe(true)
    expect(iamStringLike(pattern, 'axb$c')).toBe(false)
  })

  it('admits in IAM exactly the subs the broker glob admits (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', ':', '*', '?', '$', '{', '}', '-')
    fc.assert(
      fc.property(
        fc.string({ unit: alphabet, maxLength: 8 }),
        fc.string({ unit: alphabet, maxLength: 8 }),
        (glob, sub) => {
          // Prepare
          const binding = makeBinding({ subjects: [glob] })

          // Act
          const patterns =
            buildTrustPolicy({ issuerUrl: BROKER, binding }).Statement[0].Condition.StringLike[
              'irsa-broker.example.com:sub'
            ] ?? []

          // Assess
          expect(patterns).toHaveLength(1)
          expect(iamStringLike(patterns[0] ?? '', `onprem-a:${sub}`)).toBe(matchGlob(glob, sub))
        },
      ),
      { numRuns: 2000 },
    )
  })
})

describe('oidcProviderHostPath', () => {
  it('is the issuer URL without scheme and trailing slash', () => {
    // Act
    const hostPath = oidcProviderHostPath('https://abc123.execute-api.eu-west-1.amazonaws.com/')

    // Assess
    expect(hostPath).toBe('abc123.execute-api.eu-west-1.amazonaws.com')
  })
})
