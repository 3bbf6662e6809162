// A folder laid out the way kubelet lays out a mounted Secret or ConfigMap (its AtomicWriter):
// the files live in a timestamped folder, `..data` is a symlink to it, and each visible name is
// a symlink through `..data`. An update writes a new timestamped folder, points `..data_tmp` at
// it and renames that over `..data` (one atomic step), then removes the old folder.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface SecretVolume {
  dir: string
  path(name: string): string
  /** Replaces every file at once, as kubelet does on a Secret change. */
  update(files: Record<string, Buffer | string>): void
}

export const createSecretVolume = (dir: string, files: Record<string, Buffer | string>): SecretVolume => {
  mkdirSync(dir, { recursive: true })
  let generation = 0
  let current: string | undefined

  const writeGeneration = (contents: Record<string, Buffer | string>): string => {
    generation++
    const folder = `..2026_01_01_00_00_${String(generation).padStart(2, '0')}.${process.pid}`
    mkdirSync(join(dir, folder))
    for (const [name, content] of Object.entries(contents))
      writeFileSync(join(dir, folder, name), content, { mode: 0o600 })
    return folder
  }

  current = writeGeneration(files)
  symlinkSync(current, join(dir, '..data'))
  for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(dir, name))

  return {
    dir,
    path: (name) => join(dir, name),
    update(contents) {
      const previous = current
      current = writeGeneration(contents)
      symlinkSync(current, join(dir, '..data_tmp'))
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
      if (previous) rmSync(join(dir, previous), { recursive: true, force: true })
    },
  }
}
