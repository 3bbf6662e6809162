// One "credentials function" process of registry-scale.bench.ts: a DynamoDB registry on the
// bench's dynalite behind the registry cache, and the exchange's decision (createEvaluator:
// verify, read the token's candidate bindings, evaluate, select), as the credentials and roles
// functions build it. Prints one JSON line: the first request of the process (registry not yet
// read), the warm requests with the cache off (every one reads the registry), the warm requests
// through the cache (what GET /v1/roles costs past STS), and the process's RSS.
import { createDynamoDbRegistry } from '../../shared/adapters/dynamodb-registry.js'
import { createEvaluator } from '../../shared/core/exchange-evaluate.js'
import { createInlineKeyResolver } from '../../shared/core/keys.js'
import { systemClock } from '../../shared/core/ports.js'
import { createRegistryCache } from '../../shared/core/registry-cache.js'
import { createSessionMemo } from '../../shared/core/session-memo.js'
import { createWorkloadTokenVerifier } from '../../shared/core/verify.js'
import { dynamoDbClient } from '../support/dynalite.js'
import { median } from './stats.js'

const { endpoint, table, token, requests } = JSON.parse(process.argv[2] ?? '{}') as {
  endpoint: string
  table: string
  token: string
  requests: number
}
const client = dynamoDbClient(endpoint)
const registry = createDynamoDbRegistry(client, table)
const evaluatorOver = (ttlSeconds: number) =>
  createEvaluator({
    registry: createRegistryCache(registry, {
      ttlSeconds,
      maxEntries: 10_000,
      negativeMaxEntries: 10_000,
      clock: systemClock,
    }),
    verifier: createWorkloadTokenVerifier(createInlineKeyResolver()),
    clock: systemClock,
    sessions: createSessionMemo(),
  })

const timed = async (evaluate: ReturnType<typeof evaluatorOver>): Promise<number> => {
  const start = performance.now()
  const evaluation = await evaluate({ token })
  const elapsed = performance.now() - start
  if (evaluation.decision !== 'allow') throw new Error(`denied: ${evaluation.reason}`)
  return elapsed
}

const uncached = evaluatorOver(0)
const first = await timed(uncached)
for (let i = 0; i < 20; i++) await timed(uncached)
const warm: number[] = []
for (let i = 0; i < requests; i++) warm.push(await timed(uncached))
const cached = evaluatorOver(30)
for (let i = 0; i < 20; i++) await timed(cached)
const roles: number[] = []
for (let i = 0; i < requests * 5; i++) roles.push(await timed(cached))
client.destroy()
process.stdout.write(
  `${JSON.stringify({ first, warm: median(warm), roles: median(roles), rssMb: process.memoryUsage().rss / 1e6 })}\n`,
)
