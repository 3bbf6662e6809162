// `irsa-broker sync-keys`: pushes the cluster's service-account keys to the broker
// (docs/data-planes.md, "Key push: a private cluster rotates its keys").
// The Kubernetes API is the one in $KUBECONFIG when set, else the in-cluster ServiceAccount;
// the push is authenticated by a projected token of audience irsa-broker-key-sync alone.

import type { PushAnswer } from '../../dataplane/sync-keys/sync.js'
import { fillPath, PATHS } from '../../shared/http/paths.js'
import { ENDPOINT_FLAGS } from '../broker-options.js'
import { defineCommand, integerFlag, textFlag } from '../command.js'
import { BrokerUnavailableError, CliError, EXIT, InputError } from '../errors.js'
import { bearer, createBrokerClient } from '../http.js'
import { checkId } from '../ids.js'
import { readTokenFile } from '../token-file.js'

/** Where the CronJob of infra/kubernetes/agent/ mounts the projected key-sync token. */
export const KEY_SYNC_TOKEN_FILE = '/var/run/secrets/irsa-broker/key-sync/token'
/** The path every API server serves its service-account keys at (ServiceAccountIssuerDiscovery). */
export const CLUSTER_JWKS_PATH = '/openid/v1/jwks'

/** The Kubernetes API could not be read (exit 3), or refused this ServiceAccount (exit 1). */
class KubeApiCliError extends CliError {
  override readonly name = 'KubeApiCliError'
  constructor(
    readonly code: 'KubeUnavailable' | 'KubeRefused',
    readonly exitCode: typeof EXIT.unavailable | typeof EXIT.denied,
    message: string,
  ) {
    super(message)
  }
}

/** The verb's flags (the tests hold the shipped CronJob's arguments to them). */
export const syncKeysFlags = {
  'issuer-id': textFlag("the cluster's issuer at the broker", { value: 'ID', required: true }),
  'token-file': textFlag('the key-sync token (a projected token, aud irsa-broker-key-sync)', {
    value: 'PATH',
    default: KEY_SYNC_TOKEN_FILE,
  }),
  interval: integerFlag('run every N seconds until stopped, instead of once', { min: 10, max: 86400 }),
  ...ENDPOINT_FLAGS,
}

const isPushAnswer = (body: unknown): body is PushAnswer => {
  const answer = body as Partial<PushAnswer> | null
  return (
    typeof answer === 'object' &&
    answer !== null &&
    typeof answer.changed === 'boolean' &&
    typeof answer.version === 'number' &&
    [answer.kids, answer.kidsAdded, answer.kidsRemoved].every(Array.isArray)
  )
}

export const syncKeysCommand = defineCommand({
  name: 'sync-keys',
  summary: "push the cluster's service-account keys to the broker (key push)",
  section: 'data-plane',
  description: `Reads the cluster's service-account signing keys (GET ${CLUSTER_JWKS_PATH} on the Kubernetes
API: $KUBECONFIG when set, else in-cluster) and pushes them to the broker
(PUT /v1/issuers/ISSUER_ID/jwks), authenticated by a token of the cluster with audience
irsa-broker-key-sync and the subject of the issuer's keySync. The broker changes the issuer's
keys only when the set differs. Prints one JSON line per run on stdout (outcome changed,
unchanged or skipped); a refusal is one line on stderr. Once by default (the CronJob of
infra/kubernetes/agent/); with --interval it runs every N seconds until SIGTERM, skipping
the push while the cluster's set is the one the broker already holds.`,
  flags: syncKeysFlags,
  async run({ flags }, context) {
    const issuerId = checkId(flags['issuer-id'], 'issuer id')
    const { createKubeClient, KubeApiError } = await import('../../dataplane/adapters/kube-client.js')
    const { resolveKubeConnection, KubeConfigError } = await import('../../dataplane/adapters/kube-config.js')
    const { ClusterKeysError, createKeySyncer } = await import('../../dataplane/sync-keys/sync.js')
    let connection: ReturnType<typeof resolveKubeConnection>
    try {
      connection = resolveKubeConnection({ env: context.env })
    } catch (error) {
      if (error instanceof KubeConfigError) throw new InputError('InvalidInput', error.message)
      throw error
    }
    const kube = createKubeClient(connection)
    const timeoutMs = flags['timeout-seconds'] * 1000
    const syncer = createKeySyncer(issuerId, {
      readClusterKeys: async () => {
        try {
          return await kube.getJson(CLUSTER_JWKS_PATH, { timeoutMs })
        } catch (error) {
          const where = `the Kubernetes API at ${connection.server.origin}`
          // 401/403: this ServiceAccount may not read the keys; anything else is the API's own trouble.
          if (error instanceof KubeApiError && (error.status === 401 || error.status === 403))
            throw new KubeApiCliError('KubeRefused', EXIT.denied, `${where} refused: ${error.message}`)
          throw new KubeApiCliError(
            'KubeUnavailable',
            EXIT.unavailable,
            `${where} is unavailable: ${(error as Error).message}`,
          )
        }
      },
      push: async (jwks) => {
        // Read again for every push: kubelet rotates the projected token in place.
        const token = readTokenFile(flags['token-file'], 'key-sync token file')
        context.addSecret(token)
        const broker = createBrokerClient(context, {
          endpoint: flags.endpoint,
          timeoutSeconds: flags['timeout-seconds'],
          authorize: bearer(token),
        })
        // No retry: a refused or rate-limited push is tried again by the next run.
        const answer = await broker.call({
          method: 'PUT',
          path: fillPath(PATHS.issuerKeys, { issuerId }),
          body: jwks,
        })
        if (!isPushAnswer(answer.body))
          throw new BrokerUnavailableError(
            'UnexpectedAnswer',
            `the server at ${flags.endpoint.url.origin} answered without a key push result; is --endpoint the broker?`,
          )
        return answer.body
      },
    })

    const once = async () => {
      try {
        context.stdout(`${JSON.stringify(await syncer.runOnce())}\n`)
      } catch (error) {
        if (error instanceof ClusterKeysError) throw new InputError('InvalidInput', error.message)
        throw error
      }
    }
    try {
      if (flags.interval === undefined) return await once().then(() => undefined)
      const interval = flags.interval
      // Until SIGTERM or SIGINT; each run's refusal is one stderr line and the next run tries again.
      const stop = new AbortController()
      const onSignal = () => stop.abort()
      process.once('SIGTERM', onSignal)
      process.once('SIGINT', onSignal)
      try {
        while (!stop.signal.aborted) {
          await once().catch((error: unknown) => {
            context.stderr(`irsa-broker: ${(error as Error).message.replace(/\s*\n\s*/g, ' ')}\n`)
          })
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, interval * 1000)
            stop.signal.addEventListener('abort', () => {
              clearTimeout(timer)
              resolve()
            })
          })
        }
      } finally {
        process.off('SIGTERM', onSignal)
        process.off('SIGINT', onSignal)
      }
      return undefined
    } finally {
      kube.close()
    }
  },
})
