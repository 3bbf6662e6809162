// The composition root of `irsa-broker webhook` (docs/decisions.md, "The webhook program"): from
// the frozen config, the ServiceAccount view on the Kubernetes API, the TLS pair and rules file
// (each reloaded on change), the HTTPS server, the metrics server and the JSON logger; then it
// serves until SIGTERM or SIGINT and shuts down gracefully.
import { readFileSync } from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import { createJsonLogger, type LineSink, stdoutSink } from '../../shared/adapters/json-logger.js'
import { createAdmissionHandler } from '../adapters/admission-handler.js'
import { createKubeClient } from '../adapters/kube-client.js'
import { resolveKubeConnection } from '../adapters/kube-config.js'
import { type LoadedRules, loadRulesFile, RulesFileError, watchRulesFile } from '../adapters/rules-file.js'
import { createServiceAccountApi } from '../adapters/serviceaccount-api.js'
import { createServiceAccountView, type ServiceAccountViewOptions } from '../adapters/serviceaccount-view.js'
import { makeTlsPair, TlsFilesError, watchTlsFiles } from '../adapters/tls-files.js'
import { createMetricsServer, createWebhookMetrics } from '../adapters/webhook-metrics.js'
import { createWebhookServer } from '../adapters/webhook-server.js'
import type { WebhookConfig } from './config.js'

export interface WebhookDependencies {
  env: Readonly<Record<string, string | undefined>>
  logSink?: LineSink
  /** The view's tunables (tests shorten its timeouts); production defaults otherwise. */
  view?: Omit<ServiceAccountViewOptions, 'api' | 'metrics' | 'log'>
}

export interface WebhookRuntime {
  port: number
  metricsPort: number
  /** Resolves once the ServiceAccount view has synced. */
  whenReady(): Promise<void>
  stop(): Promise<{ drained: boolean }>
}

const listenPlain = (server: HttpServer, port: number, host: string | undefined) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : port)
    })
  })

const readTlsPair = (config: WebhookConfig) => {
  let cert: Buffer
  let key: Buffer
  try {
    cert = readFileSync(config.tlsCertPath)
  } catch (error) {
    throw new TlsFilesError(`--tls-cert: cannot read ${config.tlsCertPath} (${(error as Error).message})`)
  }
  try {
    key = readFileSync(config.tlsKeyPath)
  } catch (error) {
    throw new TlsFilesError(`--tls-key: cannot read ${config.tlsKeyPath} (${(error as Error).message})`)
  }
  try {
    return makeTlsPair(cert, key)
  } catch (error) {
    throw new TlsFilesError(`--tls-cert/--tls-key: ${(error as Error).message}`)
  }
}

