// Watches files by reading them again on an interval and comparing the bytes. Polling, not
// fs.watch: kubelet and cert-manager swap a mounted Secret or ConfigMap by renaming a `..data`
// symlink to a new timestamped folder, which inotify on the file itself does not report, and a
// read through the path always follows the current link. Two small files every few seconds
// cost nothing.
import { readFileSync } from 'node:fs'

export interface FilePoller {
  /** Reads now (also what each tick does). */
  check(): void
  stop(): void
}

export interface FilePollerOptions {
  paths: readonly string[]
  intervalMs: number
  /** The contents, in the order of `paths`, whenever any differs from the last read. */
  onChange(contents: Buffer[]): void
  /** A file could not be read; told once per distinct message until a read succeeds. */
  onReadError(error: Error): void
  /** The contents already in use, so the first tick does not report them as a change. */
  initial?: Buffer[] | undefined
  readFile?: (path: string) => Buffer
}

export const pollFiles = (options: FilePollerOptions): FilePoller => {
  const readFile = options.readFile ?? ((path: string) => readFileSync(path))
  let last = options.initial
  let lastError: string | undefined

  const check = () => {
    let contents: Buffer[]
    try {
      contents = options.paths.map((path) => readFile(path))
    } catch (error) {
      const message = (error as Error).message
      if (message !== lastError) {
        lastError = message
        options.onReadError(error as Error)
      }
      return
    }
    lastError = undefined
    if (
      last &&
      last.length === contents.length &&
      last.every((buffer, index) => buffer.equals(contents[index] as Buffer))
    )
      return
    last = contents
    options.onChange(contents)
  }

  const timer = setInterval(check, options.intervalMs)
  // The poller alone never keeps the process alive: the servers do while they run.
  timer.unref()
  return { check, stop: () => clearInterval(timer) }
}
