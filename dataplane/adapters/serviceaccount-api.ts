// The three ServiceAccount calls the view makes, on the Kubernetes wire format: list (paged,
// all namespaces), watch from a resourceVersion (with bookmarks), and get one. Each object is
// cut down to what the webhook reads — namespace, name, resourceVersion and the core's own
// annotations (ANNOTATIONS) — as the AWS webhook's informer transform does, so a cluster's
// other annotations (often large: last-applied-configuration) are never kept.
import { ANNOTATIONS } from '../core/index.js'
import { KubeApiError, type KubeClient } from './kube-client.js'

const KEPT_ANNOTATIONS: ReadonlySet<string> = new Set(Object.values(ANNOTATIONS))

export interface ServiceAccountRecord {
  namespace: string
  name: string
  resourceVersion: string
  /** Only the annotations the core reads; a shared frozen empty object when there are none. */
  annotations: Readonly<Record<string, string>>
}

export type WatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: ServiceAccountRecord }
  | { type: 'BOOKMARK'; resourceVersion: string }
  /** The API's ERROR event: `code` 410 means the resourceVersion is too old (relist). */
  | { type: 'ERROR'; code: number; reason: string; message: string }

export interface ServiceAccountPage {
  items: ServiceAccountRecord[]
  resourceVersion: string
  continueToken: string | undefined
}

/** The port the view uses; tests and the bench give it the real one against a stand-in API. */
export interface ServiceAccountApi {
  list(options: {
    continueToken?: string | undefined
    limit: number
    signal: AbortSignal
  }): Promise<ServiceAccountPage>
  watch(
    options: { resourceVersion: string; timeoutSeconds: number; signal: AbortSignal },
    onEvent: (event: WatchEvent) => void,
  ): Promise<void>
  /** The ServiceAccount, or undefined when the API says 404. */
  get(
    namespace: string,
    name: string,
    options: { timeoutMs: number },
  ): Promise<ServiceAccountRecord | undefined>
}

/** A watch event or list item that is not what the API sends. */
export class MalformedObjectError extends Error {
  override readonly name = 'MalformedObjectError'
  readonly code = 'KubeMalformedObject'
}

const NO_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({})

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const toServiceAccountRecord = (value: unknown): ServiceAccountRecord => {
  const metadata = isObject(value) ? value.metadata : undefined
  if (!isObject(metadata) || typeof metadata.name !== 'string' || typeof metadata.namespace !== 'string')
    throw new MalformedObjectError('a ServiceAccount without metadata.name and metadata.namespace')
  let annotations = NO_ANNOTATIONS
  if (isObject(metadata.annotations)) {
    const kept: Record<string, string> = {}
    let any = false
    for (const [key, annotation] of Object.entries(metadata.annotations))
      if (KEPT_ANNOTATIONS.has(key) && typeof annotation === 'string') {
        kept[key] = annotation
        any = true
      }
    if (any) annotations = Object.freeze(kept)
  }
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    resourceVersion: typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : '',
    annotations,
  }
}

const toWatchEvent = (value: unknown): WatchEvent => {
  if (!isObject(value) || typeof value.type !== 'string')
    throw new MalformedObjectError('a watch event without a type')
  const object = value.object
  switch (value.type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      return { type: value.type, object: toServiceAccountRecord(object) }
    case 'BOOKMARK': {
      const metadata = isObject(object) ? object.metadata : undefined
      if (!isObject(metadata) || typeof metadata.resourceVersion !== 'string')
        throw new MalformedObjectError('a BOOKMARK without metadata.resourceVersion')
      return { type: 'BOOKMARK', resourceVersion: metadata.resourceVersion }
    }
    case 'ERROR': {
      const status = isObject(object) ? object : {}
      return {
        type: 'ERROR',
        code: typeof status.code === 'number' ? status.code : 0,
        reason: typeof status.reason === 'string' ? status.reason : '',
        message: typeof status.message === 'string' ? status.message.slice(0, 300) : '',
      }
    }
    default:
      throw new MalformedObjectError(`an unknown watch event type "${value.type.slice(0, 20)}"`)
  }
}

const LIST_TIMEOUT_MS = 30_000

export const createServiceAccountApi = (client: KubeClient): ServiceAccountApi => ({
  async list({ continueToken, limit, signal }) {
    const query = new URLSearchParams({ limit: String(limit) })
    if (continueToken) query.set('continue', continueToken)
    const body = await client.getJson(`/api/v1/serviceaccounts?${query}`, {
      timeoutMs: LIST_TIMEOUT_MS,
      signal,
    })
    if (!isObject(body) || !Array.isArray(body.items) || !isObject(body.metadata))
      throw new MalformedObjectError('a ServiceAccountList without items or metadata')
    const { resourceVersion, continue: next } = body.metadata
    if (typeof resourceVersion !== 'string' || resourceVersion === '')
      throw new MalformedObjectError('a ServiceAccountList without metadata.resourceVersion')
    return {
      items: body.items.map(toServiceAccountRecord),
      resourceVersion,
      continueToken: typeof next === 'string' && next !== '' ? next : undefined,
    }
  },

  watch({ resourceVersion, timeoutSeconds, signal }, onEvent) {
    const query = new URLSearchParams({
      watch: '1',
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutSeconds),
    })
    return client.watch(`/api/v1/serviceaccounts?${query}`, (event) => onEvent(toWatchEvent(event)), {
      // The server ends the watch after timeoutSeconds; silence for longer is a dead connection.
      idleTimeoutMs: (timeoutSeconds + 30) * 1000,
      signal,
    })
  },

  async get(namespace, name, { timeoutMs }) {
    try {
      const body = await client.getJson(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}`,
        { timeoutMs },
      )
      return toServiceAccountRecord(body)
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined
      throw error
    }
  },
})
