// `irsa-broker webhook`: the flags and help of the admission webhook. The program itself
// (dataplane/webhook/) is loaded only when this verb runs; its flags are checked there, once,
// by loadWebhookConfig, which names the flag at fault.
import { readFileSync } from 'node:fs'
import { WEBHOOK_DEFAULTS as D, TOKEN_EXPIRATION_RANGE } from '../../dataplane/webhook/defaults.js'
import { defineCommand, textFlag } from '../command.js'
import { InputError, UsageError } from '../errors.js'

/** The verb's flags (the tests hold the shipped Deployment's arguments to them). */
export const WEBHOOK_FLAGS = {
  'broker-url': textFlag('the broker the pods call (https://; http:// only on loopback)', {
    value: 'URL',
    required: true,
  }),
  'tls-cert': textFlag('serving certificate (PEM); read again when the file changes', {
    value: 'FILE',
    required: true,
  }),
  'tls-key': textFlag('its key (PEM); read again when the file changes', { value: 'FILE', required: true }),
  'agent-image': textFlag('image of the init container that writes profiles (this image)', {
    value: 'IMAGE',
    required: true,
  }),
  'agent-executable': textFlag('the self-contained irsa-broker in that image', {
    value: 'PATH',
    default: D.agentExecutable,
  }),
  port: textFlag('HTTPS port', { value: 'N', default: String(D.port) }),
  'metrics-port': textFlag('metrics port (plain HTTP)', { value: 'N', default: String(D.metricsPort) }),
  address: textFlag('bind both servers to this address (default: every interface)', { value: 'IP' }),
  audience: textFlag('audience of the projected token', { value: 'AUD', default: D.audience }),
  'token-expiration': textFlag(
    `lifetime of the projected token, ${TOKEN_EXPIRATION_RANGE.min}-${TOKEN_EXPIRATION_RANGE.max} s`,
    { value: 'N', default: String(D.tokenExpirationSeconds) },
  ),
  region: textFlag('also set AWS_REGION and AWS_DEFAULT_REGION in wired containers', { value: 'REGION' }),
  rules: textFlag('ordered rules (YAML or JSON); read again when the file changes', { value: 'FILE' }),
  namespace: textFlag(
    "the webhook's own namespace, never wired\n(default: $POD_NAMESPACE, else the in-cluster namespace file)",
    { value: 'NS' },
  ),
  'reload-interval': textFlag('seconds between checks of the TLS and rules files', {
    value: 'N',
    default: String(D.reloadIntervalSeconds),
  }),
  'shutdown-delay': textFlag(
    'seconds to go on serving after SIGTERM, /readyz failing,\nso the Service drops this pod before the listener closes',
    { value: 'N', default: String(D.shutdownDelaySeconds) },
  ),
  'shutdown-grace': textFlag('then seconds to finish requests in flight', {
    value: 'N',
    default: String(D.shutdownGraceSeconds),
  }),
}

export const webhookCommand = defineCommand({
  name: 'webhook',
  summary: 'run the admission webhook that wires pods to the broker',
  section: 'data-plane',
  description: `The mutating admission webhook (docs/data-planes.md): wires pods of annotated ServiceAccounts
(POST /mutate) and of labelled namespaces (POST /mutate/namespace) to the broker with a
projected token, a mount and the AWS container-credentials variables. Serves HTTPS on --port,
GET /healthz, GET /readyz (200 once the ServiceAccounts are listed), and Prometheus
GET /metrics on --metrics-port (plain HTTP). The Kubernetes API is the one in $KUBECONFIG
when set, else the in-cluster ServiceAccount. Logs are JSON lines on stdout. Stops
gracefully on SIGTERM or SIGINT (exit 0); terminationGracePeriodSeconds must exceed
--shutdown-delay plus --shutdown-grace.`,
  flags: WEBHOOK_FLAGS,
  async run({ flags }, context) {
    const { loadWebhookConfig, WebhookConfigError } = await import('../../dataplane/webhook/config.js')
    let config: ReturnType<typeof loadWebhookConfig>
    try {
      config = loadWebhookConfig(flags, context.env, (path) => readFileSync(path, 'utf8'))
    } catch (error) {
      if (error instanceof WebhookConfigError) throw new UsageError(error.message)
      throw error
    }
    const { runWebhook } = await import('../../dataplane/webhook/main.js')
    try {
      await runWebhook(config, { env: context.env })
    } catch (error) {
      // A start-up input that cannot be used (TLS files, rules file, kubeconfig): named, exit 1.
      const code = (error as { code?: unknown }).code
      if (code === 'TlsFilesInvalid' || code === 'RulesFileInvalid' || code === 'KubeConfigInvalid')
        throw new InputError('InvalidInput', (error as Error).message)
      throw error
    }
    return undefined
  },
})
