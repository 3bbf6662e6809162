// Counts the failed calls of an AWS SDK client as the metric DependencyErrors (dimension
// Dependency: sts, kms or dynamodb), so the stack's error-rate alarms see STS, KMS and DynamoDB
// failing even where the broker answers anyway (a registry served stale, a retried STS call).
// A middleware at the SDK's outermost step: one count per failed `send`, after the SDK's own
// retries; the adapters above it and the core are unchanged.
import type { MiddlewareStack } from '@smithy/types'
import type { Logger } from '../core/ports.js'
import type { AwsDependency } from './sdk-limits.js'

/**
 * The answers that are a dependency failing, not a caller being refused: a server fault,
 * throttling, no answer at all (connect or request timeout, connection reset, the request's
 * deadline aborting it), and STS's IDPCommunicationError (STS could not fetch the broker's own
 * JWKS). A conditional write losing a race, or STS refusing a role, is an answer, not a failure.
 */
export const isDependencyFailure = (error: unknown): boolean => {
  if (typeof error !== 'object' || error === null) return true
  const { name, $fault, $metadata } = error as {
    name?: string
    $fault?: string
    $metadata?: { httpStatusCode?: number }
  }
  return (
    $fault === 'server' ||
    /Throttl|TooMany|LimitExceeded|IDPCommunication/.test(name ?? '') ||
    $metadata?.httpStatusCode === undefined
  )
}

/** Any SDK v3 client: what is added is typed by the stack, whatever the client's own types. */
// biome-ignore lint/suspicious/noExplicitAny: every client's stack has its own input and output types
type SdkClient = { middlewareStack: MiddlewareStack<any, any> }

/** Adds the counting middleware to `client` and returns it. */
export const countDependencyErrors = <Client extends SdkClient>(
  client: Client,
  dependency: AwsDependency,
  logger: Pick<Logger, 'metric'>,
): Client => {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args)
      } catch (error) {
        if (isDependencyFailure(error)) logger.metric('DependencyErrors', 1, { Dependency: dependency })
        throw error
      }
    },
    { step: 'initialize' },
  )
  return client
}
