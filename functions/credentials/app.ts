// GET /v1/credentials (the SDKs' container-credentials shape) and POST /v1/credentials
// (the credential_process shape).

import type { BrokerSettings } from '../../shared/config.js'
import { credentialsBodySchema, credentialsQuerySchema } from '../../shared/core/credentials-request.js'
import { parseInput } from '../../shared/core/parse-input.js'
import { jsonBody, queryParameters, requestIdOf, workloadToken } from '../../shared/http/event.js'
import { httpFunction } from '../../shared/http/middleware.js'
import { json } from '../../shared/http/response.js'
import { type Core, createExchangeCore, type ExchangeAdapters } from '../../shared/wiring.js'

export const createCredentialsHandler = (core: Pick<Core, 'exchange' | 'logger'>) =>
  httpFunction(core.logger, async (event) => {
    const requestId = requestIdOf(event)
    const token = workloadToken(event)
    if (event.requestContext.http.method === 'POST') {
      const body = parseInput(credentialsBodySchema, jsonBody(event) ?? {})
      const issued = await core.exchange.issueCredentials({ token, requestId, ...body })
      const { credentials } = issued
      return json(200, {
        Version: 1,
        AccessKeyId: credentials.accessKeyId,
        SecretAccessKey: credentials.secretAccessKey,
        SessionToken: credentials.sessionToken,
        Expiration: credentials.expiration.toISOString(),
        RoleArn: issued.roleArn,
        AssumedRoleArn: credentials.assumedRoleArn,
        SessionName: issued.sessionName,
      })
    }
    const query = parseInput(credentialsQuerySchema, queryParameters(event))
    const { credentials } = await core.exchange.issueCredentials({ token, requestId, role: query.role })
    return json(200, {
      AccessKeyId: credentials.accessKeyId,
      SecretAccessKey: credentials.secretAccessKey,
      Token: credentials.sessionToken,
      Expiration: credentials.expiration.toISOString(),
      AccountId: credentials.accountId,
    })
  })

/**
 * The credentials function from its adapters: the exchange without the admin plane; the only
 * function that signs broker tokens and calls STS. Its Lambda root (handler.ts) and the local
 * stack both build it here, so they differ only in the adapters.
 */
export const buildCredentialsFunction = (adapters: ExchangeAdapters, settings: BrokerSettings) => {
  const core = createExchangeCore(adapters, settings)
  return { handler: createCredentialsHandler(core), core }
}
