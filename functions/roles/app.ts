// GET /v1/roles: the roles a workload token may use, one per profile (for ~/.aws/config).

import { z } from 'zod'
import { parseInput } from '../../shared/core/schemas.js'
import { queryParameters, requestIdOf, workloadToken } from '../../shared/http/event.js'
import { httpFunction } from '../../shared/http/middleware.js'
import { json } from '../../shared/http/response.js'
import type { Core } from '../../shared/wiring.js'

const noQuery = z.strictObject({})

export const createRolesHandler = (core: Pick<Core, 'exchange' | 'logger'>) =>
  httpFunction(core.logger, async (event) => {
    parseInput(noQuery, queryParameters(event))
    const roles = await core.exchange.listRoles({
      token: workloadToken(event),
      requestId: requestIdOf(event),
    })
    return json(200, { roles })
  })
