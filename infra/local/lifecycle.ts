// When `npm start` stops: on SIGINT, SIGTERM or SIGHUP, and when the process that started it
// goes away. `kill <npm pid>` reaches only npm, and a SIGKILL of npm or of a wrapper reaches
// nobody; either way the broker would run on, orphaned, with its moto_server and the data
// folder's lock. So the parent is watched too: once this process is re-parented, it stops.

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
export type StopSignal = (typeof STOP_SIGNALS)[number]

export type StopCause = { signal: StopSignal } | { parentGone: number }

export interface LifecycleOptions {
  /** Stops everything; the process exits once it settles (or after `stopTimeoutMs`). */
  stop(cause: StopCause): Promise<void>
  /** One line to stderr, e.g. why the broker stops. */
  say(line: string): void
  /** How often the parent is checked. */
  parentPollMs?: number
  /** After this long, the process exits even if stop() has not settled. */
  stopTimeoutMs?: number
  /** A second signal this long after the first exits at once; an earlier one is the same signal twice. */
  impatienceMs?: number
  now?: () => number
  exit?: (code: number) => void
  /** The process to watch (tests give a fake). */
  process?: Pick<NodeJS.Process, 'on' | 'off' | 'ppid'>
}

/** A second signal's exit code: the conventional 128 + n of a process the signal ended. */
const SIGNAL_NUMBERS: Record<StopSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }

/**
 * Installs the handlers. The first stop request runs `stop` and exits 0 (a stop asked for and
 * done is a success; 1 if stopping failed or timed out). A second signal while stopping exits
 * at once with 128 + n (the 'exit' hook of processes.ts still kills the children) — unless it
 * comes within `impatienceMs` of the first: a terminal's Ctrl-C reaches the whole process
 * group, npm among it, and npm forwards it once more, so one keypress arrives twice.
 * Returns a function that removes the handlers again.
 */
export const stopOnSignalsAndParentExit = (options: LifecycleOptions): (() => void) => {
  const proc = options.process ?? process
  const exit = options.exit ?? ((code: number) => process.exit(code))
  const now = options.now ?? Date.now
  const startingParent = proc.ppid
  let stopping = false
  let stoppingSince = 0

  const begin = (cause: StopCause) => {
    if (stopping) {
      if ('signal' in cause && now() - stoppingSince >= (options.impatienceMs ?? 1000)) {
        options.say(`irsa-broker: ${cause.signal} again, exiting without waiting`)
        exit(128 + SIGNAL_NUMBERS[cause.signal])
      }
      return
    }
    stopping = true
    stoppingSince = now()
    clearInterval(watch)
    options.say(
      'signal' in cause
        ? `irsa-broker: ${cause.signal} received, stopping`
        : `irsa-broker: the parent process (pid ${cause.parentGone}) is gone, stopping`,
    )
    const deadline = setTimeout(() => {
      options.say('irsa-broker: stopping took too long, exiting')
      exit(1)
    }, options.stopTimeoutMs ?? 10_000)
    deadline.unref?.()
    options.stop(cause).then(
      () => {
        clearTimeout(deadline)
        exit(0)
      },
      (error: unknown) => {
        clearTimeout(deadline)
        options.say(`irsa-broker: stopping failed: ${(error as Error).message}`)
        exit(1)
      },
    )
  }

  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = () => begin({ signal })
    proc.on(signal, handler)
    return [signal, handler] as const
  })
  const watch = setInterval(() => {
    if (proc.ppid !== startingParent) begin({ parentGone: startingParent })
  }, options.parentPollMs ?? 500)
  watch.unref?.()

  return () => {
    clearInterval(watch)
    for (const [signal, handler] of handlers) proc.off(signal, handler)
  }
}
