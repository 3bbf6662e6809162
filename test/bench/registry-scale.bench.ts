// Registry scale (issue 15): the exchange's decision against registries of 1, 1,000, 10,000 and
// 100,000 bindings on one issuer, each table also holding 1,000 issuers. The registry is written
// directly with BatchWriteItem (the items putIssuer and putBinding write, index entries
// included), timed; then, per size, 3 fresh processes (registry-scale-child.ts) each measure the
// first request, warm requests without the registry cache, warm requests through it (what
// GET /v1/roles costs before STS) and their RSS. Printed: the table by size and the four ratios
// of issue 15 (100,000 against 1, medians of the 3 processes). `npm run bench`; figures only.
//
//   tsx test/bench/registry-scale.bench.ts [--sizes 1,1000,10000,100000] [--requests 200]
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { BatchWriteItemCommand, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb'
import { indexEntriesOf } from '../../shared/core/binding-index.js'
import type { Binding, Issuer } from '../../shared/core/model.js'
import { createRegistryTable, dynamoDbClient, startDynalite } from '../support/dynalite.js'
import { createTestIssuer, K8S_ISSUER } from '../support/workload-issuer.js'
import { makeBinding, makeIssuer } from '../unit/fixtures.js'
import { median, ms, table } from './stats.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,1000,10000,100000' },
    requests: { type: 'string', default: '200' },
  },
})
const SIZES = (values.sizes ?? '').split(',').map(Number)
const REQUESTS = Number(values.requests)
const OTHER_ISSUERS = 999
const PROCESSES = 3
const SUB = 'system:serviceaccount:ml:trainer'

type Item = WriteRequest['PutRequest'] extends infer P
  ? P extends { Item?: infer I }
    ? NonNullable<I>
    : never
  : never

const issuerItem = (issuer: Issuer, gen: string): Item => ({
  pk: { S: `ISSUER#${issuer.issuerId}` },
  sk: { S: '#ISSUER' },
  gsi1pk: { S: `ISS#${issuer.issuer}` },
  gsi1sk: { S: `ISSUER#${issuer.issuerId}` },
  gen: { S: gen },
  version: { N: '1' },
  doc: { S: JSON.stringify(issuer) },
})

const bindingItems = (binding: Binding, gen: string): Item[] => [
  {
    pk: { S: `ISSUER#${binding.issuerId}` },
    sk: { S: `BINDING#${binding.bindingId}` },
    gen: { S: gen },
    version: { N: '1' },
    doc: { S: JSON.stringify(binding) },
  },
  ...indexEntriesOf(binding).map((pk) => ({ pk: { S: pk }, sk: { S: binding.bindingId } })),
]

/** Writes the items 25 to a BatchWriteItem, 8 at a time, resending what comes back unprocessed. */
const writeAll = async (client: DynamoDBClient, tableName: string, items: Item[]) => {
  const batches: Item[][] = []
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25))
  const worker = async () => {
    for (let batch = batches.pop(); batch; batch = batches.pop()) {
      let requests: WriteRequest[] = batch.map((Item) => ({ PutRequest: { Item } }))
      while (requests.length > 0) {
        const answer = await client.send(
          new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }),
        )
        requests = answer.UnprocessedItems?.[tableName] ?? []
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
}

const runChild = (argument: object): Promise<{ first: number; warm: number; roles: number; rssMb: number }> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/bench/registry-scale-child.ts', JSON.stringify(argument)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}'))
        : reject(new Error(`child ${code}`)),
    )
  })