/** Starts everything; throws (TlsFilesError, RulesFileError, KubeConfigError) before serving when a start-up input is bad. */
export const startWebhook = async (
  config: WebhookConfig,
  dependencies: WebhookDependencies,
): Promise<WebhookRuntime> => {
  const logger = createJsonLogger(dependencies.logSink ?? stdoutSink, { component: 'webhook' })

  let tls = readTlsPair(config)
  let rules: LoadedRules = { rules: [], raw: Buffer.alloc(0) }
  if (config.rulesPath !== undefined) {
    try {
      rules = loadRulesFile(config.rulesPath)
    } catch (error) {
      throw new RulesFileError(`--rules: ${(error as Error).message}`)
    }
  }
  const connection = resolveKubeConnection({ env: dependencies.env })
  if (connection.insecureSkipTlsVerify)
    logger.warn('the kubeconfig turns off verification of the API server certificate', {
      source: connection.source,
    })

  const { settings } = config
  const client = createKubeClient(connection)
  // Refers to the server below: /readyz and the ready gauge read both.
  let ready = () => false
  let cacheEntries = () => 0
  const metrics = createWebhookMetrics({
    ready: () => ready(),
    cacheEntries: () => cacheEntries(),
    rules: () => rules.rules.length,
  })
  const view = createServiceAccountView({
    ...dependencies.view,
    api: createServiceAccountApi(client),
    metrics: metrics.view,
    log: logger,
  })
  cacheEntries = () => view.size
  const handle = createAdmissionHandler({
    settings,
    serviceAccounts: view,
    rules: () => rules.rules,
    log: logger,
    mutation: metrics.mutation,
  })
  const server = createWebhookServer({
    tls,
    handle,
    ready: () => view.ready,
    log: logger,
    request: metrics.request,
  })
  ready = () => view.ready && !server.shuttingDown
  metrics.tlsReload('ok', tls.certificate.notAfter)

  const metricsServer = createMetricsServer(metrics.registry)
  let port: number
  let metricsPort: number
  try {
    port = await server.listen(config.port, config.address)
  } catch (error) {
    client.close()
    throw error
  }
  try {
    metricsPort = await listenPlain(metricsServer, config.metricsPort, config.address)
  } catch (error) {
    await server.shutdown({ delayMs: 0, graceMs: 0 })
    client.close()
    throw error
  }

  view.start()
  const tlsPoller = watchTlsFiles({
    certPath: config.tlsCertPath,
    keyPath: config.tlsKeyPath,
    intervalMs: config.reloadIntervalMs,
    current: tls,
    onReload: (pair) => {
      server.setTls(pair)
      tls = pair
      metrics.tlsReload('ok', pair.certificate.notAfter)
      logger.info('tls certificate reloaded', {
        serialNumber: pair.certificate.serialNumber,
        notAfter: pair.certificate.notAfter.toISOString(),
      })
    },
    onRejected: (reason) => {
      metrics.tlsReload('failed')
      logger.warn('tls files changed but were not usable; the last good certificate keeps serving', {
        reason,
        serialNumber: tls.certificate.serialNumber,
      })
    },
  })
  const rulesPoller =
    config.rulesPath === undefined
      ? undefined
      : watchRulesFile({
          path: config.rulesPath,
          intervalMs: config.reloadIntervalMs,
          current: rules,
          onReload: (loaded) => {
            rules = loaded
            metrics.rulesReload('ok')
            logger.info('rules reloaded', { rules: loaded.rules.length })
          },
          onRejected: (reason) => {
            metrics.rulesReload('failed')
            logger.warn('rules file changed but does not parse; the last good rules stay in force', {
              reason,
              rules: rules.rules.length,
            })
          },
        })

  logger.info('webhook started', {
    port,
    metricsPort,
    kubernetes: connection.source,
    namespace: settings.ownNamespace,
    brokerUrl: settings.brokerUrl,
    audience: settings.audience,
    rules: config.rulesPath === undefined ? undefined : rules.rules.length,
    serialNumber: tls.certificate.serialNumber,
    notAfter: tls.certificate.notAfter.toISOString(),
  })
  void view.whenReady().then(() => logger.info('webhook ready', { serviceAccounts: view.size }))

  let stopping: Promise<{ drained: boolean }> | undefined
  return {
    port,
    metricsPort,
    whenReady: () => view.whenReady(),
    stop: () => {
      stopping ??= (async () => {
        logger.info('webhook shutting down', {
          inFlight: server.inFlight,
          delayMs: config.shutdownDelayMs,
          graceMs: config.shutdownGraceMs,
        })
        const result = await server.shutdown({
          delayMs: config.shutdownDelayMs,
          graceMs: config.shutdownGraceMs,
        })
        tlsPoller.stop()
        rulesPoller?.stop()
        view.stop()
        client.close()
        const metricsClosed = new Promise<void>((resolve) => metricsServer.close(() => resolve()))
        // A scraper's idle keep-alive connection would hold close() until it times out.
        metricsServer.closeAllConnections()
        await metricsClosed
        logger.info('webhook stopped', { drained: result.drained })
        return result
      })()
      return stopping
    },
  }
}

/** Serves until SIGTERM or SIGINT, then shuts down; resolves when everything is closed. */
export const runWebhook = async (config: WebhookConfig, dependencies: WebhookDependencies): Promise<void> => {
  const runtime = await startWebhook(config, dependencies)
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      resolve()
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
  await runtime.stop()
}
