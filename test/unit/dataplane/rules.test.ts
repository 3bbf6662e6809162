// The rules file and the webhook settings: what parses, and the message (naming the field) for
// what does not.
import { describe, expect, it } from 'vitest'
import { parseWebhookRules, parseWebhookSettings } from '../../../dataplane/core/index.js'

describe('parseWebhookRules', () => {
  it('reads YAML with every field, and the same rules written as JSON', () => {
    const yaml = `
rules:
  - namespaces: ["team-*"]
    serviceAccounts: [trainer, "etl-*"]
    podSelector:
      matchLabels: { app.kubernetes.io/name: trainer }
      matchExpressions:
        - { key: tier, operator: In, values: [batch] }
        - { key: debug, operator: DoesNotExist }
    role: ml-reader
    profiles: true
    tokenExpiration: 1800
  - namespaces: ["*"]
    role: arn:aws:iam::111122223333:role/default-reader
`
    const parsed = parseWebhookRules(yaml)
    const expected = [
      {
        namespaces: ['team-*'],
        serviceAccounts: ['trainer', 'etl-*'],
        podSelector: {
          matchLabels: { 'app.kubernetes.io/name': 'trainer' },
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['batch'] },
            { key: 'debug', operator: 'DoesNotExist' },
          ],
        },
        role: 'ml-reader',
        profiles: true,
        tokenExpiration: 1800,
      },
      { namespaces: ['*'], role: 'arn:aws:iam::111122223333:role/default-reader' },
    ]
    expect(parsed).toEqual({ ok: true, rules: expected })
    expect(parseWebhookRules(JSON.stringify({ rules: expected }))).toEqual({ ok: true, rules: expected })
  })

  it.each([
    ['an empty file', ''],
    ['only a comment', '# no rules yet\n'],
    ['an empty list', 'rules: []'],
  ])('reads %s as no rules', (_name, text) => {
    expect(parseWebhookRules(text)).toEqual({ ok: true, rules: [] })
  })

  it.each([
    ['an unknown top-level field', 'rules: []\nversion: 2', 'version: is not a known field'],
    [
      'an unknown rule field',
      'rules: [{namespaces: [a], roles: [x]}]',
      'rules[0].roles: is not a known field',
    ],
    [
      'a rule without namespaces',
      'rules: [{role: x}]',
      'rules[0].namespaces: Invalid input: expected array, received undefined',
    ],
    [
      'an empty namespaces list',
      'rules: [{namespaces: []}]',
      'rules[0].namespaces: Too small: expected array to have >=1 items',
    ],
    [
      'an upper-case namespace',
      'rules: [{namespaces: [Team]}]',
      'rules[0].namespaces[0]: must be a namespace name or a * glob of one',
    ],
    [
      'a bad ServiceAccount glob',
      'rules: [{namespaces: [a], serviceAccounts: ["a b"]}]',
      'rules[0].serviceAccounts[0]: must be a ServiceAccount name or a * glob of one',
    ],
    [
      'a bad role',
      'rules: [{namespaces: [a], role: "a b"}]',
      'rules[0].role: must be a binding profile (letters, digits, ".", "_", "-") or an IAM role ARN',
    ],
    [
      'profiles as a string',
      'rules: [{namespaces: [a], profiles: "true"}]',
      'rules[0].profiles: Invalid input: expected boolean, received string',
    ],
    [
      'a lifetime below 600',
      'rules: [{namespaces: [a], tokenExpiration: 599}]',
      'rules[0].tokenExpiration: Too small: expected number to be >=600',
    ],
    [
      'a lifetime above a day',
      'rules: [{namespaces: [a], tokenExpiration: 86401}]',
      'rules[0].tokenExpiration: Too big: expected number to be <=86400',
    ],
    [
      'a fractional lifetime',
      'rules: [{namespaces: [a], tokenExpiration: 900.5}]',
      'rules[0].tokenExpiration: Invalid input: expected int, received number',
    ],
    [
      'an unknown operator',
      'rules: [{namespaces: [a], podSelector: {matchExpressions: [{key: k, operator: Gt, values: ["1"]}]}}]',
      'rules[0].podSelector.matchExpressions[0].operator: Invalid option: expected one of "In"|"NotIn"|"Exists"|"DoesNotExist"',
    ],
    [
      'In without values',
      'rules: [{namespaces: [a], podSelector: {matchExpressions: [{key: k, operator: In}]}}]',
      'rules[0].podSelector.matchExpressions[0].values: must not be empty for In',
    ],
    [
      'Exists with values',
      'rules: [{namespaces: [a], podSelector: {matchExpressions: [{key: k, operator: Exists, values: [x]}]}}]',
      'rules[0].podSelector.matchExpressions[0].values: must be empty for Exists',
    ],
    [
      'an unknown selector field',
      'rules: [{namespaces: [a], podSelector: {matchLabel: {a: b}}}]',
      'rules[0].podSelector.matchLabel: is not a known field',
    ],
    [
      'a bad label key',
      'rules: [{namespaces: [a], podSelector: {matchLabels: {"a b": c}}}]',
      'rules[0].podSelector.matchLabels.a b: is not a label key',
    ],
    ['a list at the top', '- namespaces: [a]', 'Invalid input: expected object, received array'],
  ])('refuses %s, naming the field', (_name, text, message) => {
    expect(parseWebhookRules(text)).toEqual({ ok: false, message })
  })

  it('refuses text that is not YAML, with the position', () => {
    expect(parseWebhookRules('rules: [\n  {namespaces: [a]\n')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^the rules file is not YAML or JSON \(line \d+, column \d+\)$/),
    })
  })

  it('refuses duplicate keys', () => {
    expect(parseWebhookRules('rules: []\nrules: []')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^the rules file is not YAML or JSON/),
    })
  })

  it('refuses an alias bomb without expanding it', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(', ')}]`,
      ),
    ].join('\n')
    expect(parseWebhookRules(bomb)).toMatchObject({ ok: false })
  })

  it('refuses a file over 1 MiB and more than 1000 rules', () => {
    expect(parseWebhookRules(' '.repeat(1024 * 1024 + 1))).toEqual({
      ok: false,
      message: 'the rules file is over 1048576 characters',
    })
    const many = JSON.stringify({ rules: Array.from({ length: 1001 }, () => ({ namespaces: ['a'] })) })
    expect(parseWebhookRules(many)).toEqual({
      ok: false,
      message: 'rules: Too big: expected array to have <=1000 items',
    })
  })
})

describe('parseWebhookSettings', () => {
  const base = {
    brokerUrl: 'https://broker.example.com/prod/',
    agentImage: 'registry.example.com/agent:1',
    ownNamespace: 'irsa-broker',
  }

  it('fills the defaults, strips the trailing slash and freezes the result', () => {
    const parsed = parseWebhookSettings(base)
    expect(parsed).toEqual({
      ok: true,
      settings: {
        brokerUrl: 'https://broker.example.com/prod',
        audience: 'irsa-broker',
        tokenExpirationSeconds: 3600,
        agentImage: 'registry.example.com/agent:1',
        agentExecutable: '/usr/local/bin/irsa-broker',
        ownNamespace: 'irsa-broker',
      },
    })
    expect(parsed.ok && Object.isFrozen(parsed.settings)).toBe(true)
  })

  it('takes plain http to loopback (the local broker)', () => {
    expect(parseWebhookSettings({ ...base, brokerUrl: 'http://127.0.0.1:8787' }).ok).toBe(true)
  })

  it.each([
    [
      { brokerUrl: 'http://broker.example.com' },
      'brokerUrl: must be an https URL (plain http only to loopback)',
    ],
    [
      { brokerUrl: 'https://broker.example.com?x=1' },
      'brokerUrl: must be the base URL, without user, query or fragment',
    ],
    [{ brokerUrl: 'broker' }, 'brokerUrl: must be a URL like https://broker.example.com'],
    [{ tokenExpirationSeconds: 300 }, 'tokenExpirationSeconds: Too small: expected number to be >=600'],
    [{ region: 'Europe' }, 'region: must be an AWS region like eu-west-1'],
    [{ agentImage: '' }, 'agentImage: Too small: expected string to have >=1 characters'],
    [{ agentExecutable: 'irsa-broker' }, 'agentExecutable: must be an absolute path'],
    [{ ownNamespace: 'Irsa' }, 'ownNamespace: must be a namespace name'],
    [{ port: 9443 }, 'port: is not a known field'],
  ])('refuses %j', (change, message) => {
    expect(parseWebhookSettings({ ...base, ...change })).toEqual({ ok: false, message })
  })
})
