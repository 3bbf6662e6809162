// Key resolution for registered issuers: inline JWKS here, and issuers registered by `jwksUri`
// or `discovery` through the remote resolver (remote-keys.ts), behind one KeyResolver port.
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from 'jose'
import type { Issuer } from './model.js'
import type { KeyResolver } from './ports.js'

const noKeys: JWTVerifyGetKey = async () => {
  throw new errors.JWKSNoMatchingKey('issuer has no inline key set')
}

/**
 * Resolves an issuer's inline `jwks`. The key set is built once per issuer object (issuer
 * objects are replaced, never mutated, when the registry cache reloads them).
 */
export const createInlineKeyResolver = (): KeyResolver => {
  const sets = new WeakMap<Issuer, JWTVerifyGetKey>()
  return (issuer) => {
    let set = sets.get(issuer)
    if (!set) {
      set = issuer.jwks ? createLocalJWKSet(issuer.jwks) : noKeys
      sets.set(issuer, set)
    }
    return set
  }
}

export const hasRemoteKeys = (issuer: Issuer): boolean =>
  issuer.jwks === undefined && (issuer.jwksUri !== undefined || issuer.discovery === true)

/**
 * Inline keys when the issuer has them, otherwise its remote key set. Without a remote resolver
 * (or a key source at all) the issuer matches no key.
 */
export const createIssuerKeyResolver = (remote?: KeyResolver): KeyResolver => {
  const inline = createInlineKeyResolver()
  return (issuer) => (remote && hasRemoteKeys(issuer) ? remote(issuer) : inline(issuer))
}
