// One describe per row of the precedence table in docs/decisions.md ("Webhook"), P1–P13.
import { describe, expect, it } from 'vitest'
import type { WebhookRule } from '../../../dataplane/core/index.js'
import {
  container,
  envOf,
  initContainerNames,
  type Json,
  podOf,
  tokenExpirationOf,
  wire,
} from './fixtures.js'

const NO_SA = { name: 'app', annotations: {} }
const sa = (annotations: Record<string, string>) => ({ name: 'app', annotations })
const podWith = (annotations: Record<string, string> = {}, labels: Record<string, string> = {}) =>
  podOf({ containers: [container('app')] }, { generateName: 'app-', annotations, labels })

const expirationOf = tokenExpirationOf

describe('P1 only a Pod CREATE is wired', () => {
  it.each([
    ['UPDATE', { operation: 'UPDATE' }],
    ['DELETE', { operation: 'DELETE' }],
    ['a Deployment', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }],
    ['pods/binding', { subResource: 'binding' }],
  ])('answers no patch for %s even when everything asks', (_name, overrides) => {
    const { result } = wire(podWith({ 'irsa-broker.io/role': 'ml-reader' }), {
      namespaceInjection: true,
      ...overrides,
    })
    expect(result).toMatchObject({ outcome: 'skipped', patch: [] })
  })
})

describe('P2 kube-system and the webhook namespace', () => {
  it.each(['kube-system', 'irsa-broker'])(
    'never wires %s, even with a Pod annotation, a rule and the label',
    (namespace) => {
      const rules: WebhookRule[] = [{ namespaces: ['*'], role: 'ml-reader' }]
      const { result } = wire(podWith({ 'irsa-broker.io/role': 'ml-reader' }), {
        namespace,
        namespaceInjection: true,
        rules,
      })
      expect(result).toMatchObject({ outcome: 'skipped', patch: [] })
    },
  )
})

describe('P3 the pod opt-out label', () => {
  it('wins over a Pod annotation, the ServiceAccount, a rule and the namespace label', () => {
    const pod = podWith({ 'irsa-broker.io/role': 'ml-reader' }, { 'irsa-broker.io/inject': 'false' })
    const { result } = wire(pod, {
      namespaceInjection: true,
      serviceAccount: sa({ 'irsa-broker.io/role': 'ml-reader' }),
      rules: [{ namespaces: ['*'] }],
    })
    expect(result).toMatchObject({ outcome: 'not-selected', reason: 'opted-out', patch: [] })
  })

  it('is only the exact value "false" (as the objectSelector reads it)', () => {
    const pod = podWith({}, { 'irsa-broker.io/inject': 'False' })
    expect(wire(pod, { namespaceInjection: true }).result.outcome).toBe('mutated')
  })
})

describe('P4 mirror pods', () => {
  it('never wires a pod with kubernetes.io/config.mirror, even when it asks', () => {
    const pod = podWith({ 'kubernetes.io/config.mirror': 'x', 'irsa-broker.io/role': 'ml-reader' })
    expect(wire(pod, { namespaceInjection: true }).result).toMatchObject({
      outcome: 'skipped',
      reason: 'mirror-pod',
    })
  })
})

describe('P5 what asks for wiring', () => {
  it.each([
    ['a Pod role annotation', podWith({ 'irsa-broker.io/role': 'ml-reader' }), {}, 'pod'],
    ['a Pod role annotation with a bad value', podWith({ 'irsa-broker.io/role': '!!' }), {}, 'pod'],
    ['a Pod profiles: "true"', podWith({ 'irsa-broker.io/profiles': 'TRUE' }), {}, 'pod'],
    [
      'a ServiceAccount role annotation',
      podWith(),
      { serviceAccount: sa({ 'irsa-broker.io/role': 'x' }) },
      'service-account',
    ],
    [
      'a ServiceAccount profiles: "true"',
      podWith(),
      { serviceAccount: sa({ 'irsa-broker.io/profiles': 'true' }) },
      'service-account',
    ],
    ['a matching rule', podWith(), { rules: [{ namespaces: ['team-*'] }] }, 'rule'],
    ['the namespace label', podWith(), { namespaceInjection: true }, 'namespace'],
  ] as const)('wires a pod when %s asks', (_name, pod, overrides, selectedBy) => {
    const { result } = wire(pod, { serviceAccount: NO_SA, ...overrides })
    expect(result).toMatchObject({ outcome: 'mutated', selectedBy })
  })

  it.each([
    ['nothing at all', podWith(), {}],
    ['only a token-expiration annotation', podWith({ 'irsa-broker.io/token-expiration': '900' }), {}],
    ['only profiles: "false"', podWith({ 'irsa-broker.io/profiles': 'false' }), {}],
    ['only a containers list', podWith({ 'irsa-broker.io/containers': 'app' }), {}],
    ['a rule for another namespace', podWith(), { rules: [{ namespaces: ['team-b'] }] }],
  ] as const)('does not wire a pod when %s is there', (_name, pod, overrides) => {
    const { result } = wire(pod, { serviceAccount: NO_SA, ...overrides })
    expect(result).toMatchObject({ outcome: 'not-selected', reason: 'not-requested' })
  })

  it('names the first asker in table order when several ask', () => {
    const { result } = wire(podWith({ 'irsa-broker.io/role': 'a' }), {
      serviceAccount: sa({ 'irsa-broker.io/role': 'b' }),
      rules: [{ namespaces: ['*'] }],
      namespaceInjection: true,
    })
    expect(result.selectedBy).toBe('pod')
  })

  it('still warns about a bad annotation on a pod it does not wire', () => {
    const { result } = wire(podWith({ 'irsa-broker.io/profiles': 'yes' }), { serviceAccount: NO_SA })
    expect(result).toMatchObject({
      outcome: 'not-selected',
      warnings: ['Pod irsa-broker.io/profiles "yes" is not "true" or "false"; ignored'],
    })
  })
})

