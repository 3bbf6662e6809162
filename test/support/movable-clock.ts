// The broker's clock for a local stack under test: real time at the start, moved forward by the
// test, so that what waits on time (the registry TTL of each function, a key set's TTL, the
// fetch cooldown) is waited out at once instead of slept through.
import type { Clock } from '../../shared/core/ports.js'

export interface MovableClock extends Clock {
  advance(seconds: number): void
  /** The clock's time in whole seconds since the epoch. */
  seconds(): number
}

export const createMovableClock = (): MovableClock => {
  let offsetMs = 0
  return {
    now: () => new Date(Date.now() + offsetMs),
    advance: (seconds) => {
      offsetMs += seconds * 1000
    },
    seconds: () => Math.floor((Date.now() + offsetMs) / 1000),
  }
}
