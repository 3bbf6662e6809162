// PUT /v1/issuers/{issuerId}/jwks: a cluster pushes its own keys (docs/api.md, "Key push"). Public: the
// key-sync token is the only credential, checked by the core (shared/core/key-push.ts).
import {
  bearerToken,
  pathParameter,
  rawBody,
  rejectQueryParameters,
  requestIdOf,
} from '../../shared/http/event.js'
import { httpFunction } from '../../shared/http/middleware.js'
import { json } from '../../shared/http/response.js'
import { createKeyPushCore, type KeyPushCore } from '../../shared/wiring.js'

export const createKeysHandler = (core: KeyPushCore) =>
  httpFunction(core.logger, async (event) =>
    json(
      200,
      await core.keyPush.push(() => {
        rejectQueryParameters(event)
        return {
          issuerId: pathParameter(event, 'issuerId'),
          token: bearerToken(event),
          body: rawBody(event),
        }
      }, requestIdOf(event)),
    ),
  )

/** The keys function from its adapters: the key push alone. Built by the local stack. */
export const buildKeysFunction = (adapters: Parameters<typeof createKeyPushCore>[0]) => ({
  handler: createKeysHandler(createKeyPushCore(adapters)),
})
