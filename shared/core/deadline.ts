// One request's time budget. The SDK container-credentials provider gives up after 1 s, so a
// request is answered when its budget ends — a 503 the SDK can retry — whatever is still
// pending; adapters that take the deadline stop their calls and retries with it.
import { DeadlineExceededError } from './errors.js'

export interface Deadline {
  /** Aborts when the budget ends (SDK calls take it as `abortSignal`). */
  readonly signal: AbortSignal
  /** Milliseconds left, never negative. */
  remainingMs(): number
  readonly expired: boolean
}

/** A deadline that never ends, for callers without a budget (admin, explain, tests). */
export const NO_DEADLINE: Deadline = Object.freeze({
  signal: new AbortController().signal,
  remainingMs: () => Number.POSITIVE_INFINITY,
  expired: false,
})

/**
 * Runs `work` with a deadline `budgetMs` from now and settles by then: with the work's outcome,
 * or with a DeadlineExceededError (after `onExpired`) while the work is still running. The work
 * is not cancelled beyond the signal; its late outcome is dropped. Without a budget it simply runs.
 */
export const withDeadline = async <T>(
  budgetMs: number | undefined,
  work: (deadline: Deadline) => Promise<T>,
  onExpired: (error: DeadlineExceededError) => void = () => undefined,
): Promise<T> => {
  if (budgetMs === undefined) return work(NO_DEADLINE)
  // The AbortController is made only when an adapter asks for the signal: most requests (cached
  // credentials, refusals) call no dependency, and making one costs more than the rest of the
  // deadline. A signal asked for after the budget ended is aborted already.
  let controller: AbortController | undefined
  let expiry: DeadlineExceededError | undefined
  const startedAt = performance.now()
  const deadline: Deadline = {
    get signal() {
      if (!controller) {
        controller = new AbortController()
        if (expiry) controller.abort(expiry)
      }
      return controller.signal
    },
    remainingMs: () => Math.max(0, budgetMs - (performance.now() - startedAt)),
    get expired() {
      return expiry !== undefined
    },
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = new DeadlineExceededError(budgetMs)
      expiry = error
      onExpired(error)
      reject(error)
      controller?.abort(error)
    }, budgetMs)
  })
  try {
    return await Promise.race([work(deadline), expired])
  } finally {
    clearTimeout(timer)
  }
}
