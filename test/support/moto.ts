// AWS SDK clients pointed at a moto_server the test started: moto accepts any credentials,
// these only keep the SDK from searching the environment for real ones.
import { KMSClient } from '@aws-sdk/client-kms'
import { STSClient, type STSClientConfig } from '@aws-sdk/client-sts'

export const MOTO_REGION = 'us-east-1'
export const DUMMY_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' }

export const motoStsClient = (
  endpoint: string,
  credentials: STSClientConfig['credentials'] = DUMMY_CREDENTIALS,
): STSClient => new STSClient({ region: MOTO_REGION, endpoint, credentials, maxAttempts: 1 })

export const motoKmsClient = (endpoint: string): KMSClient =>
  new KMSClient({ region: MOTO_REGION, endpoint, credentials: DUMMY_CREDENTIALS, maxAttempts: 1 })
