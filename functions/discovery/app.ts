// The broker as an OIDC issuer: the discovery document and the JWKS that STS fetches; and
// /healthz, which load balancers and probes call: public and cheap like the other two, so it
// lives here (it answers without touching KMS: it says the function runs, not that AWS does).
import type { BrokerSettings } from '../../shared/config.js'
import { BROKER_AUDIENCE } from '../../shared/core/broker-token.js'
import { NotFoundError } from '../../shared/core/errors.js'
import { httpFunction } from '../../shared/http/middleware.js'
import { PATHS } from '../../shared/http/paths.js'
import { json } from '../../shared/http/response.js'
import type { Adapters, Core } from '../../shared/wiring.js'

const PUBLIC_CACHE = { 'cache-control': 'public, max-age=300' }

export const openIdConfiguration = (issuerUrl: string) => ({
  issuer: issuerUrl,
  jwks_uri: `${issuerUrl}/.well-known/jwks.json`,
  response_types_supported: ['id_token'],
  subject_types_supported: ['public'],
  id_token_signing_alg_values_supported: ['RS256'],
  claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'https://aws.amazon.com/tags'],
  audiences_supported: [BROKER_AUDIENCE],
})

export const createDiscoveryHandler = (core: Pick<Core, 'signer' | 'logger' | 'issuerUrl'>) => {
  const document = openIdConfiguration(core.issuerUrl)
  return httpFunction(core.logger, async (event) => {
    switch (event.rawPath) {
      case PATHS.openIdConfiguration:
        return json(200, document, PUBLIC_CACHE)
      case PATHS.jwks:
        return json(200, await core.signer.publicJwks(), PUBLIC_CACHE)
      case PATHS.healthz:
        return json(200, { status: 'ok' })
      default:
        throw new NotFoundError('No such document.')
    }
  })
}

/**
 * The discovery function from its adapters: the signing keys' public halves and the broker's
 * issuer URL; no registry, no exchange. Built here by its Lambda root and by the local stack.
 */
export const buildDiscoveryFunction = (
  adapters: Pick<Adapters, 'signer' | 'logger'>,
  settings: Pick<BrokerSettings, 'issuerUrl'>,
) => ({ handler: createDiscoveryHandler({ ...adapters, issuerUrl: settings.issuerUrl }) })
