// An in-memory HistoryLog with the DynamoDB adapter's conditions: a head is claimed only when
// free and at the record's versionBefore (or never written), commit and abandon free it only for
// the write that holds it. `failNext` makes a step fail once, as a crash at that step would.
import type { HistoryRecord } from '../../shared/core/history.js'
import { objectKeyOf, versionAfterOf, versionBeforeOf } from '../../shared/core/history.js'
import { pageOf } from '../../shared/core/pagination.js'
import type { HistoryLog } from '../../shared/core/ports.js'

type Step = 'claim' | 'commit' | 'abandon'

export interface MemoryHistoryLog extends HistoryLog {
  /** Every filed record, oldest first. */
  records(): HistoryRecord[]
  /** Makes the next call of `step` reject with `error` before it changes anything (once). */
  failNext(step: Step, error: unknown): void
}

interface Head {
  head?: number
  claim?: { record: HistoryRecord; since: string }
}

export const createMemoryHistoryLog = (): MemoryHistoryLog => {
  const heads = new Map<string, Head>()
  const filed = new Map<string, HistoryRecord>()
  const failures = new Map<Step, unknown>()
  const enter = (step: Step) => {
    if (!failures.has(step)) return
    const error = failures.get(step)
    failures.delete(step)
    throw error
  }
  const headKey = (record: HistoryRecord) => `${record.issuerId}\u0000${objectKeyOf(record)}`
  const sortKey = (record: HistoryRecord) => `${record.at}#${record.writeId}`
  const copy = <T>(value: T): T => structuredClone(value)
  const release = (record: HistoryRecord, version: number) => {
    const key = headKey(record)
    if (heads.get(key)?.claim?.record.writeId === record.writeId) heads.set(key, { head: version })
  }
  const sorted = () => [...filed.values()].sort((a, b) => sortKey(a).localeCompare(sortKey(b)))

  return {
    async claim(record, now) {
      enter('claim')
      const key = headKey(record)
      const current = heads.get(key) ?? {}
      if (current.claim)
        return { claimed: false, held: copy(current.claim.record), heldSince: current.claim.since }
      if (current.head !== undefined && current.head !== versionBeforeOf(record))
        return { claimed: false, head: current.head }
      heads.set(key, { head: versionBeforeOf(record), claim: { record: copy(record), since: now } })
      return { claimed: true }
    },
    async commit(record) {
      enter('commit')
      filed.set(sortKey(record), copy(record))
      release(record, versionAfterOf(record))
    },
    async abandon(record) {
      enter('abandon')
      release(record, versionBeforeOf(record))
    },
    async realign(record, from) {
      const key = headKey(record)
      const current = heads.get(key)
      if (current && !current.claim && current.head === from)
        heads.set(key, { head: versionBeforeOf(record) })
    },
    async claims(issuerId) {
      return [...heads.values()].flatMap((head) =>
        head.claim && head.claim.record.issuerId === issuerId ? [copy(head.claim)] : [],
      )
    },
    async list(issuerId, since, request) {
      const all = sorted().filter(
        (record) => record.issuerId === issuerId && (since === undefined || record.at >= since),
      )
      return pageOf(copy(all), request, sortKey, 'at')
    },
    records: () => copy(sorted()),
    failNext(step, error) {
      failures.set(step, error)
    },
  }
}
