// `export` and `import` of issuers and bindings through the admin API (so against AWS too,
// signed with SigV4). An export records every object as the broker serves it, version
// included; an import creates what the target lacks, leaves alone what it holds already, and
// updates an object only when the target still has the version the export recorded — one
// changed there since is a conflict, reported per object, unless forced.
import { fillPath, PATHS } from '../shared/http/paths.js'
import { type Document, isObject } from './documents.js'
import { BrokerRefusedError, InputError } from './errors.js'
import { type BrokerClient, listAll } from './http.js'
import { checkId } from './ids.js'

export const EXPORT_KIND = 'irsa-broker/export'
export const EXPORT_FORMAT_VERSION = 1

export interface ExportDocument {
  kind: typeof EXPORT_KIND
  formatVersion: typeof EXPORT_FORMAT_VERSION
  exportedAt: string
  /** The broker it came from (its endpoint), for people. */
  source: string
  issuers: Document[]
  bindings: Document[]
}

/** Fields the server sets on every write; they say nothing about what an object grants. */
const SERVER_FIELDS = new Set(['version', 'createdAt', 'updatedAt', 'updatedBy'])

const issuerPath = (issuerId: string) => fillPath(PATHS.issuer, { issuerId })
const bindingsPath = (issuerId: string) => fillPath(PATHS.bindings, { issuerId })

export const exportObjects = async (
  client: BrokerClient,
  options: { issuerIds: readonly string[]; source: string; now: Date },
): Promise<ExportDocument> => {
  let issuers: Document[]
  if (options.issuerIds.length === 0)
    issuers = (await listAll(client, PATHS.issuers, 'issuers')) as Document[]
  else {
    issuers = []
    for (const issuerId of new Set(options.issuerIds))
      issuers.push(
        (await client.call({ method: 'GET', path: issuerPath(issuerId), retry: true })).body as Document,
      )
  }
  const bindings: Document[] = []
  for (const issuer of issuers)
    bindings.push(
      ...((await listAll(client, bindingsPath(String(issuer.issuerId)), 'bindings')) as Document[]),
    )
  return {
    kind: EXPORT_KIND,
    formatVersion: EXPORT_FORMAT_VERSION,
    exportedAt: options.now.toISOString(),
    source: options.source,
    issuers,
    bindings,
  }
}

/** One object of an export, checked enough to address it; the broker checks the rest. */
interface Entry {
  kind: 'issuer' | 'binding'
  issuerId: string
  bindingId?: string
  document: Document
  /** The version it had when exported, if the export says. */
  version: number | undefined
}

const entriesOf = (document: Document, source: string): Entry[] => {
  if (document.kind !== EXPORT_KIND || document.formatVersion !== EXPORT_FORMAT_VERSION)
    throw new InputError(
      'DocumentFile',
      `${source} is not an irsa-broker export (kind "${EXPORT_KIND}", formatVersion ${EXPORT_FORMAT_VERSION}); make one with irsa-broker export`,
    )
  const list = (field: 'issuers' | 'bindings'): Document[] => {
    const value = document[field] ?? []
    if (!Array.isArray(value) || !value.every(isObject))
      throw new InputError('DocumentFile', `${source}: "${field}" must be a list of objects`)
    return value
  }
  const entry = (kind: Entry['kind'], object: Document, index: number): Entry => {
    const where = `${source}: ${kind}s[${index}]`
    const id = (field: string, what: 'issuer id' | 'binding id') => {
      try {
        return checkId(typeof object[field] === 'string' ? (object[field] as string) : undefined, what)
      } catch (error) {
        throw new InputError('DocumentFile', `${where}: ${(error as Error).message}`)
      }
    }
    const version = object.version
    if (
      version !== undefined &&
      !(typeof version === 'number' && Number.isSafeInteger(version) && version > 0)
    )
      throw new InputError('DocumentFile', `${where}: "version" must be a positive whole number`)
    return {
      kind,
      issuerId: id('issuerId', 'issuer id'),
      ...(kind === 'binding' ? { bindingId: id('bindingId', 'binding id') } : {}),
      document: object,
      version,
    }
  }
  const entries = [
    ...list('issuers').map((object, index) => entry('issuer', object, index)),
    ...list('bindings').map((object, index) => entry('binding', object, index)),
  ]
  const seen = new Set<string>()
  for (const item of entries) {
    const name = labelOf(item)
    if (seen.has(name)) throw new InputError('DocumentFile', `${source} holds ${name} twice`)
    seen.add(name)
  }
  return entries
}

const labelOf = (entry: Pick<Entry, 'kind' | 'issuerId' | 'bindingId'>): string =>
  entry.kind === 'issuer' ? `issuer ${entry.issuerId}` : `binding ${entry.issuerId}/${entry.bindingId}`

