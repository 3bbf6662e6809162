// Where the Kubernetes API is and how to authenticate to it: `$KUBECONFIG` when set (kubectl's
// merge of a colon-separated list: the first file to define a name or current-context wins),
// else the in-cluster ServiceAccount (token, CA and namespace under
// /var/run/secrets/kubernetes.io/serviceaccount/, host and port from KUBERNETES_SERVICE_*).
// Supported credentials: bearer token (inline or tokenFile), client certificate, basic auth.
// Exec plugins and auth providers are refused by name: the webhook runs in-cluster, and a
// kubeconfig for it (tests, a development cluster) can always carry a token or a certificate.
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import { parse as parseYaml } from 'yaml'

export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** How often a token file is read again: kubelet rotates the in-cluster token (client-go: 1 min). */
const TOKEN_FILE_REREAD_MS = 60_000

export interface KubeConnection {
  server: URL
  ca?: Buffer | undefined
  cert?: Buffer | undefined
  key?: Buffer | undefined
  /** Bearer token, read anew from its file once a minute; undefined when none is used. */
  token?: (() => string) | undefined
  basicAuth?: string | undefined
  insecureSkipTlsVerify: boolean
  servername?: string | undefined
  /** For logs: where the settings came from (no secret in it). */
  source: string
}

export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError'
  readonly code = 'KubeConfigInvalid'
}

type ReadFile = (path: string) => Buffer

export interface KubeConfigInputs {
  env: Readonly<Record<string, string | undefined>>
  readFile?: ReadFile
  now?: () => number
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const optionalString = (entry: Record<string, unknown>, field: string, where: string): string | undefined => {
  const value = entry[field]
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'string') throw new KubeConfigError(`${where}.${field}: expected a string`)
  return value
}

/** A token file read when first needed and again once it is a minute old. */
export const fileToken = (path: string, readFile: ReadFile, now: () => number): (() => string) => {
  let token: string | undefined
  let readAt = 0
  return () => {
    if (token === undefined || now() - readAt >= TOKEN_FILE_REREAD_MS) {
      try {
        token = readFile(path).toString('utf8').trim()
        readAt = now()
      } catch (error) {
        // A token read once keeps serving while its file is briefly away (kubelet's swap).
        if (token === undefined)
          throw new KubeConfigError(`cannot read the token file ${path}`, { cause: error })
      }
    }
    return token
  }
}

interface NamedEntries {
  clusters: Map<string, Record<string, unknown>>
  users: Map<string, Record<string, unknown>>
  contexts: Map<string, Record<string, unknown>>
  currentContext: string | undefined
  /** The file that defined each entry, for relative paths in it. */
  fileOf: Map<Record<string, unknown>, string>
}

const collect = (
  document: Record<string, unknown>,
  file: string,
  kind: 'clusters' | 'users' | 'contexts',
  inner: 'cluster' | 'user' | 'context',
  into: NamedEntries,
) => {
  const list = document[kind]
  if (list === undefined || list === null) return
  if (!Array.isArray(list)) throw new KubeConfigError(`${file}: ${kind} must be a list`)
  for (const [index, item] of list.entries()) {
    if (!isObject(item) || typeof item.name !== 'string' || !isObject(item[inner]))
      throw new KubeConfigError(`${file}: ${kind}[${index}] needs a name and a ${inner}`)
    const entry = item[inner] as Record<string, unknown>
    if (!into[kind].has(item.name)) {
      into[kind].set(item.name, entry)
      into.fileOf.set(entry, file)
    }
  }
}

const mergeKubeconfigs = (paths: readonly string[], readFile: ReadFile): NamedEntries => {
  const merged: NamedEntries = {
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
    currentContext: undefined,
    fileOf: new Map(),
  }
  for (const path of paths) {
    let text: string
    try {
      text = readFile(path).toString('utf8')
    } catch (error) {
      // kubectl skips a listed file that does not exist; a file that exists but cannot be read is an error.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw new KubeConfigError(`KUBECONFIG: cannot read ${path}`, { cause: error })
    }
    let document: unknown
    try {
      document = parseYaml(text)
    } catch (error) {
      throw new KubeConfigError(`KUBECONFIG: ${path} is not YAML`, { cause: error })
    }
    if (document === null || document === undefined) continue
    if (!isObject(document)) throw new KubeConfigError(`KUBECONFIG: ${path} is not a kubeconfig`)
    collect(document, path, 'clusters', 'cluster', merged)
    collect(document, path, 'users', 'user', merged)
    collect(document, path, 'contexts', 'context', merged)
    const current = document['current-context']
    if (merged.currentContext === undefined && typeof current === 'string' && current !== '')
      merged.currentContext = current
  }
  return merged
}

/** Inline data (base64) wins over a file path, as in kubectl; relative paths are from the kubeconfig's folder. */
const material = (
  entry: Record<string, unknown>,
  dataField: string,
  fileField: string,
  where: string,
  baseFile: string,
  readFile: ReadFile,
): Buffer | undefined => {
  const data = optionalString(entry, dataField, where)
  if (data !== undefined) return Buffer.from(data, 'base64')
  const file = optionalString(entry, fileField, where)
  if (file === undefined) return undefined
  const path = isAbsolute(file) ? file : join(dirname(baseFile), file)
  try {
    return readFile(path)
  } catch (error) {
    throw new KubeConfigError(`${where}.${fileField}: cannot read ${path}`, { cause: error })
  }
}

