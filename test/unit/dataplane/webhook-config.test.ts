// `irsa-broker webhook`'s flags (dataplane/webhook/config.ts): defaults, and a refusal that
// names the flag for each bad value.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseFlags } from '../../../cli/command.js'
import { WEBHOOK_FLAGS } from '../../../cli/commands/webhook.js'
import { loadWebhookConfig, WebhookConfigError } from '../../../dataplane/webhook/config.js'
import { renderKustomization } from '../../support/kustomize.js'

const REQUIRED = {
  'broker-url': 'https://broker.example.com/',
  'tls-cert': '/etc/webhook/certs/tls.crt',
  'tls-key': '/etc/webhook/certs/tls.key',
  'agent-image': 'registry.example.com/irsa-broker/agent:0.1.0',
  namespace: 'irsa-broker',
}

const noNamespaceFile = () => {
  throw new Error('ENOENT')
}

const refusal = (values: Record<string, string>, env: Record<string, string> = {}): string => {
  try {
    loadWebhookConfig(values, env, noNamespaceFile)
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookConfigError)
    return (error as Error).message
  }
  throw new Error('expected a WebhookConfigError')
}

describe('webhook flags', () => {
  it('fills the documented defaults and freezes the result', () => {
    // Act
    const config = loadWebhookConfig(REQUIRED, {}, noNamespaceFile)
    // Assess
    expect(config).toMatchObject({
      port: 9443,
      metricsPort: 9090,
      address: undefined,
      rulesPath: undefined,
      reloadIntervalMs: 10_000,
      shutdownDelayMs: 5_000,
      shutdownGraceMs: 10_000,
      settings: {
        brokerUrl: 'https://broker.example.com',
        audience: 'irsa-broker',
        tokenExpirationSeconds: 3600,
        agentImage: 'registry.example.com/irsa-broker/agent:0.1.0',
        ownNamespace: 'irsa-broker',
      },
    })
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('takes its own namespace from --namespace, else POD_NAMESPACE, else the in-cluster namespace file', () => {
    // Prepare
    const { namespace: _, ...withoutNamespace } = REQUIRED
    // Act
    const fromFlag = loadWebhookConfig(REQUIRED, { POD_NAMESPACE: 'from-env' }, () => 'from-file')
    const fromEnv = loadWebhookConfig(withoutNamespace, { POD_NAMESPACE: 'from-env' }, () => 'from-file')
    const fromFile = loadWebhookConfig(withoutNamespace, {}, () => 'from-file\n')
    // Assess
    expect([fromFlag, fromEnv, fromFile].map((config) => config.settings.ownNamespace)).toEqual([
      'irsa-broker',
      'from-env',
      'from-file',
    ])
    expect(refusal(withoutNamespace)).toMatch(/^--namespace is required outside a cluster/)
  })

  it.each([
    ['broker-url', { 'broker-url': '' }, /^--broker-url is required/],
    ['broker-url', { 'broker-url': 'http://broker.example.com' }, /^--broker-url must be an https URL/],
    ['tls-cert', { 'tls-cert': '' }, /^--tls-cert is required/],
    ['tls-key', { 'tls-key': '' }, /^--tls-key is required/],
    ['agent-image', { 'agent-image': '' }, /^--agent-image is required/],
    [
      'token-expiration',
      { 'token-expiration': '599' },
      /^--token-expiration must be a whole number from 600 to 86400$/,
    ],
    ['token-expiration', { 'token-expiration': '1h' }, /^--token-expiration must be a whole number/],
    ['port', { port: '70000' }, /^--port must be a whole number from 0 to 65535$/],
    ['metrics-port', { port: '9443', 'metrics-port': '9443' }, /^--metrics-port must differ from --port$/],
    ['address', { address: 'localhost' }, /^--address must be an IP address$/],
    ['region', { region: 'Europe' }, /^--region /],
    [
      'agent-executable',
      { 'agent-executable': 'irsa-broker' },
      /^--agent-executable must be an absolute path$/,
    ],
    [
      'reload-interval',
      { 'reload-interval': '0' },
      /^--reload-interval must be a whole number from 1 to 3600$/,
    ],
    ['shutdown-delay', { 'shutdown-delay': '61' }, /^--shutdown-delay must be a whole number from 0 to 60$/],
  ])('refuses a bad --%s with a message naming it', (_flag, override, expected) => {
    expect(refusal({ ...REQUIRED, ...override })).toMatch(expected)
  })

  it('allows plain http to a loopback broker (tests, a broker on the node)', () => {
    expect(
      loadWebhookConfig({ ...REQUIRED, 'broker-url': 'http://127.0.0.1:8787' }, {}, noNamespaceFile).settings
        .brokerUrl,
    ).toBe('http://127.0.0.1:8787')
  })
})

describe('the shipped Deployment (infra/kubernetes/agent)', () => {
  it('passes `irsa-broker webhook` only flags it declares, each once, with values loadWebhookConfig accepts', () => {
    // Prepare: the container's args as rendered, $(VAR) filled from its env and the settings ConfigMap
    const { manifests } = renderKustomization(join(import.meta.dirname, '../../../infra/kubernetes/agent'))
    const deployment = manifests.find((manifest) => manifest.kind === 'Deployment')
    const settings = manifests.find(
      (manifest) =>
        manifest.kind === 'ConfigMap' && manifest.metadata.name === 'irsa-broker-webhook-settings',
    )
    const container = deployment?.spec.template.spec.containers[0] as {
      args: string[]
      env: { name: string; value?: string; valueFrom?: { configMapKeyRef?: { key: string } } }[]
    }
    const variables = Object.fromEntries(
      container.env.map((entry) => [
        entry.name,
        entry.value ??
          ((settings?.data ?? {}) as Record<string, string>)[entry.valueFrom?.configMapKeyRef?.key ?? ''] ??
          '',
      ]),
    )
    const [verb, ...argv] = container.args.map((arg) =>
      arg.replace(/\$\((\w+)\)/g, (_, name) => variables[name] ?? ''),
    )
    // Act
    const flags = parseFlags(WEBHOOK_FLAGS, argv)
    const config = loadWebhookConfig(flags, { POD_NAMESPACE: 'irsa-broker' }, noNamespaceFile)
    // Assess
    expect(verb).toBe('webhook')
    expect(config).toMatchObject({
      port: 9443,
      metricsPort: 9090,
      tlsCertPath: '/etc/irsa-broker/tls/tls.crt',
      settings: {
        brokerUrl: 'https://irsa-broker.example.com',
        audience: 'irsa-broker',
        tokenExpirationSeconds: 3600,
      },
    })
  })
})
