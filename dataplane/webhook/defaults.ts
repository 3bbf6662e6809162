// The defaults of `irsa-broker webhook`'s flags: a module without dependencies but the core's
// names, so the CLI's help shows them without loading the webhook.
import {
  DEFAULT_AGENT_EXECUTABLE,
  DEFAULT_AUDIENCE,
  DEFAULT_TOKEN_EXPIRATION_SECONDS,
  MAX_TOKEN_EXPIRATION_SECONDS,
  MIN_TOKEN_EXPIRATION_SECONDS,
} from '../core/names.js'

export const WEBHOOK_DEFAULTS = {
  port: 9443,
  metricsPort: 9090,
  audience: DEFAULT_AUDIENCE,
  tokenExpirationSeconds: DEFAULT_TOKEN_EXPIRATION_SECONDS,
  agentExecutable: DEFAULT_AGENT_EXECUTABLE,
  reloadIntervalSeconds: 10,
  shutdownDelaySeconds: 5,
  shutdownGraceSeconds: 10,
} as const

export const TOKEN_EXPIRATION_RANGE = {
  min: MIN_TOKEN_EXPIRATION_SECONDS,
  max: MAX_TOKEN_EXPIRATION_SECONDS,
} as const
