// `history`: the admin history of an issuer (GET /v1/admin/history), every page of it, oldest
// first: who changed which object when, the versions and the names of the fields changed.
import { PATHS } from '../../shared/http/paths.js'
import { ADMIN_FLAGS, adminClient, OUTPUT_FLAG } from '../broker-options.js'
import { defineCommand, textFlag } from '../command.js'
import { listAll } from '../http.js'
import { checkId } from '../ids.js'
import { columns, json, table } from '../output.js'

type Row = Record<string, unknown>

const list = (value: unknown): string => (Array.isArray(value) && value.length > 0 ? value.join(',') : '')

const HISTORY_COLUMNS = columns({
  AT: 'at',
  OBJECT: (row: Row) => (row.object === 'binding' ? `binding ${row.bindingId}` : 'issuer'),
  ACTION: 'action',
  VERSION: (row: Row) => `${row.versionBefore ?? '-'} -> ${row.versionAfter ?? '-'}`,
  CHANGED: (row: Row) => list(row.changed),
  KIDS: (row: Row) =>
    [list(row.kidsAdded) && `+${list(row.kidsAdded)}`, list(row.kidsRemoved) && `-${list(row.kidsRemoved)}`]
      .filter(Boolean)
      .join(' '),
  ACTOR: 'actor',
})

export const historyCommand = defineCommand({
  name: 'history',
  summary: "show an issuer's admin history: every change of it and its bindings",
  section: 'admin',
  description: `Reads GET /v1/admin/history for the issuer, following every page, and prints its
records oldest first: the time, the object, the action, the versions before and after, the
names of the changed fields (the kids, for a key change) and the actor. A deleted issuer's
history stays readable by its id.`,
  flags: {
    issuer: textFlag('the issuer whose history to show', { value: 'ISSUER_ID', required: true }),
    since: textFlag('only records from this time on (ISO 8601)', { value: 'TIME' }),
    ...OUTPUT_FLAG,
    ...ADMIN_FLAGS,
  },
  async run({ flags }, context) {
    const issuerId = checkId(flags.issuer, 'issuer id')
    const client = await adminClient(flags, context)
    const records = (await listAll(client, PATHS.history, 'records', {
      query: { issuerId, since: flags.since },
    })) as Row[]
    context.stdout(flags.output === 'table' ? table(records, HISTORY_COLUMNS) : json({ records }))
    return undefined
  },
})
