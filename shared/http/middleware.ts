// The middy stack every HTTP function shares: request id on every answer, broker errors to
// their wire form, anything else to a logged 500 that shows the caller only the request id.
import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import { InternalError, isBrokerError } from '../core/errors.js'
import type { Logger } from '../core/ports.js'
import { type HttpEvent, requestIdOf } from './event.js'
import { errorResponse, type HttpResponse } from './response.js'

export type HttpHandler = (event: HttpEvent, context: Context) => Promise<HttpResponse>

/**
 * The answers the stack's alarms count (serverless.yml, "Alarms"), as metrics of the function
 * that gave them: callers refused (401, 403: a spike is an attack or a misconfigured data
 * plane) and the broker failing (5xx, including the 503s of a dependency outage). One EMF line
 * per such answer, none for any other; which code it was is in the audit line or the warning.
 */
const countAnswer = (logger: Logger, status: number) => {
  if (status >= 500) logger.metric('ServerErrors', 1, {})
  else if (status === 401 || status === 403) logger.metric('Denials', 1, {})
}

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
      countAnswer(logger, error.statusCode)
      return
    }
    // Only the error's name, message and stack: never the event, which holds the token.
    logger.error('request failed', {
      requestId,
      error: isBrokerError(error) ? (error.cause ?? error) : error,
    })
    request.response = errorResponse(new InternalError(), requestId)
    countAnswer(logger, request.response.statusCode)
  },
})

export const httpFunction = (logger: Logger, handler: (event: HttpEvent) => Promise<HttpResponse>) =>
  middy<HttpEvent, HttpResponse>(handler).use(brokerErrors(logger))
