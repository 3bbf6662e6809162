// The environment a deployed function's process gets: what Lambda sets (region, fake
// credentials of the execution role, the function's name and memory) and serverless.yml's own
// variables, NODE_OPTIONS included. Nothing from the caller's shell: an AWS_PROFILE or an
// AWS_ENDPOINT_URL_* there must change nothing. For processes that import a built bundle
// (test/support/bundle-probe.mjs).
export const LAMBDA_ISSUER_URL = 'https://abcdefghij.execute-api.eu-west-1.amazonaws.com'

export const lambdaEnvironment = (functionName: string): Record<string, string> => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  LANG: 'en_US.UTF-8',
  TZ: ':UTC',
  NODE_OPTIONS: '--enable-source-maps',
  // The AWS SDK warns once that Node 20 is old; Lambda's Node 22 prints nothing.
  NODE_NO_WARNINGS: '1',
  AWS_REGION: 'eu-west-1',
  AWS_DEFAULT_REGION: 'eu-west-1',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  AWS_LAMBDA_FUNCTION_NAME: `irsa-broker-probe-${functionName}`,
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_ACCESS_KEY_ID: 'ASIAPROBEFAKEKEY0000',
  AWS_SECRET_ACCESS_KEY: 'probe-fake-secret-access-key-not-a-real-one',
  AWS_SESSION_TOKEN: 'probe-fake-session-token',
  IRSA_BROKER_TABLE: 'irsa-broker-probe-RegistryTable-0123456789AB',
  IRSA_BROKER_ISSUER_URL: LAMBDA_ISSUER_URL,
  IRSA_BROKER_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
  IRSA_BROKER_CACHE_TTL_SECONDS: '30',
  IRSA_BROKER_NEGATIVE_CACHE_SIZE: '1000',
  IRSA_BROKER_TOKEN_TTL_SECONDS: '300',
})
