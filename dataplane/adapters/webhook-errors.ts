// What the webhook's HTTPS server refuses, each with a stable code; the code's HTTP status is
// decided here and nowhere else. The API server shows a non-200 answer as "failed calling
// webhook" and then applies the webhook's failurePolicy.

export const WEBHOOK_WIRE_STATUS = {
  MalformedAdmissionReview: 400,
  NotFound: 404,
  MethodNotAllowed: 405,
  RequestTimeout: 408,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  InternalError: 500,
} as const

export type WebhookWireCode = keyof typeof WEBHOOK_WIRE_STATUS

export class WebhookRequestError extends Error {
  override readonly name = 'WebhookRequestError'
  constructor(
    readonly code: WebhookWireCode,
    message: string,
  ) {
    super(message)
  }

  get status(): number {
    return WEBHOOK_WIRE_STATUS[this.code]
  }
}

/** The wire form: `{"error":{"code","message"}}`; an InternalError's detail stays in the log. */
export const errorBody = (error: WebhookRequestError): string =>
  JSON.stringify({
    error: { code: error.code, message: error.code === 'InternalError' ? 'Internal error.' : error.message },
  })
