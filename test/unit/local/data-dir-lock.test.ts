// One broker per data folder: the lock is taken atomically, refused with one line while its
// owner lives, and taken over — with the owner's leftover children stopped — once it is gone.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  acquireDataDirLock,
  DataDirLockedError,
  LOCK_FILE,
  type LockPorts,
} from '../../../infra/local/data-dir-lock.js'

/** A process table the test writes: pid → command line. */
const fakeProcesses = (table: Record<number, string>) => {
  const killed: number[] = []
  const ports: LockPorts = {
    isAlive: (pid) => pid in table,
    commandOf: (pid) => table[pid],
    kill: (pid) => {
      killed.push(pid)
      delete table[pid]
    },
  }
  return { ports, killed, table }
}

const NOW = () => new Date('2026-12-04T10:00:00.000Z')
let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-lock-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const lockOf = () => JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))

describe('acquireDataDirLock', () => {
  it('takes a free folder: a 0600 file with its pid, start time and command, and nothing else left in the folder', () => {
    const { ports } = fakeProcesses({ 100: 'node --import tsx infra/local/main.ts' })
    const lock = acquireDataDirLock(dir, { pid: 100, now: NOW, ports })
    expect(lock.takenOver).toBeUndefined()
    expect(lockOf()).toEqual({
      pid: 100,
      startedAt: '2026-12-04T10:00:00.000Z',
      command: 'node --import tsx infra/local/main.ts',
      children: [],
    })
    expect(statSync(lock.path).mode & 0o777).toBe(0o600)
    expect(readdirSync(dir)).toEqual([LOCK_FILE])
  })

  it('refuses while the owner runs, naming its pid and start in one line, and leaves its lock alone', () => {
    const { ports } = fakeProcesses({ 100: 'node main.ts', 200: 'node main.ts' })
    acquireDataDirLock(dir, { pid: 100, now: NOW, ports })
    const before = readFileSync(join(dir, LOCK_FILE), 'utf8')
    let refusal: unknown
    try {
      acquireDataDirLock(dir, { pid: 200, ports })
    } catch (error) {
      refusal = error
    }
    expect(refusal).toBeInstanceOf(DataDirLockedError)
    expect((refusal as Error).message).toBe(
      `the data folder ${dir} is in use by another broker (pid 100, started 2026-12-04T10:00:00.000Z); stop that one, or set IRSA_BROKER_DATA_DIR to another folder`,
    )
    expect((refusal as Error).message).not.toContain('\n')
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(before)
    expect(readdirSync(dir)).toEqual([LOCK_FILE])
  })

  it('never moves a live owner’s lock, not for an instant (a third start could take the folder then)', () => {
    const { ports } = fakeProcesses({ 100: 'node main.ts', 200: 'node main.ts' })
    acquireDataDirLock(dir, { pid: 100, ports })
    const absentWhileAsked: number[] = []
    const watching: LockPorts = {
      ...ports,
      isAlive: (pid) => {
        if (!existsSync(join(dir, LOCK_FILE))) absentWhileAsked.push(pid)
        return ports.isAlive(pid)
      },
    }
    expect(() => acquireDataDirLock(dir, { pid: 200, ports: watching })).toThrow(DataDirLockedError)
    expect(absentWhileAsked).toEqual([])
  })

  it('takes over the lock of a pid that is gone, and stops the children it recorded that still run', () => {
    const processes = fakeProcesses({
      100: 'node main.ts',
      300: '/usr/bin/python /usr/bin/moto_server -H 127.0.0.1 -p 4000',
    })
    const first = acquireDataDirLock(dir, { pid: 100, now: NOW, ports: processes.ports })
    first.recordChildren([
      { pid: 300, command: 'moto_server -H 127.0.0.1 -p 4000' },
      { pid: 301, command: 'moto_server -H 127.0.0.1 -p 4001' }, // already gone
    ])
    delete processes.table[100] // SIGKILLed: no release
    processes.table[200] = 'node main.ts'

    const second = acquireDataDirLock(dir, { pid: 200, now: NOW, ports: processes.ports })
    expect(second.takenOver?.owner.pid).toBe(100)
    expect(second.takenOver?.stoppedChildren).toEqual([300])
    expect(processes.killed).toEqual([300])
    expect(lockOf().pid).toBe(200)
    expect(readdirSync(dir)).toEqual([LOCK_FILE])
  })

  it('never stops a recorded child whose pid now runs another program', () => {
    const processes = fakeProcesses({ 100: 'node main.ts' })
    acquireDataDirLock(dir, { pid: 100, ports: processes.ports }).recordChildren([
      { pid: 300, command: 'moto_server -H 127.0.0.1 -p 4000' },
    ])
    delete processes.table[100]
    processes.table[300] = 'vim notes.txt' // the pid was reused
    const lock = acquireDataDirLock(dir, { pid: 200, ports: processes.ports })
    expect(lock.takenOver?.stoppedChildren).toEqual([])
    expect(processes.killed).toEqual([])
  })

  it('counts an owner pid that now runs another program as gone', () => {
    const processes = fakeProcesses({ 100: 'node --import tsx infra/local/main.ts' })
    acquireDataDirLock(dir, { pid: 100, ports: processes.ports })
    processes.table[100] = 'sleep 1000'
    expect(acquireDataDirLock(dir, { pid: 200, ports: processes.ports }).takenOver?.owner.pid).toBe(100)
  })

  it('takes over an unreadable lock (never a live broker’s: locks are written whole, then linked)', () => {
    writeFileSync(join(dir, LOCK_FILE), '{"pid": 1')
    const { ports } = fakeProcesses({ 200: 'node main.ts' })
    const lock = acquireDataDirLock(dir, { pid: 200, ports })
    expect(lockOf().pid).toBe(200)
    expect(lock.takenOver).toBeUndefined()
  })

  it('release removes its own lock only, once', () => {
    const processes = fakeProcesses({ 100: 'node main.ts', 200: 'node main.ts' })
    const first = acquireDataDirLock(dir, { pid: 100, ports: processes.ports })
    // Taken over meanwhile (the first was thought gone): its release must not free the new owner's folder.
    delete processes.table[100]
    acquireDataDirLock(dir, { pid: 200, ports: processes.ports })
    first.release()
    expect(lockOf().pid).toBe(200)

    rmSync(join(dir, LOCK_FILE))
    const again = acquireDataDirLock(dir, { pid: 300, ports: processes.ports })
    again.release()
    again.release()
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false)
  })

  it('records the children in place, still one whole file', () => {
    const { ports } = fakeProcesses({ 100: 'node main.ts' })
    const lock = acquireDataDirLock(dir, { pid: 100, ports })
    lock.recordChildren([{ pid: 5, command: 'moto_server -p 1' }])
    expect(lockOf().children).toEqual([{ pid: 5, command: 'moto_server -p 1' }])
    expect(readdirSync(dir)).toEqual([LOCK_FILE])
  })
})
