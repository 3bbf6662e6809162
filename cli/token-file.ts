// Reads a workload token as kubelet projects it: fresh on every call (kubelet rotates the
// file in place), surrounding whitespace trimmed, and refused with a clear reason otherwise.
import { readFileSync, statSync } from 'node:fs'
import { InputError } from './errors.js'

/** Far above any real token (the broker refuses more than 16 KiB); a bigger file is not a token. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024

const reasonOf = (error: unknown): string => {
  switch ((error as { code?: unknown }).code) {
    case 'ENOENT':
      return 'does not exist'
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)'
    case 'EISDIR':
      return 'is a directory, not a file'
    default:
      return `cannot be read (${(error as Error).message})`
  }
}

export const readTokenFile = (path: string, label = 'token file'): string => {
  let raw: string
  try {
    if (statSync(path).size > MAX_TOKEN_FILE_BYTES)
      throw new InputError('TokenFile', `${label} ${path} is larger than ${MAX_TOKEN_FILE_BYTES} bytes`)
    raw = readFileSync(path, 'utf8')
  } catch (error) {
    if (error instanceof InputError) throw error
    throw new InputError('TokenFile', `${label} ${path} ${reasonOf(error)}`)
  }
  const token = raw.trim()
  if (token === '') throw new InputError('TokenFile', `${label} ${path} is empty`)
  // Whatever is inside goes into an HTTP header: one printable word or nothing.
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new InputError(
      'TokenFile',
      `${label} ${path} does not hold a single token (whitespace or control characters inside)`,
    )
  return token
}
