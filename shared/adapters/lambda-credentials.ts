// The AWS credential chain of the Lambda bundles. scripts/build.mjs substitutes this module for
// @aws-sdk/credential-provider-node, the SDK clients' default chain, whose SSO, shared-file,
// process, web-identity-file and instance-metadata providers (about 90 KB minified, with nested
// STS and SSO clients) can never apply in Lambda: the runtime hands the execution role's
// credentials to the function in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
// A container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI) is tried
// second, as the default chain would. Tests and the local stack use the SDK's own default chain.
import { fromEnv } from '@aws-sdk/credential-provider-env'
import { type FromHttpOptions, fromHttp } from '@aws-sdk/credential-provider-http'
import { chain } from '@smithy/core/config'
import type { AwsCredentialIdentityProvider } from '@smithy/types'

/** The export the SDK clients' runtime config imports from @aws-sdk/credential-provider-node. */
export const defaultProvider = (init: FromHttpOptions = {}): AwsCredentialIdentityProvider =>
  // fromHttp throws at once when no endpoint is configured: inside the chain, so the error it
  // raises (a CredentialsProviderError) is the one the caller sees after the environment's.
  chain(fromEnv(init), async () => fromHttp(init)())
