// Key resolution for registered issuers. Inline JWKS today; the same port takes a remote
// JWKS resolver (jwksUri / discovery) without the verifier changing.
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
