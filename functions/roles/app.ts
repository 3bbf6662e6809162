// GET /v1/roles: the roles a workload token may use, one per profile (for ~/.aws/config).
import { rejectQueryParameters, requestIdOf, workloadToken } from '../../shared/http/event.js'
import { httpFunction } from '../../shared/http/middleware.js'
import { json } from '../../shared/http/response.js'
import type { Core } from '../../shared/wiring.js'

export const createRolesHandler = (core: Pick<Core, 'exchange' | 'logger'>) =>
  httpFunction(core.logger, async (event) => {
    rejectQueryParameters(event)
    const roles = await core.exchange.listRoles({
      token: workloadToken(event),
      requestId: requestIdOf(event),
    })
    return json(200, { roles })
  })