const fromKubeconfig = (paths: readonly string[], inputs: Required<KubeConfigInputs>): KubeConnection => {
  const { readFile, now } = inputs
  const merged = mergeKubeconfigs(paths, readFile)
  const contextName = merged.currentContext
  if (contextName === undefined) throw new KubeConfigError('KUBECONFIG: no current-context is set')
  const context = merged.contexts.get(contextName)
  if (!context) throw new KubeConfigError(`KUBECONFIG: context "${contextName}" is not defined`)
  const clusterName = optionalString(context, 'cluster', `contexts.${contextName}`)
  const cluster = clusterName === undefined ? undefined : merged.clusters.get(clusterName)
  if (!cluster) throw new KubeConfigError(`KUBECONFIG: context "${contextName}" names no defined cluster`)
  const clusterWhere = `clusters.${clusterName}`
  const clusterFile = merged.fileOf.get(cluster) ?? paths[0] ?? ''
  const serverText = optionalString(cluster, 'server', clusterWhere)
  let server: URL
  try {
    server = new URL(serverText ?? '')
  } catch {
    throw new KubeConfigError(`${clusterWhere}.server: not a URL`)
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:')
    throw new KubeConfigError(`${clusterWhere}.server: must be an https:// (or http://) URL`)
  if (optionalString(cluster, 'proxy-url', clusterWhere) !== undefined)
    throw new KubeConfigError(`${clusterWhere}.proxy-url: proxies are not supported`)

  const userName = optionalString(context, 'user', `contexts.${contextName}`)
  const user = userName === undefined ? {} : merged.users.get(userName)
  if (!user)
    throw new KubeConfigError(`KUBECONFIG: context "${contextName}" names user "${userName}", not defined`)
  const userWhere = `users.${userName}`
  const userFile = merged.fileOf.get(user) ?? clusterFile
  for (const unsupported of ['exec', 'auth-provider'])
    if (user[unsupported] !== undefined && user[unsupported] !== null)
      throw new KubeConfigError(
        `${userWhere}.${unsupported}: credential plugins are not supported; use a token, a tokenFile or a client certificate`,
      )

  const inlineToken = optionalString(user, 'token', userWhere)
  const tokenFile = optionalString(user, 'tokenFile', userWhere)
  const username = optionalString(user, 'username', userWhere)
  const password = optionalString(user, 'password', userWhere)
  return {
    server,
    ca: material(
      cluster,
      'certificate-authority-data',
      'certificate-authority',
      clusterWhere,
      clusterFile,
      readFile,
    ),
    cert: material(user, 'client-certificate-data', 'client-certificate', userWhere, userFile, readFile),
    key: material(user, 'client-key-data', 'client-key', userWhere, userFile, readFile),
    token:
      inlineToken !== undefined
        ? () => inlineToken
        : tokenFile !== undefined
          ? fileToken(isAbsolute(tokenFile) ? tokenFile : join(dirname(userFile), tokenFile), readFile, now)
          : undefined,
    basicAuth:
      username !== undefined ? Buffer.from(`${username}:${password ?? ''}`).toString('base64') : undefined,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    servername: optionalString(cluster, 'tls-server-name', clusterWhere),
    source: `kubeconfig ${paths.join(':')} (context ${contextName})`,
  }
}

const inCluster = (inputs: Required<KubeConfigInputs>): KubeConnection => {
  const host = inputs.env.KUBERNETES_SERVICE_HOST
  const port = inputs.env.KUBERNETES_SERVICE_PORT
  if (!host || !port)
    throw new KubeConfigError(
      'no Kubernetes API: KUBECONFIG is not set and KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not (not in a cluster)',
    )
  const server = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`)
  let ca: Buffer
  try {
    ca = inputs.readFile(join(IN_CLUSTER_DIR, 'ca.crt'))
  } catch (error) {
    throw new KubeConfigError(`cannot read ${IN_CLUSTER_DIR}/ca.crt`, { cause: error })
  }
  const token = fileToken(join(IN_CLUSTER_DIR, 'token'), inputs.readFile, inputs.now)
  token()
  return { server, ca, token, insecureSkipTlsVerify: false, source: 'in-cluster' }
}

/** The API connection: `$KUBECONFIG` when set, else in-cluster. Throws KubeConfigError with the field at fault. */
export const resolveKubeConnection = (inputs: KubeConfigInputs): KubeConnection => {
  const full: Required<KubeConfigInputs> = {
    env: inputs.env,
    readFile: inputs.readFile ?? ((path) => readFileSync(path)),
    now: inputs.now ?? Date.now,
  }
  const kubeconfig = full.env.KUBECONFIG
  if (kubeconfig) {
    const paths = kubeconfig.split(':').filter((path) => path !== '')
    return fromKubeconfig(paths, full)
  }
  return inCluster(full)
}
