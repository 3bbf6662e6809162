import { describe, expect, it, vi } from 'vitest'
import { type Deadline, NO_DEADLINE, withDeadline } from '../../../shared/core/deadline.js'
import { DeadlineExceededError } from '../../../shared/core/errors.js'

const never = <T>(): Promise<T> => new Promise<T>(() => undefined)

describe('withDeadline', () => {
  it('settles with the work outcome when the work settles first, and leaves no timer behind', async () => {
    // Prepare
    vi.useFakeTimers()
    try {
      // Act
      const value = await withDeadline(1000, async () => 'done')
      const failure = await withDeadline(1000, async () => {
        throw new Error('work failed')
      }).catch((error: unknown) => error)
      // Assess
      expect(value).toBe('done')
      expect(failure).toEqual(new Error('work failed'))
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('rejects with DeadlineExceededError (ServiceUnavailable 503, Retry-After 1) while the work never settles', async () => {
    // Prepare
    vi.useFakeTimers()
    const seen: Deadline[] = []
    const expired: DeadlineExceededError[] = []
    try {
      const outcome = withDeadline(
        800,
        (deadline) => {
          seen.push(deadline)
          return never()
        },
        (error) => expired.push(error),
      ).catch((error: unknown) => error)
      // Act
      await vi.advanceTimersByTimeAsync(799)
      const before = { expired: seen[0]?.expired, aborted: seen[0]?.signal.aborted }
      await vi.advanceTimersByTimeAsync(1)
      const error = await outcome
      // Assess
      expect(before).toEqual({ expired: false, aborted: false })
      expect(error).toBeInstanceOf(DeadlineExceededError)
      expect(error).toMatchObject({
        code: 'ServiceUnavailable',
        statusCode: 503,
        reason: 'deadline_exceeded',
        retryAfterSeconds: 1,
      })
      expect(expired).toEqual([error])
      expect(seen[0]?.expired).toBe(true)
      expect(seen[0]?.signal.aborted).toBe(true)
      expect(seen[0]?.remainingMs()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('hands out an already aborted signal when it is first asked for after the deadline ended', async () => {
    // Prepare
    let captured: Deadline | undefined
    // Act
    const error = await withDeadline(1, (deadline) => {
      captured = deadline
      return never()
    }).catch((failure: unknown) => failure)
    // Assess: the signal did not exist before the deadline ended (no adapter asked for it)
    expect(error).toBeInstanceOf(DeadlineExceededError)
    expect(captured?.expired).toBe(true)
    expect(captured?.signal.aborted).toBe(true)
    expect(captured?.signal.reason).toBe(error)
  })

  it('drops a late rejection of the work after the deadline answered (no unhandled rejection)', async () => {
    // Prepare
    let fail: (error: Error) => void = () => undefined
    const late = new Promise<never>((_resolve, reject) => {
      fail = reject
    })
    // Act
    const error = await withDeadline(1, () => late).catch((failure: unknown) => failure)
    fail(new Error('too late'))
    await new Promise((resolve) => setImmediate(resolve))
    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError)
  })

  it('runs the work with a deadline that never ends when there is no budget', async () => {
    // Act
    const seen = await withDeadline(undefined, async (deadline) => deadline)
    // Assess
    expect(seen).toBe(NO_DEADLINE)
    expect(seen.remainingMs()).toBe(Number.POSITIVE_INFINITY)
    expect(seen.expired).toBe(false)
    expect(seen.signal.aborted).toBe(false)
  })
})
