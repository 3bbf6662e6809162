// The middy stack every HTTP function shares: request id on every answer, broker errors to
// their wire form, anything else to a logged 500 that shows the caller only the request id.
import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import { InternalError, isBrokerError } from '../core/errors.js'
import type { Logger } from '../core/ports.js'
import { type HttpEvent, requestIdOf } from './event.js'
import { errorResponse, type HttpResponse } from './response.js'

export type HttpHandler = (event: HttpEvent, context: Context) => Promise<HttpResponse>

export const brokerErrors = (logger: Logger): middy.MiddlewareObj<HttpEvent, HttpResponse> => ({
  after: (request) => {
    if (request.response) request.response.headers['x-request-id'] = requestIdOf(request.event)
  },
  onError: (request) => {
    const requestId = requestIdOf(request.event)
    const error = request.error
    if (isBrokerError(error) && error.code !== 'InternalError') {
      if (error.statusCode >= 500)
        logger.warn('dependency unavailable', { requestId, reason: error.reason, error: error.cause })
      request.response = errorResponse(error, requestId)
      return
    }
    // Only the error's name, message and stack: never the event, which holds the token.
    logger.error('request failed', {
      requestId,
      error: isBrokerError(error) ? (error.cause ?? error) : error,
    })
    request.response = errorResponse(new InternalError(), requestId)
  },
})

export const httpFunction = (logger: Logger, handler: (event: HttpEvent) => Promise<HttpResponse>) =>
  middy<HttpEvent, HttpResponse>(handler).use(brokerErrors(logger))
