// `revocations list` and `revocations lift`: the revocations the broker holds for an issuer
// (recorded by `irsa-broker revoke`), listed page by page as one list, and lifted by id.
import { fillPath, PATHS } from '../../shared/http/paths.js'
import { ADMIN_FLAGS, adminClient, OUTPUT_FLAG } from '../broker-options.js'
import { type Command, defineCommand } from '../command.js'
import { UsageError } from '../errors.js'
import { listAll } from '../http.js'
import { checkId } from '../ids.js'
import { columns, json, table } from '../output.js'
import { PAGE_SIZE_FLAG } from './admin-objects.js'

/** A revocation id as the broker makes them (`r` + 16 base64url characters). */
const REVOCATION_ID = /^r[A-Za-z0-9_-]{16}$/

const revocationsList = defineCommand({
  name: 'revocations list',
  summary: "list an issuer's revocations (irsa-broker revoke records them)",
  section: 'admin',
  arguments: { usage: 'ISSUER_ID', max: 1, parse: (args) => checkId(args[0], 'issuer id') },
  flags: { ...PAGE_SIZE_FLAG, ...OUTPUT_FLAG, ...ADMIN_FLAGS },
  async run({ flags, args: issuerId }, context) {
    const client = await adminClient(flags, context)
    const rows = (await listAll(client, fillPath(PATHS.revocations, { issuerId }), 'revocations', {
      pageSize: flags['page-size'],
    })) as Record<string, unknown>[]
    context.stdout(
      flags.output === 'table'
        ? table(
            rows,
            columns({
              REVOCATION_ID: 'revocationId',
              BINDING_ID: 'bindingId',
              SUBJECT: 'subject',
              NOT_BEFORE: 'notBefore',
              CREATED_BY: 'createdBy',
            }),
          )
        : json({ revocations: rows }),
    )
    return undefined
  },
})

const revocationsLift = defineCommand({
  name: 'revocations lift',
  summary: 'lift a revocation: its scope gets credentials again',
  section: 'admin',
  description: `Removes the revocation from the broker: the workloads of its scope get credentials again once
the broker functions' registry caches pass their TTL. An IAM deny policy that \`revoke --apply\`
put on a role stays until you delete it (its name ends with the revocation id).`,
  arguments: {
    usage: 'ISSUER_ID/REVOCATION_ID',
    max: 2,
    parse: (args) => {
      const [first = '', second] = args
      const [issuerId, revocationId] = second === undefined ? first.split('/', 2) : [first, second]
      if (revocationId === undefined || !REVOCATION_ID.test(revocationId))
        throw new UsageError('name the revocation as <issuerId>/<revocationId> (r + 16 characters)')
      return { issuerId: checkId(issuerId, 'issuer id'), revocationId }
    },
  },
  flags: { ...ADMIN_FLAGS },
  async run({ flags, args }, context) {
    const client = await adminClient(flags, context)
    await client.call({ method: 'DELETE', path: fillPath(PATHS.revocation, args) })
    context.stderr(`irsa-broker: lifted revocation ${args.issuerId}/${args.revocationId}\n`)
    return undefined
  },
})

export const REVOCATION_COMMANDS: readonly Command[] = [revocationsList, revocationsLift]
