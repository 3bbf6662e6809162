// `irsa-broker sync-keys` (docs/data-planes.md, "Key push: a private cluster rotates its
// keys"): reads the cluster's service-account signing keys from the Kubernetes API (`GET
// /openid/v1/jwks`, readable by every ServiceAccount through the default
// `system:service-account-issuer-discovery` binding) and pushes them to the broker's `PUT
// /v1/issuers/{issuerId}/jwks` with a token of the cluster itself. One run is one read and at most
// one push; with an interval, runs repeat and a set already accepted is not pushed again.
import { calculateJwkThumbprint, type JWK } from 'jose'
import type { KeyPushResult } from '../../shared/core/key-push.js'

/** What the broker answers a push (the type only: no broker code is loaded here). */
export type PushAnswer = KeyPushResult

export interface SyncPorts {
  /** The cluster's key set as the API serves it (parsed JSON, unchecked). */
  readClusterKeys(): Promise<unknown>
  /** PUTs the set; resolves to the broker's answer or throws the CLI error of its refusal. */
  push(jwks: { keys: unknown[] }): Promise<PushAnswer>
}

/** One line per outcome: what was read and what the broker made of it. */
export interface SyncOutcome {
  outcome: 'changed' | 'unchanged' | 'skipped'
  issuerId: string
  /** RFC 7638 thumbprints of the cluster's keys, sorted: what "the same set" means here. */
  thumbprints: string[]
  version?: number
  kids?: string[]
  kidsAdded?: string[]
  kidsRemoved?: string[]
}

/** The cluster's answer is not a key set: the API is not what it should be (or a proxy answered). */
export class ClusterKeysError extends Error {
  override readonly name = 'ClusterKeysError'
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * The keys of `{"keys": [...]}` with their thumbprints. Only the shape is checked here: the
 * broker applies the registration rules to what it is sent and names the key at fault.
 */
export const readKeySet = async (document: unknown): Promise<{ keys: JWK[]; thumbprints: string[] }> => {
  if (!isObject(document) || !Array.isArray(document.keys))
    throw new ClusterKeysError('GET /openid/v1/jwks did not answer a key set ({"keys": [...]})')
  const keys = document.keys as unknown[]
  if (keys.length === 0) throw new ClusterKeysError('GET /openid/v1/jwks answered a key set without keys')
  const thumbprints = await Promise.all(
    keys.map(async (key, index) => {
      if (!isObject(key)) throw new ClusterKeysError(`GET /openid/v1/jwks: keys[${index}] is not a JWK`)
      try {
        return await calculateJwkThumbprint(key as JWK, 'sha256')
      } catch {
        throw new ClusterKeysError(
          `GET /openid/v1/jwks: keys[${index}] is not a public key the broker can use`,
        )
      }
    }),
  )
  return { keys: keys as JWK[], thumbprints: [...thumbprints].sort() }
}

const sameSet = (a: readonly string[] | undefined, b: readonly string[]): boolean =>
  a !== undefined && a.length === b.length && a.every((thumbprint, i) => thumbprint === b[i])

/**
 * A syncer remembers the thumbprints of the set the broker last holds (accepted or found the
 * same): with `--interval` an unchanged cluster costs one read of the API and no push. A fresh
 * process (the CronJob) has no memory and pushes; the broker answers "unchanged" and writes nothing.
 */
export const createKeySyncer = (issuerId: string, ports: SyncPorts) => {
  let accepted: string[] | undefined
  return {
    async runOnce(): Promise<SyncOutcome> {
      const { keys, thumbprints } = await readKeySet(await ports.readClusterKeys())
      if (sameSet(accepted, thumbprints)) return { outcome: 'skipped', issuerId, thumbprints }
      const answer = await ports.push({ keys })
      accepted = thumbprints
      return {
        outcome: answer.changed ? 'changed' : 'unchanged',
        issuerId,
        thumbprints,
        version: answer.version,
        kids: answer.kids,
        kidsAdded: answer.kidsAdded,
        kidsRemoved: answer.kidsRemoved,
      }
    },
  }
}