describe('P6 the default role', () => {
  const rules: WebhookRule[] = [{ namespaces: ['*'], role: 'from-rule' }]
  const roleOf = (pod: Json, overrides: Parameters<typeof wire>[1]) => {
    const { result, patched } = wire(pod, overrides)
    const uri = envOf(patched, 'containers', 0).AWS_CONTAINER_CREDENTIALS_FULL_URI ?? ''
    expect(new URL(uri).searchParams.get('role') ?? undefined).toBe(result.role)
    return { role: result.role, warnings: result.warnings }
  }

  it('takes the Pod annotation over the ServiceAccount and the rule', () => {
    expect(
      roleOf(podWith({ 'irsa-broker.io/role': 'from-pod' }), {
        serviceAccount: sa({ 'irsa-broker.io/role': 'from-sa' }),
        rules,
      }).role,
    ).toBe('from-pod')
  })

  it('takes the ServiceAccount annotation over the rule', () => {
    expect(roleOf(podWith(), { serviceAccount: sa({ 'irsa-broker.io/role': 'from-sa' }), rules }).role).toBe(
      'from-sa',
    )
  })

  it('takes the rule when no annotation names a role', () => {
    expect(roleOf(podWith(), { serviceAccount: NO_SA, rules }).role).toBe('from-rule')
  })

  it('leaves the role to the broker (no ?role=) when nothing names one', () => {
    expect(roleOf(podWith(), { serviceAccount: NO_SA, namespaceInjection: true }).role).toBeUndefined()
  })

  it('trims spaces around a role', () => {
    expect(roleOf(podWith({ 'irsa-broker.io/role': '  ml-reader ' }), {}).role).toBe('ml-reader')
  })
})

describe('P7 profiles', () => {
  const hasProfiles = (pod: Json, overrides: Parameters<typeof wire>[1]) => {
    const { result, patched } = wire(pod, overrides)
    expect(initContainerNames(patched).includes('irsa-broker-configure')).toBe(result.profiles)
    expect('AWS_CONFIG_FILE' in envOf(patched, 'containers', 0)).toBe(result.profiles)
    return result.profiles
  }

  it('takes a Pod "false" over a ServiceAccount "true"', () => {
    expect(
      hasProfiles(podWith({ 'irsa-broker.io/profiles': 'false' }), {
        serviceAccount: sa({ 'irsa-broker.io/profiles': 'true' }),
      }),
    ).toBe(false)
  })

  it('takes a Pod "true" over a ServiceAccount "false" and a rule false', () => {
    const rules: WebhookRule[] = [{ namespaces: ['*'], profiles: false }]
    expect(
      hasProfiles(podWith({ 'irsa-broker.io/profiles': 'true' }), {
        serviceAccount: sa({ 'irsa-broker.io/profiles': 'false' }),
        rules,
      }),
    ).toBe(true)
  })

  it('takes the ServiceAccount over the rule', () => {
    const rules: WebhookRule[] = [{ namespaces: ['*'], profiles: true }]
    expect(
      hasProfiles(podWith(), {
        serviceAccount: sa({ 'irsa-broker.io/role': 'r', 'irsa-broker.io/profiles': 'false' }),
        rules,
      }),
    ).toBe(false)
  })

  it('takes the rule when no annotation says', () => {
    expect(
      hasProfiles(podWith(), { serviceAccount: NO_SA, rules: [{ namespaces: ['*'], profiles: true }] }),
    ).toBe(true)
  })

  it('is off when nothing says', () => {
    expect(hasProfiles(podWith(), { serviceAccount: NO_SA, namespaceInjection: true })).toBe(false)
  })
})

