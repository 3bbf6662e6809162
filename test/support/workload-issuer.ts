// A throwaway data-plane issuer for tests: keys generated at test time, tokens shaped like
// Kubernetes projected service-account tokens.
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'

export const K8S_ISSUER = 'https://kubernetes.default.svc.cluster.local'
export const AUDIENCE = 'irsa-broker'

export interface TestIssuer {
  jwks: { keys: JWK[] }
  kid: string
  alg: 'RS256' | 'ES256'
  mint(options?: MintOptions): Promise<string>
}

export interface MintOptions {
  iss?: string
  aud?: string | string[]
  namespace?: string
  serviceAccount?: string
  sub?: string
  /** Seconds since epoch; defaults to now. */
  iat?: number
  lifetimeSeconds?: number
  extraClaims?: Record<string, unknown>
  omit?: ('exp' | 'iat' | 'sub' | 'iss' | 'aud')[]
  kid?: string
}

export const createTestIssuer = async (
  options: { alg?: 'RS256' | 'ES256'; kid?: string; iss?: string } = {},
): Promise<TestIssuer> => {
  const alg = options.alg ?? 'RS256'
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const kid = options.kid ?? `test-${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 10)}`
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  const issuer = options.iss ?? K8S_ISSUER
  return {
    jwks: { keys: [jwk] },
    kid,
    alg,
    async mint(mint: MintOptions = {}) {
      const namespace = mint.namespace ?? 'ml'
      const serviceAccount = mint.serviceAccount ?? 'trainer'
      const iat = mint.iat ?? Math.floor(Date.now() / 1000)
      const claims: Record<string, unknown> = {
        iss: mint.iss ?? issuer,
        aud: mint.aud ?? [AUDIENCE],
        sub: mint.sub ?? `system:serviceaccount:${namespace}:${serviceAccount}`,
        iat,
        nbf: iat,
        exp: iat + (mint.lifetimeSeconds ?? 3600),
        'kubernetes.io': {
          namespace,
          serviceaccount: { name: serviceAccount, uid: '7f1c0d7e-0000-4000-8000-000000000001' },
          pod: { name: `${serviceAccount}-0`, uid: '7f1c0d7e-0000-4000-8000-000000000002' },
        },
        ...mint.extraClaims,
      }
      for (const name of mint.omit ?? []) delete claims[name]
      return new SignJWT(claims).setProtectedHeader({ alg, kid: mint.kid ?? kid }).sign(privateKey)
    },
  }
}