const dynamo = await startDynalite()
const client = dynamoDbClient(dynamo.endpoint, { maxAttempts: 3 })
const dataPlane = await createTestIssuer()
const token = await dataPlane.mint({ lifetimeSeconds: 3600 })
const rows: string[][] = []
const seeded = new Map<number, string>()
const results = new Map<number, { first: number; warm: number; roles: number; rssMb: number }>()
try {
  for (const size of SIZES) {
    const tableName = `scale-${size}`
    await createRegistryTable(client, tableName)
    const items: Item[] = []
    const big = makeIssuer({ issuerId: 'big', issuer: K8S_ISSUER, jwks: dataPlane.jwks })
    const bigGen = randomUUID()
    items.push(issuerItem(big, bigGen))
    items.push(
      ...bindingItems(
        makeBinding({ issuerId: 'big', bindingId: 'match', profile: 'match', subjects: [SUB] }),
        bigGen,
      ),
    )
    // Beside the one that matches: two pattern bindings that do not, and exact ones.
    for (let i = 1; i < size; i++) {
      const pattern = i <= 2
      items.push(
        ...bindingItems(
          makeBinding({
            issuerId: 'big',
            bindingId: `b-${i}`,
            profile: `b-${i}`,
            subjects: [
              pattern ? `system:serviceaccount:other-${i}:*` : `system:serviceaccount:ns-${i}:sa-${i}`,
            ],
          }),
          bigGen,
        ),
      )
    }
    for (let i = 0; i < OTHER_ISSUERS; i++) {
      const issuer = makeIssuer({
        issuerId: `other-${i}`,
        issuer: `https://cluster-${i}.example`,
        jwks: dataPlane.jwks,
      })
      const gen = randomUUID()
      items.push(issuerItem(issuer, gen))
      items.push(...bindingItems(makeBinding({ issuerId: issuer.issuerId, subjects: [SUB] }), gen))
    }
    const seedStart = performance.now()
    await writeAll(client, tableName, items)
    seeded.set(
      size,
      `${items.length.toLocaleString('en-US')} in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
    )
    console.log(`seeded ${size} bindings: ${seeded.get(size)}`)
  }
  // The processes go round the sizes, so that a drift of the machine falls on every size alike.
  const runs = new Map<number, Awaited<ReturnType<typeof runChild>>[]>()
  for (let p = 0; p < PROCESSES; p++)
    for (const size of SIZES)
      runs.set(size, [
        ...(runs.get(size) ?? []),
        await runChild({ endpoint: dynamo.endpoint, table: `scale-${size}`, token, requests: REQUESTS }),
      ])
  for (const size of SIZES) {
    const sized = runs.get(size) ?? []
    const result = {
      first: median(sized.map((run) => run.first)),
      warm: median(sized.map((run) => run.warm)),
      roles: median(sized.map((run) => run.roles)),
      rssMb: Math.max(...sized.map((run) => run.rssMb)),
    }
    results.set(size, result)
    rows.push([
      size.toLocaleString('en-US'),
      seeded.get(size) ?? '',
      ms(result.first),
      ms(result.warm),
      ms(result.roles),
      result.rssMb.toFixed(0),
    ])
  }
} finally {
  client.destroy()
  await dynamo.stop()
}

console.log(
  `\nRegistry scale: one issuer with N bindings, ${OTHER_ISSUERS + 1} issuers, dynalite; median of ${PROCESSES} processes`,
)
console.log(
  table(
    [
      'bindings',
      'items seeded',
      'first request ms',
      'warm uncached ms',
      'warm cached (roles) ms',
      'RSS MB (max)',
    ],
    rows,
  ),
)
const one = results.get(1)
const most = results.get(Math.max(...SIZES))
if (one && most && most !== one) {
  const ratio = (a: number, b: number) => `×${(a / b).toFixed(2)}`
  console.log(`\nIssue 15 targets, ${Math.max(...SIZES).toLocaleString('en-US')} bindings against 1:`)
  console.log(`  warm uncached exchange ${ratio(most.warm, one.warm)} (target ≤ ×1.25)`)
  console.log(`  GET /v1/roles (cached decision) ${ratio(most.roles, one.roles)} (target ≤ ×1.5)`)
  console.log(`  first request after a cold start ${ratio(most.first, one.first)} (target ≤ ×1.5)`)
  console.log(`  RSS ${most.rssMb.toFixed(0)} MB (target < 256 MB)`)
}
