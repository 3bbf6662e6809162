// Pagination of the admin lists (issuers, bindings, revocations, history): `limit` (default 100,
// at most 1000) and an opaque `nextToken` while more remain. The token is base64url of
// {"v":1,"l":<list>,"p":<position>}: the list it was given for (e.g. "bindings:onprem") and where
// the next page starts, as string fields only. A token is validated, not trusted: it must decode,
// name the same list, and hold only the position fields that list uses; anything else is a 400
// naming `nextToken`. A store rebuilds its own keys from the position and the list (a partition
// key never comes from the token), so a forged position can only move within the same list.
import { InvalidParameterError } from './errors.js'

export const DEFAULT_PAGE_LIMIT = 100
export const MAX_PAGE_LIMIT = 1000
/** Longest token accepted: positions are a few keys, never this long. */
const MAX_TOKEN_CHARS = 2048
const TOKEN_VERSION = 1

/** Where the next page starts: the sort-key fields of the last item given, by name. */
export type PagePosition = Readonly<Record<string, string>>

export interface PageRequest {
  limit: number
  /** Absent on the first page. */
  after?: PagePosition | undefined
}

export interface Page<T> {
  items: T[]
  /** Present while more items remain. */
  next?: PagePosition | undefined
}

/** `limit` from a query string: absent → default; otherwise an integer 1..1000. */
export const parseLimit = (raw: string | undefined): number => {
  if (raw === undefined || raw === '') return DEFAULT_PAGE_LIMIT
  if (!/^[0-9]{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_PAGE_LIMIT)
    throw new InvalidParameterError('limit', `must be an integer from 1 to ${MAX_PAGE_LIMIT}`)
  return Number(raw)
}

export const encodeNextToken = (list: string, position: PagePosition): string =>
  Buffer.from(JSON.stringify({ v: TOKEN_VERSION, l: list, p: position }), 'utf8').toString('base64url')

const refused = () =>
  new InvalidParameterError('nextToken', 'is not a token this list gave; start again without it')

/**
 * The position in `token`, if it was given for `list` and holds exactly `fields` (each a
 * non-empty string of at most 1024 characters); otherwise a 400 naming `nextToken`.
 */
export const decodeNextToken = (list: string, token: string, fields: readonly string[]): PagePosition => {
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) throw refused()
  let decoded: unknown
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))
  } catch {
    throw refused()
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) throw refused()
  const { v, l, p, ...rest } = decoded as Record<string, unknown>
  if (v !== TOKEN_VERSION || l !== list || Object.keys(rest).length > 0) throw refused()
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw refused()
  const entries = Object.entries(p as Record<string, unknown>)
  if (entries.length !== fields.length) throw refused()
  const position = fields.map((field) => {
    const value = Object.hasOwn(p, field) ? (p as Record<string, unknown>)[field] : undefined
    if (typeof value !== 'string' || value.length === 0 || value.length > 1024) throw refused()
    return [field, value] as const
  })
  return Object.fromEntries(position)
}

/** A page of an in-memory list already in its stable order, positioned by `keyOf`. */
export const pageOf = <T>(
  all: readonly T[],
  request: PageRequest,
  keyOf: (item: T) => string,
  field = 'id',
): Page<T> => {
  const afterKey = request.after?.[field]
  const start = afterKey === undefined ? 0 : all.findIndex((item) => keyOf(item) > afterKey)
  const from = start === -1 ? all.length : start
  const items = all.slice(from, from + request.limit)
  const last = items.at(-1)
  const more = from + items.length < all.length
  return { items, ...(more && last !== undefined ? { next: { [field]: keyOf(last) } } : {}) }
}
