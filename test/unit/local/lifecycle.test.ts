// When the local broker stops: each stop signal, a changed parent, a signal repeated by the
// terminal and npm (one stop), a second signal later (exit now), and a stop that hangs.
import { EventEmitter } from 'node:events'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { STOP_SIGNALS, type StopCause, stopOnSignalsAndParentExit } from '../../../infra/local/lifecycle.js'

const fakeProcess = (ppid: number) => {
  const emitter = new EventEmitter() as EventEmitter & { ppid: number }
  emitter.ppid = ppid
  return emitter
}

const install = (options: { stop?: (cause: StopCause) => Promise<void> } = {}) => {
  const proc = fakeProcess(42)
  const lines: string[] = []
  const exits: number[] = []
  const causes: StopCause[] = []
  const remove = stopOnSignalsAndParentExit({
    process: proc as unknown as NodeJS.Process,
    say: (line) => lines.push(line),
    exit: (code) => exits.push(code),
    stop: async (cause) => {
      causes.push(cause)
      await (options.stop?.(cause) ?? Promise.resolve())
    },
    parentPollMs: 100,
    stopTimeoutMs: 5_000,
    impatienceMs: 1_000,
  })
  return { proc, lines, exits, causes, remove }
}

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('stopOnSignalsAndParentExit', () => {
  it.each(STOP_SIGNALS)('stops on %s, says so in one line, and exits 0 once stopped', async (signal) => {
    const { proc, lines, exits, causes } = install()
    proc.emit(signal)
    await vi.advanceTimersByTimeAsync(0)
    expect(causes).toEqual([{ signal }])
    expect(lines).toEqual([`irsa-broker: ${signal} received, stopping`])
    expect(exits).toEqual([0])
  })

  it('stops when its parent changes (the parent died and it was re-parented)', async () => {
    const { proc, lines, exits, causes } = install()
    await vi.advanceTimersByTimeAsync(350)
    expect(causes).toEqual([])
    proc.ppid = 1
    await vi.advanceTimersByTimeAsync(100)
    expect(causes).toEqual([{ parentGone: 42 }])
    expect(lines).toEqual(['irsa-broker: the parent process (pid 42) is gone, stopping'])
    expect(exits).toEqual([0])
  })

  it('takes the same signal twice within a second as one stop (terminal and npm both deliver Ctrl-C)', async () => {
    const { proc, exits, causes } = install({ stop: () => new Promise((done) => setTimeout(done, 3_000)) })
    proc.emit('SIGINT')
    await vi.advanceTimersByTimeAsync(10)
    proc.emit('SIGINT')
    await vi.advanceTimersByTimeAsync(10)
    expect(causes).toHaveLength(1)
    expect(exits).toEqual([])
    await vi.advanceTimersByTimeAsync(3_000)
    expect(exits).toEqual([0])
  })

  it('exits at once with 128 + n on a second signal a second or more after the first', async () => {
    const { proc, lines, exits } = install({ stop: () => new Promise(() => undefined) })
    proc.emit('SIGTERM')
    await vi.advanceTimersByTimeAsync(1_000)
    proc.emit('SIGINT')
    expect(exits).toEqual([130])
    expect(lines.at(-1)).toBe('irsa-broker: SIGINT again, exiting without waiting')
  })

  it('exits 1 when stopping does not settle in time, or fails', async () => {
    const hung = install({ stop: () => new Promise(() => undefined) })
    hung.proc.emit('SIGTERM')
    await vi.advanceTimersByTimeAsync(5_000)
    expect(hung.exits).toEqual([1])
    expect(hung.lines.at(-1)).toBe('irsa-broker: stopping took too long, exiting')

    const failing = install({ stop: () => Promise.reject(new Error('dynalite would not close')) })
    failing.proc.emit('SIGHUP')
    await vi.advanceTimersByTimeAsync(0)
    expect(failing.exits).toEqual([1])
    expect(failing.lines.at(-1)).toBe('irsa-broker: stopping failed: dynalite would not close')
  })

  it('removes its handlers and stops watching the parent when asked', async () => {
    const { proc, causes, remove } = install()
    remove()
    for (const signal of STOP_SIGNALS) expect(proc.listenerCount(signal)).toBe(0)
    proc.ppid = 1
    await vi.advanceTimersByTimeAsync(500)
    expect(causes).toEqual([])
  })
})
