// The port through which verify.ts checks one token against one issuer's keys: signature, header
// rules, algorithm allowlist, key choice and claims, jose's verdict in jose's errors. Two adapters
// implement it: jose's own jwtVerify (joseJwtVerifier, below) and the broker's fast path, which
// keeps jose's decisions and hands node:crypto only the arithmetic (verifyCompactJwt,
// jws-verify.ts). The wiring uses the fast path; test/unit/core/jws-verify.test.ts holds the two
// to the same verdict, and is the gate of a jose upgrade (docs/decisions.md, "Upgrading jose").
import {
  type CompactJWSHeaderParameters,
  type JWTClaimVerificationOptions,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose'

/** `typ` is left out: jose compares it with the header, which the fast path's claim validation does not see. */
export interface JwtVerifyOptions extends Omit<JWTClaimVerificationOptions, 'typ'> {
  /** The algorithms the issuer accepts: any other `alg` is refused before a key is looked up. */
  algorithms: readonly string[]
}

export interface JwtVerifyResult {
  payload: JWTPayload
  protectedHeader: CompactJWSHeaderParameters
}

/**
 * jwtVerify(token, getKey, { algorithms, ...claimOptions }): rejects with jose's error classes
 * (verify.ts reads them to tell a key mismatch from a refused token).
 */
export type JwtVerifier = (
  token: string,
  getKey: JWTVerifyGetKey,
  options: JwtVerifyOptions,
) => Promise<JwtVerifyResult>

/** jose's jwtVerify itself, WebCrypto doing the arithmetic. */
export const joseJwtVerifier: JwtVerifier = async (token, getKey, { algorithms, ...claimOptions }) => {
  const { payload, protectedHeader } = await jwtVerify(token, getKey, {
    ...claimOptions,
    algorithms: [...algorithms],
  })
  return { payload, protectedHeader }
}
