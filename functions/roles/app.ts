// GET /v1/roles: the roles a workload token may use, one per profile (for ~/.aws/config).

import type { BrokerSettings } from '../../shared/config.js'
import { rejectQueryParameters, requestIdOf, workloadToken } from '../../shared/http/event.js'
import { httpFunction } from '../../shared/http/middleware.js'
import { json } from '../../shared/http/response.js'
import { type Core, createExchangeCore, type ExchangeAdapters } from '../../shared/wiring.js'
import { withoutSigningOrSts } from '../../shared/without-signing-or-sts.js'

export const createRolesHandler = (core: Pick<Core, 'exchange' | 'logger'>) =>
  httpFunction(core.logger, async (event) => {
    rejectQueryParameters(event)
    const roles = await core.exchange.listRoles({
      token: workloadToken(event),
      requestId: requestIdOf(event),
    })
    return json(200, { roles })
  })

/**
 * The roles function from its adapters: the exchange without the admin plane (so without a
 * schema library). Listing roles neither signs nor calls STS, so it is given neither. Built here
 * by its Lambda root (handler.ts) and by the local stack alike.
 */
export const buildRolesFunction = (
  adapters: Omit<ExchangeAdapters, 'sts' | 'signer'>,
  settings: BrokerSettings,
) => {
  const core = createExchangeCore({ ...adapters, ...withoutSigningOrSts }, settings)
  return { handler: createRolesHandler(core), core }
}