describe('P8 token lifetime', () => {
  const rules: WebhookRule[] = [{ namespaces: ['*'], tokenExpiration: 1200 }]

  it('takes the Pod annotation over the ServiceAccount, the rule and the default', () => {
    const { patched } = wire(podWith({ 'irsa-broker.io/token-expiration': '900' }), {
      serviceAccount: sa({ 'irsa-broker.io/role': 'r', 'irsa-broker.io/token-expiration': '1800' }),
      rules,
    })
    expect(expirationOf(patched)).toBe(900)
  })

  it('takes the ServiceAccount over the rule', () => {
    const { patched } = wire(podWith(), {
      serviceAccount: sa({ 'irsa-broker.io/role': 'r', 'irsa-broker.io/token-expiration': '1800' }),
      rules,
    })
    expect(expirationOf(patched)).toBe(1800)
  })

  it('takes the rule over the default', () => {
    expect(expirationOf(wire(podWith(), { serviceAccount: NO_SA, rules }).patched)).toBe(1200)
  })

  it('takes the default (settings) when nothing says', () => {
    expect(expirationOf(wire(podWith(), { serviceAccount: NO_SA, namespaceInjection: true }).patched)).toBe(
      3600,
    )
  })
})

describe('P9 an unusable value counts as absent, with a warning', () => {
  it('falls from a bad Pod role to the ServiceAccount role', () => {
    const { result } = wire(podWith({ 'irsa-broker.io/role': 'has space' }), {
      serviceAccount: sa({ 'irsa-broker.io/role': 'from-sa' }),
    })
    expect(result.role).toBe('from-sa')
    expect(result.warnings).toEqual([
      'Pod irsa-broker.io/role "has space" is not a profile name or role ARN; ignored',
    ])
  })

  it('falls from a bad ServiceAccount role to the rule role', () => {
    const { result } = wire(podWith(), {
      serviceAccount: sa({ 'irsa-broker.io/role': 'arn:aws:iam::12:role/short-account' }),
      rules: [{ namespaces: ['*'], role: 'from-rule' }],
    })
    expect(result.role).toBe('from-rule')
    expect(result.warnings).toHaveLength(1)
  })

  it('falls from a bad Pod profiles value to the ServiceAccount one', () => {
    const { result } = wire(podWith({ 'irsa-broker.io/profiles': 'on' }), {
      serviceAccount: sa({ 'irsa-broker.io/role': 'r', 'irsa-broker.io/profiles': 'true' }),
    })
    expect(result.profiles).toBe(true)
    expect(result.warnings).toEqual(['Pod irsa-broker.io/profiles "on" is not "true" or "false"; ignored'])
  })

  it('falls from a bad lifetime to the rule one', () => {
    const { patched, result } = wire(podWith({ 'irsa-broker.io/token-expiration': '60' }), {
      serviceAccount: sa({ 'irsa-broker.io/role': 'r', 'irsa-broker.io/token-expiration': 'NaN' }),
      rules: [{ namespaces: ['*'], tokenExpiration: 1200 }],
    })
    expect(expirationOf(patched)).toBe(1200)
    expect(result.warnings).toEqual([
      'Pod irsa-broker.io/token-expiration "60" is below 600; ignored',
      'ServiceAccount irsa-broker.io/token-expiration "NaN" is not a whole number of seconds; ignored',
    ])
  })

  it('never echoes more than a bounded, printable part of a bad value', () => {
    const { result } = wire(podWith({ 'irsa-broker.io/role': `\u0000\n${'é'.repeat(10_000)}` }))
    expect(result.warnings).toEqual([
      `Pod irsa-broker.io/role "${'?'.repeat(24)}..." is not a profile name or role ARN; ignored`,
    ])
  })
})

