// `explain`: the broker's decision on a token, without credentials. The exit code is the
// decision (0 allow, 1 deny), so a script can test it; the trace goes to stdout either way.
import { PATHS } from '../../shared/http/paths.js'
import { ADMIN_FLAGS, adminClient, OUTPUT_FLAG } from '../broker-options.js'
import { defineCommand, textFlag } from '../command.js'
import { EXIT } from '../errors.js'
import { columns, json, objectTable, table } from '../output.js'
import { readTokenFile } from '../token-file.js'

type Row = Record<string, unknown>

const rows = (value: unknown): Row[] =>
  Array.isArray(value) ? value.filter((row): row is Row => typeof row === 'object' && row !== null) : []

const keyOf = (key: unknown): string | undefined => {
  if (typeof key !== 'object' || key === null) return undefined
  const { alg, kid } = key as Row
  return [alg, kid].filter((part) => typeof part === 'string').join(' ') || undefined
}

/**
 * The trace for people: the decision and the token's identity as FIELD/VALUE rows, then one
 * table per list (the issuers tried, the claim checks of the one whose key verified, the
 * bindings), and the session of the selected binding.
 */
export const explainTable = (trace: Row): string => {
  const candidates = rows(trace.candidates)
  const checks = candidates.flatMap((candidate) =>
    rows(candidate.claimChecks).map((check): Row => ({ ...check, issuerId: candidate.issuerId })),
  )
  const selected =
    typeof trace.selected === 'object' && trace.selected !== null ? (trace.selected as Row) : undefined
  const summary = {
    DECISION: trace.decision,
    CODE: trace.code,
    REASON: trace.reason,
    ISS: trace.iss,
    ISSUER_ID: trace.issuerId,
    SUB: trace.sub,
    SELECTED: selected?.bindingId,
  }
  const parts = [
    objectTable(Object.fromEntries(Object.entries(summary).filter(([, value]) => value !== undefined))),
  ]
  // One table per list the trace has, in the order the broker decided.
  const lists: [Row[], Parameters<typeof columns>[0]][] = [
    [
      candidates,
      { ISSUER_TRIED: 'issuerId', OUTCOME: 'outcome', REASON: 'reason', KEY: (row) => keyOf(row.key) },
    ],
    [checks, { CLAIM_CHECK: 'check', PASSED: 'passed', REASON: 'reason' }],
    [
      rows(trace.bindings),
      {
        BINDING: 'bindingId',
        PROFILE: 'profile',
        ROLE_ARN: 'roleArn',
        MATCHED: 'matched',
        FAILED_RULE: 'failedRule',
        DETAIL: 'detail',
      },
    ],
  ]
  for (const [list, spec] of lists) if (list.length > 0) parts.push(table(list, columns(spec)))
  if (selected)
    parts.push(
      objectTable({
        SESSION_ROLE_ARN: selected.roleArn,
        SESSION_NAME: selected.sessionName,
        SESSION_SOURCE_IDENTITY:
          selected.sourceIdentity ?? `none (${selected.sourceIdentityNote ?? 'passthrough'})`,
        SESSION_TAGS: selected.sessionTags,
        SESSION_DURATION_SECONDS: selected.durationSeconds,
        SESSION_MODE: selected.mode,
      }),
    )
  return parts.join('\n')
}

export const explainCommand = defineCommand({
  name: 'explain',
  summary: 'show how the broker decides on a token (no credentials are issued)',
  section: 'admin',
  description: `Sends the token to POST /v1/admin/explain and prints the decision trace: which issuer
verified it, which check failed, which bindings matched and which one would be used. Exits 0
when the broker would allow the token, 1 when it would deny it.`,
  flags: {
    'token-file': textFlag('the workload token to explain', { value: 'PATH', required: true }),
    role: textFlag('the role the workload would ask for', { value: 'NAME_OR_ARN' }),
    ...OUTPUT_FLAG,
    ...ADMIN_FLAGS,
  },
  async run({ flags }, context) {
    const token = readTokenFile(flags['token-file'])
    context.addSecret(token)
    const client = await adminClient(flags, context)
    const answer = await client.call({
      method: 'POST',
      path: PATHS.explain,
      body: { token, ...(flags.role === undefined ? {} : { role: flags.role }) },
      retry: true,
    })
    const trace = (answer.body ?? {}) as Row
    context.stdout(flags.output === 'table' ? explainTable(trace) : json(trace))
    if (trace.decision === 'allow') return undefined
    const why = [trace.code, trace.reason].filter((part) => typeof part === 'string').join(', ')
    context.stderr(`irsa-broker: the broker would deny this token${why ? ` (${why})` : ''}\n`)
    return EXIT.denied
  },
})
