// `irsa-broker webhook`'s flags, checked once at start into a frozen config; a bad or missing
// value stops the start with a message naming the flag.
import { isIP } from 'node:net'
import { join } from 'node:path'
import { IN_CLUSTER_DIR } from '../adapters/kube-config.js'
import { parseWebhookSettings, type WebhookSettings } from '../core/index.js'
import { TOKEN_EXPIRATION_RANGE, WEBHOOK_DEFAULTS } from './defaults.js'

export interface WebhookConfig {
  /** What the core needs (broker URL, audience, token lifetime, region, agent image, own namespace), checked by it. */
  readonly settings: WebhookSettings
  readonly tlsCertPath: string
  readonly tlsKeyPath: string
  readonly port: number
  readonly metricsPort: number
  /** Bind address of both servers; undefined: every interface. */
  readonly address: string | undefined
  readonly rulesPath: string | undefined
  /** How often the TLS and rules files are read for a change. */
  readonly reloadIntervalMs: number
  /** How long the server goes on serving, /readyz failing, after SIGTERM before it stops accepting. */
  readonly shutdownDelayMs: number
  /** How long shutdown then waits for requests in flight. */
  readonly shutdownGraceMs: number
}

export class WebhookConfigError extends Error {
  override readonly name = 'WebhookConfigError'
  readonly code = 'WebhookConfigInvalid'
  constructor(
    readonly flag: string,
    detail: string,
  ) {
    super(`--${flag} ${detail}`)
  }
}

export type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>

const text = (values: FlagValues, flag: string): string | undefined => {
  const value = values[flag]
  return typeof value === 'string' && value !== '' ? value : undefined
}

const required = (values: FlagValues, flag: string, why: string): string => {
  const value = text(values, flag)
  if (value === undefined) throw new WebhookConfigError(flag, `is required (${why})`)
  return value
}

const integer = (values: FlagValues, flag: string, fallback: number, min: number, max: number): number => {
  const value = text(values, flag)
  if (value === undefined) return fallback
  const number = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
  if (!(number >= min && number <= max))
    throw new WebhookConfigError(flag, `must be a whole number from ${min} to ${max}`)
  return number
}

/** The core's settings fields, as flags: its messages name the field, ours the flag. */
const SETTING_FLAGS: Readonly<Record<string, string>> = {
  brokerUrl: 'broker-url',
  audience: 'audience',
  tokenExpirationSeconds: 'token-expiration',
  region: 'region',
  agentImage: 'agent-image',
  agentExecutable: 'agent-executable',
  ownNamespace: 'namespace',
}

/** What the core's parseWebhookSettings refuses, said with the flag's name. */
const settingsError = (message: string): WebhookConfigError => {
  const field = /^([A-Za-z]+)(?:\.[^:]*)?: /.exec(message)?.[1]
  const flag = field === undefined ? undefined : SETTING_FLAGS[field]
  return flag === undefined
    ? new WebhookConfigError('broker-url', message)
    : new WebhookConfigError(flag, message.slice(message.indexOf(': ') + 2))
}

const ownNamespace = (
  values: FlagValues,
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string,
): string => {
  let namespace = text(values, 'namespace') ?? (env.POD_NAMESPACE || undefined)
  if (namespace === undefined) {
    try {
      namespace = readFile(join(IN_CLUSTER_DIR, 'namespace')).trim()
    } catch {
      throw new WebhookConfigError(
        'namespace',
        `is required outside a cluster (else POD_NAMESPACE, else ${IN_CLUSTER_DIR}/namespace)`,
      )
    }
  }
  return namespace
}

export const loadWebhookConfig = (
  values: FlagValues,
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string,
): WebhookConfig => {
  const parsed = parseWebhookSettings({
    brokerUrl: required(
      values,
      'broker-url',
      'the broker the wired pods call, e.g. https://broker.example.com',
    ),
    audience: text(values, 'audience') ?? WEBHOOK_DEFAULTS.audience,
    tokenExpirationSeconds: integer(
      values,
      'token-expiration',
      WEBHOOK_DEFAULTS.tokenExpirationSeconds,
      TOKEN_EXPIRATION_RANGE.min,
      TOKEN_EXPIRATION_RANGE.max,
    ),
    region: text(values, 'region'),
    agentImage: required(
      values,
      'agent-image',
      'the image of the init container that writes profiles: this image',
    ),
    ...(text(values, 'agent-executable') === undefined
      ? {}
      : { agentExecutable: text(values, 'agent-executable') }),
    ownNamespace: ownNamespace(values, env, readFile),
  })
  if (!parsed.ok) throw settingsError(parsed.message)
  const port = integer(values, 'port', WEBHOOK_DEFAULTS.port, 0, 65535)
  const metricsPort = integer(values, 'metrics-port', WEBHOOK_DEFAULTS.metricsPort, 0, 65535)
  if (port !== 0 && port === metricsPort)
    throw new WebhookConfigError('metrics-port', 'must differ from --port')
  const address = text(values, 'address')
  if (address !== undefined && isIP(address) === 0)
    throw new WebhookConfigError('address', 'must be an IP address')
  return Object.freeze({
    settings: parsed.settings,
    tlsCertPath: required(
      values,
      'tls-cert',
      'the serving certificate (PEM), e.g. tls.crt of a cert-manager Secret',
    ),
    tlsKeyPath: required(values, 'tls-key', 'the serving key (PEM), e.g. tls.key of a cert-manager Secret'),
    port,
    metricsPort,
    address,
    rulesPath: text(values, 'rules'),
    reloadIntervalMs:
      integer(values, 'reload-interval', WEBHOOK_DEFAULTS.reloadIntervalSeconds, 1, 3600) * 1000,
    shutdownDelayMs: integer(values, 'shutdown-delay', WEBHOOK_DEFAULTS.shutdownDelaySeconds, 0, 60) * 1000,
    shutdownGraceMs: integer(values, 'shutdown-grace', WEBHOOK_DEFAULTS.shutdownGraceSeconds, 0, 300) * 1000,
  })
}
