// The AWS credential chain of the Lambda bundles. scripts/build.mjs substitutes this module for
// @aws-sdk/credential-provider-node, the SDK clients' default chain, whose SSO, shared-file,
// process, web-identity-file, container-endpoint and instance-metadata providers (about 95 KB
// minified, with nested STS and SSO clients) can never apply in the Lambda functions
// serverless.yml deploys: the runtime hands the execution role's credentials to the function in
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, always. Without them the
// function fails loudly at its first AWS call (the SDK's CredentialsProviderError), rather than
// looking elsewhere. Tests and the local stack use the SDK's own default chain.
import { fromEnv } from '@aws-sdk/credential-provider-env'
import type { AwsCredentialIdentityProvider } from '@smithy/types'

/** The export the SDK clients' runtime config imports from @aws-sdk/credential-provider-node. */
export const defaultProvider = (init: Parameters<typeof fromEnv>[0] = {}): AwsCredentialIdentityProvider =>
  fromEnv(init)