describe('P10 rules: ordered, first match', () => {
  const pod = podOf(
    { containers: [container('app')] },
    { generateName: 'a-', labels: { tier: 'batch', team: 'ml' } },
  )
  const roleFor = (rules: WebhookRule[], serviceAccountName = 'app') => {
    const subject = { ...pod, spec: { ...(pod.spec as Json), serviceAccountName } }
    const { result } = wire(subject, { serviceAccount: NO_SA, rules })
    return result.outcome === 'mutated' ? { role: result.role, ruleIndex: result.ruleIndex } : result.reason
  }

  it('takes the first matching rule and does not look further', () => {
    expect(
      roleFor([
        { namespaces: ['team-*'], role: 'first' },
        { namespaces: ['*'], role: 'second' },
      ]),
    ).toEqual({ role: 'first', ruleIndex: 0 })
  })

  it('passes a rule whose namespaces do not match', () => {
    expect(
      roleFor([
        { namespaces: ['prod-*'], role: 'first' },
        { namespaces: ['*'], role: 'second' },
      ]),
    ).toEqual({ role: 'second', ruleIndex: 1 })
  })

  it('passes a rule whose serviceAccounts do not match, and matches ServiceAccount globs', () => {
    const rules: WebhookRule[] = [
      { namespaces: ['*'], serviceAccounts: ['builder'], role: 'first' },
      { namespaces: ['*'], serviceAccounts: ['trainer-*'], role: 'second' },
    ]
    expect(roleFor(rules, 'trainer-gpu')).toEqual({ role: 'second', ruleIndex: 1 })
    expect(roleFor(rules, 'app')).toBe('not-requested')
  })

  it.each([
    [{ matchLabels: { tier: 'batch' } }, true],
    [{ matchLabels: { tier: 'web' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['batch', 'etl'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['batch'] }] }, false],
    [{ matchExpressions: [{ key: 'absent', operator: 'NotIn' as const, values: ['x'] }] }, true],
    [{ matchExpressions: [{ key: 'team', operator: 'Exists' as const }] }, true],
    [{ matchExpressions: [{ key: 'absent', operator: 'Exists' as const }] }, false],
    [{ matchExpressions: [{ key: 'absent', operator: 'DoesNotExist' as const }] }, true],
    [{ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' as const }] }, false],
    [
      {
        matchLabels: { team: 'ml' },
        matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['web'] }],
      },
      false,
    ],
    [{}, true],
  ])('applies podSelector %j: matches = %s', (podSelector, matches) => {
    const outcome = roleFor([{ namespaces: ['*'], podSelector, role: 'r' }])
    expect(outcome).toEqual(matches ? { role: 'r', ruleIndex: 0 } : 'not-requested')
  })
})

describe('P11 containers lists', () => {
  const pod = (annotations: Record<string, string>) =>
    podOf(
      { initContainers: [container('init')], containers: [container('app'), container('sidecar')] },
      { generateName: 'a-', annotations },
    )

  it.each([
    [{}, ['init', 'app', 'sidecar']],
    [{ 'irsa-broker.io/containers': 'app' }, ['app']],
    [{ 'irsa-broker.io/skip-containers': 'sidecar' }, ['init', 'app']],
    [{ 'irsa-broker.io/containers': 'app,sidecar', 'irsa-broker.io/skip-containers': 'sidecar' }, ['app']],
    [{ 'irsa-broker.io/containers': 'init' }, ['init']],
  ])('selects by %j', (annotations, wired) => {
    expect(wire(pod(annotations)).result.containers).toEqual(wired)
  })

  it('reads the lists on the Pod only, never on the ServiceAccount', () => {
    const { result } = wire(pod({}), {
      serviceAccount: sa({ 'irsa-broker.io/role': 'r', 'irsa-broker.io/skip-containers': 'app' }),
    })
    expect(result.containers).toEqual(['init', 'app', 'sidecar'])
  })
})

describe('P12 groups of variables', () => {
  it('adds the groups the user did not set, whole, and leaves the ones they did', async () => {
    const { settingsOf } = await import('./fixtures.js')
    const env = [{ name: 'AWS_DEFAULT_REGION', value: 'us-east-1' }]
    const { patched } = wire(
      podOf({ containers: [container('app', { env })] }),
      {},
      settingsOf({ region: 'eu-west-1' }),
    )
    expect(Object.keys(envOf(patched, 'containers', 0))).toEqual([
      'AWS_DEFAULT_REGION',
      'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
    ])
  })
})

describe('P13 Windows', () => {
  it('uses the Windows token path and no profiles', () => {
    const pod = podOf({ os: { name: 'windows' }, containers: [container('app')] })
    const { result, patched } = wire(pod, {
      serviceAccount: sa({ 'irsa-broker.io/role': 'r', 'irsa-broker.io/profiles': 'true' }),
    })
    expect(result.profiles).toBe(false)
    expect(envOf(patched, 'containers', 0).AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).toMatch(/^C:\\var\\run\\/)
  })
})
