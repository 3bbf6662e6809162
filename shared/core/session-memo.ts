// The session of one workload under one binding (name, tags) and its credential-cache keys,
// computed once per pair of objects instead of once per request.
//
// Invariant: everything remembered here is a pure function of the objects it is keyed by, and
// those objects never change while they are keys:
//   - a claims object is made by one verification of one token string and never written to
//     afterwards (the verified-token cache hands the same object to every request presenting that
//     same string: verified-token-cache.ts);
//   - a binding object is replaced, never mutated, when the registry cache reloads or an admin
//     writes (registry-cache.ts);
//   - an issuer object likewise; the cache keys are kept for one issuer object at a time.
// So a remembered value is what computing it again would give. Fresh objects (another token,
// a reloaded binding or issuer) miss and are computed anew; forgotten objects take their entries
// with them (WeakMap), so the memo holds nothing the process does not already hold.
import type { Binding, Issuer, WorkloadClaims } from './model.js'
import { type SessionTags, sessionNameFor, sessionTagsFor, sourceIdentityFor } from './session.js'

/** A binding's session for one workload's claims. */
export interface RenderedSession {
  readonly sessionName: string
  /** The broker token's source identity claim (broker mode only: passthrough cannot add one). */
  readonly sourceIdentity: string
  readonly sessionTags: SessionTags
  /**
   * The credential-cache key remembered for this session, `issuer` object and duration, if any.
   * In passthrough mode a key holds the token's hash: the claims object stands for one token.
   */
  cacheKey(issuer: Issuer, durationSeconds: number): string | undefined
  /** Remembers `key` for this issuer object and duration; another issuer object starts over. */
  keepCacheKey(issuer: Issuer, durationSeconds: number, key: string): void
}

export interface SessionMemo {
  /** The session of `binding` for `claims`: rendered the first time this pair of objects meets. */
  sessionOf(binding: Binding, claims: WorkloadClaims): RenderedSession
}

const renderSession = (binding: Binding, claims: WorkloadClaims): RenderedSession => {
  let keysIssuer: Issuer | undefined
  const keys = new Map<number, string>()
  return {
    sessionName: sessionNameFor(binding, claims),
    sourceIdentity: sourceIdentityFor(binding, claims),
    sessionTags: sessionTagsFor(binding, claims),
    cacheKey: (issuer, durationSeconds) => (issuer === keysIssuer ? keys.get(durationSeconds) : undefined),
    keepCacheKey(issuer, durationSeconds, key) {
      if (issuer !== keysIssuer) {
        keysIssuer = issuer
        keys.clear()
      }
      keys.set(durationSeconds, key)
    },
  }
}

export const createSessionMemo = (): SessionMemo => {
  const rendered = new WeakMap<WorkloadClaims, WeakMap<Binding, RenderedSession>>()
  return {
    sessionOf(binding, claims) {
      let byBinding = rendered.get(claims)
      if (!byBinding) {
        byBinding = new WeakMap()
        rendered.set(claims, byBinding)
      }
      let session = byBinding.get(binding)
      if (!session) {
        session = renderSession(binding, claims)
        byBinding.set(binding, session)
      }
      return session
    },
  }
}
