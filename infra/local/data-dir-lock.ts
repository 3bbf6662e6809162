// One broker per data folder. Two would share dynalite's files (the second start dies inside
// LevelDB with "Database is closed"), the signing key and the admin token. The lock is a file,
// `<data folder>/broker.lock`, holding the owner's pid and the pids of the children it started;
// a lock whose pid is gone is stale and taken over (after stopping the children it left).
import { spawnSync } from 'node:child_process'
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

export const LOCK_FILE = 'broker.lock'

export interface LockOwner {
  pid: number
  startedAt: string
  /** The owner's command line, to tell the owner from an unrelated process that got its pid later. */
  command: string
  /** Child processes the owner started (moto_server), so a successor can stop them when the owner died hard. */
  children: { pid: number; command: string }[]
}

/** The one line `npm start` prints when the folder is taken. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError'
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `the data folder ${dataDir} is in use by another broker (pid ${owner.pid}, started ${owner.startedAt}); stop that one, or set IRSA_BROKER_DATA_DIR to another folder`,
    )
  }
}

export interface LockPorts {
  /** Whether a process with this pid exists (EPERM counts: it exists, it is someone else's). */
  isAlive(pid: number): boolean
  /** The command line of a running process, or undefined when it cannot be read. */
  commandOf(pid: number): string | undefined
  kill(pid: number): void
}

const commandOf = (pid: number): string | undefined => {
  if (process.platform === 'linux') {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() || undefined
    } catch {
      return undefined
    }
  }
  const ps = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' })
  return ps.status === 0 ? ps.stdout.trim() || undefined : undefined
}

export const processPorts: LockPorts = {
  isAlive: (pid) => {
    try {
      process.kill(pid, 0)
      return true
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM'
    }
  },
  commandOf,
  kill: (pid) => {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // gone meanwhile
    }
  },
}

export interface DataDirLock {
  path: string
  /** The stale lock found and cleared, for one line at start; undefined when there was none. */
  takenOver?: { owner: LockOwner; stoppedChildren: number[] }
  /** Records the children started since, so a successor can stop them if this process dies hard. */
  recordChildren(children: LockOwner['children']): void
  /** Removes the lock if it is still ours (idempotent; safe in an exit handler). */
  release(): void
}

const isChild = (child: unknown): child is LockOwner['children'][number] =>
  typeof child === 'object' &&
  child !== null &&
  Number.isSafeInteger((child as { pid?: unknown }).pid) &&
  typeof (child as { command?: unknown }).command === 'string'

const parseOwner = (text: string): LockOwner | undefined => {
  try {
    const value = JSON.parse(text) as Record<string, unknown>
    const pid = value.pid
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined
    return {
      pid,
      startedAt: typeof value.startedAt === 'string' ? value.startedAt : 'at an unknown time',
      command: typeof value.command === 'string' ? value.command : '',
      children: Array.isArray(value.children) ? value.children.filter(isChild) : [],
    }
  } catch {
    return undefined
  }
}

/** The lock's owner; undefined for an unreadable file (no live owner writes one: see below). */
const readOwner = (path: string): LockOwner | undefined | 'missing' => {
  try {
    return parseOwner(readFileSync(path, 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing'
    throw error
  }
}

/**
 * Takes the data folder's lock, or throws DataDirLockedError naming the live owner. A lock
 * whose owner is gone, whose pid now runs another program, or which cannot be read is stale
 * and taken over; the children it records that still run the command they were started with
 * are stopped first (they outlive an owner killed with SIGKILL).
 */
export const acquireDataDirLock = (
  dataDir: string,
  options: { pid?: number; command?: string; now?: () => Date; ports?: LockPorts } = {},
): DataDirLock => {
  const ports = options.ports ?? processPorts
  const pid = options.pid ?? process.pid
  const folder = resolve(dataDir)
  mkdirSync(folder, { recursive: true, mode: 0o700 })
  const path = join(folder, LOCK_FILE)
  const mine: LockOwner = {
    pid,
    startedAt: (options.now?.() ?? new Date()).toISOString(),
    command: options.command ?? ports.commandOf(pid) ?? process.argv.join(' '),
    children: [],
  }
  const draft = `${path}.${pid}.tmp`
  // Every version of the lock is written whole to a draft first, then linked or renamed into
  // place: a reader never sees a half-written lock.
  const writeDraft = () => writeFileSync(draft, `${JSON.stringify(mine)}\n`, { mode: 0o600 })
  const liveOwner = (owner: LockOwner | undefined | 'missing'): LockOwner | undefined => {
    if (owner === 'missing' || owner === undefined || owner.pid === pid || !ports.isAlive(owner.pid))
      return undefined
    const running = ports.commandOf(owner.pid)
    return running === undefined || owner.command === '' || running.includes(owner.command)
      ? owner
      : undefined
  }

  let takenOver: DataDirLock['takenOver']
  let acquired = false
  for (let attempt = 0; attempt < 5 && !acquired; attempt++) {
    writeDraft()
    try {
      linkSync(draft, path) // atomic: fails with EEXIST when the lock exists
      acquired = true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    } finally {
      rmSync(draft, { force: true })
    }
    if (acquired) break
    const owner = readOwner(path)
    if (owner === 'missing') continue
    const live = liveOwner(owner)
    if (live) throw new DataDirLockedError(folder, live)
    // Stale. Move it aside (of two successors racing here only one rename succeeds), and check
    // that what moved is still the stale lock, not one a live broker wrote meanwhile.
    const aside = `${path}.${pid}.stale`
    try {
      renameSync(path, aside)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw error
    }
    const moved = readOwner(aside)
    const racer = liveOwner(moved)
    if (racer) {
      try {
        linkSync(aside, path)
      } catch {
        // a third broker holds the folder by now: it is taken either way
      }
      rmSync(aside, { force: true })
      throw new DataDirLockedError(folder, racer)
    }
    rmSync(aside, { force: true })
    if (moved !== 'missing' && moved !== undefined) {
      const stoppedChildren: number[] = []
      for (const child of moved.children) {
        if (ports.commandOf(child.pid)?.includes(child.command)) {
          ports.kill(child.pid)
          stoppedChildren.push(child.pid)
        }
      }
      takenOver = { owner: moved, stoppedChildren }
    }
  }
  if (!acquired) throw new Error(`could not take the lock ${path}: it kept changing`)

  let held = true
  return {
    path,
    ...(takenOver ? { takenOver } : {}),
    recordChildren: (children) => {
      if (!held) return
      mine.children = children
      writeDraft()
      renameSync(draft, path)
    },
    release: () => {
      if (!held) return
      held = false
      const owner = readOwner(path)
      if (owner !== 'missing' && owner?.pid === pid) rmSync(path, { force: true })
    },
  }
}