/** The object without server fields, keys sorted at every level: equal text, equal grants. */
const canonical = (value: unknown, top = true): string => {
  if (Array.isArray(value)) return `[${value.map((item) => canonical(item, false)).join(',')}]`
  if (isObject(value))
    return `{${Object.keys(value)
      .filter((key) => !(top && SERVER_FIELDS.has(key)))
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(value[key], false)}`)
      .join(',')}}`
  return JSON.stringify(value)
}

export type ImportOutcome =
  | 'created'
  | 'updated'
  | 'unchanged'
  | 'conflict'
  | 'failed'
  | 'would-create'
  | 'would-update'

export interface ImportResult {
  object: string
  outcome: ImportOutcome
  /** The version the target holds after the import (or would keep). */
  version?: number
  detail?: string
}

/** What to do with one entry, from what the target holds. */
const planOf = (
  entry: Entry,
  stored: Document | undefined,
  force: boolean,
): { write: 'create' | 'update'; expected?: number } | { result: Omit<ImportResult, 'object'> } => {
  if (stored === undefined) return { write: 'create' }
  const version = typeof stored.version === 'number' ? stored.version : undefined
  if (canonical(stored) === canonical(entry.document)) return { result: { outcome: 'unchanged', version } }
  if (version !== undefined && (version === entry.version || force))
    return { write: 'update', expected: version }
  return {
    result: {
      outcome: 'conflict',
      version,
      detail: `the target is at version ${version}, the export at ${entry.version ?? 'none'}, and they differ; --force overwrites`,
    },
  }
}

/** Runs `task` over `items` with at most `limit` at a time, results in the items' order. */
const inParallel = async <T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> => {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

const WRITES_IN_FLIGHT = 4

export const importObjects = async (
  client: BrokerClient,
  document: Document,
  options: { source: string; dryRun: boolean; force: boolean },
): Promise<ImportResult[]> => {
  const entries = entriesOf(document, options.source)
  // What the target holds, read by lists (a page at a time) rather than one GET per object.
  const storedIssuers = new Map(
    ((await listAll(client, PATHS.issuers, 'issuers')) as Document[]).map((issuer) => [
      issuer.issuerId,
      issuer,
    ]),
  )
  const storedBindings = new Map<string, Document>()
  const issuerIds = new Set(entries.filter((e) => e.kind === 'binding').map((e) => e.issuerId))
  for (const issuerId of issuerIds)
    if (storedIssuers.has(issuerId))
      for (const binding of (await listAll(client, bindingsPath(issuerId), 'bindings')) as Document[])
        storedBindings.set(`${issuerId}/${String(binding.bindingId)}`, binding)

  const apply = async (entry: Entry): Promise<ImportResult> => {
    const object = labelOf(entry)
    const stored =
      entry.kind === 'issuer'
        ? storedIssuers.get(entry.issuerId)
        : storedBindings.get(`${entry.issuerId}/${entry.bindingId}`)
    const plan = planOf(entry, stored, options.force)
    if ('result' in plan) return { object, ...plan.result }
    if (options.dryRun)
      return {
        object,
        outcome: plan.write === 'create' ? 'would-create' : 'would-update',
        ...(plan.expected === undefined ? {} : { version: plan.expected }),
      }
    const { version: _version, ...fields } = entry.document
    const path =
      entry.kind === 'issuer'
        ? issuerPath(entry.issuerId)
        : fillPath(PATHS.binding, { issuerId: entry.issuerId, bindingId: entry.bindingId ?? '' })
    try {
      const answer = await client.call({
        method: 'PUT',
        path,
        body: plan.expected === undefined ? fields : { ...fields, version: plan.expected },
      })
      const version = (answer.body as { version?: unknown }).version
      return {
        object,
        outcome: plan.write === 'create' ? 'created' : 'updated',
        ...(typeof version === 'number' ? { version } : {}),
      }
    } catch (error) {
      if (!(error instanceof BrokerRefusedError)) throw error
      // Changed between the list and the write: the broker's precondition caught it.
      return {
        object,
        outcome: error.status === 409 ? 'conflict' : 'failed',
        detail: error.message.replace(/^the broker refused: /, ''),
      }
    }
  }

  // Issuers first: a binding needs its issuer.
  const issuers = await inParallel(
    entries.filter((e) => e.kind === 'issuer'),
    WRITES_IN_FLIGHT,
    apply,
  )
  const bindings = await inParallel(
    entries.filter((e) => e.kind === 'binding'),
    WRITES_IN_FLIGHT,
    apply,
  )
  return [...issuers, ...bindings]
}
