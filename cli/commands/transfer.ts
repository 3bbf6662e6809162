// `export` and `import`: all issuers and bindings (or some issuers' with theirs) as one JSON or
// YAML document, and back, through the admin API (cli/transfer.ts).
import { ADMIN_FLAGS, adminClient, OUTPUT_FLAG } from '../broker-options.js'
import { choiceFlag, defineCommand, parsedFlag, switchFlag, textFlag } from '../command.js'
import { readDocumentFile } from '../documents.js'
import { EXIT } from '../errors.js'
import { checkId } from '../ids.js'
import { json, table } from '../output.js'
import { exportObjects, type ImportResult, importObjects } from '../transfer.js'

/** An export of many thousand bindings is far larger than one admin document. */
const MAX_EXPORT_BYTES = 256 * 1024 * 1024

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'print every issuer and binding (or some issuers with theirs) as one JSON or YAML document',
  section: 'admin',
  description: `Reads the issuers and their bindings through the admin API (following every page of a
list) and prints them as one document, each object as the broker serves it, its "version"
included, for \`irsa-broker import\` into this broker or another:

  irsa-broker export > broker.json
  irsa-broker import --file broker.json --endpoint https://other-broker.example.com`,
  flags: {
    issuer: parsedFlag('export only this issuer and its bindings', (text) => checkId(text, 'issuer id'), {
      value: 'ISSUER_ID',
      repeatable: true,
    }),
    format: choiceFlag('json or yaml', ['json', 'yaml'], { default: 'json' }),
    ...ADMIN_FLAGS,
  },
  async run({ flags }, context) {
    const client = await adminClient(flags, context)
    const document = await exportObjects(client, {
      issuerIds: flags.issuer,
      source: flags.endpoint.base,
      now: context.now(),
    })
    if (flags.format === 'json') context.stdout(json(document))
    else {
      // yaml loads only for this (see documents.ts on its CommonJS exports).
      const yaml: typeof import('yaml') & { default?: typeof import('yaml') } = await import('yaml')
      context.stdout((yaml.default ?? yaml).stringify(document))
    }
    context.stderr(
      `irsa-broker: exported ${document.issuers.length} issuer(s) and ${document.bindings.length} binding(s)\n`,
    )
    return undefined
  },
})

const count = (results: readonly ImportResult[]) => {
  const counts = new Map<string, number>()
  for (const { outcome } of results) counts.set(outcome, (counts.get(outcome) ?? 0) + 1)
  return [...counts].map(([outcome, n]) => `${n} ${outcome}`).join(', ') || 'nothing'
}

export const importCommand = defineCommand({
  name: 'import',
  summary: 'create and update issuers and bindings from an export, object by object',
  section: 'admin',
  description: `Brings the issuers and bindings of an \`irsa-broker export\` document into the broker: an
object the broker lacks is created; one it holds with the same fields is left alone; one it
holds at the version the export recorded is updated; one changed there since the export is a
conflict, reported and left alone (exit 1) unless --force. Issuers go first, then bindings.
Nothing is deleted. Each write is conditional, so a change made meanwhile is a conflict too.`,
  flags: {
    file: textFlag('the export (JSON or YAML; - for standard input)', {
      short: 'f',
      value: 'FILE',
      required: true,
    }),
    'dry-run': switchFlag('read the broker and report what would be done, without writing'),
    force: switchFlag('also update objects changed since the export (at the version the broker has)'),
    ...OUTPUT_FLAG,
    ...ADMIN_FLAGS,
  },
  async run({ flags }, context) {
    const document = await readDocumentFile(flags.file, context.readStdin, MAX_EXPORT_BYTES)
    const client = await adminClient(flags, context)
    const results = await importObjects(client, document, {
      source: flags.file === '-' ? 'standard input' : flags.file,
      dryRun: flags['dry-run'],
      force: flags.force,
    })
    context.stdout(
      flags.output === 'json'
        ? json({ dryRun: flags['dry-run'], results })
        : table(results, [
            { header: 'OBJECT', value: (row) => row.object },
            { header: 'OUTCOME', value: (row) => row.outcome },
            { header: 'VERSION', value: (row) => row.version },
            { header: 'DETAIL', value: (row) => row.detail },
          ]),
    )
    const refused = results.filter((row) => row.outcome === 'conflict' || row.outcome === 'failed').length
    context.stderr(
      `irsa-broker: import${flags['dry-run'] ? ' (dry run, nothing written)' : ''}: ${count(results)}${
        refused > 0 ? `; ${refused} object(s) not imported, see above` : ''
      }\n`,
    )
    return refused > 0 ? EXIT.denied : undefined
  },
})
