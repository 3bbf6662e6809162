// What an in-process dynalite keeps per request: the registry reader asks the same DynamoDB
// Query (an issuer's pattern bindings, or a token subject's index entries) 2,000 times a round,
// six rounds, against dynalite in this process or moto_server's DynamoDB in its own, and prints
// this process's heap after a full GC at each round. Measured on 2026-12-05 (node 20, 2-core VM):
// in-process dynalite +1.4 to +1.9 MB a round (about 0.8 KB per request) whatever the key; moto
// in another process +0.0 to +0.1 MB. So the embedded dynalite grows with requests and the
// broker's code does not; memory.bench.ts runs dynalite in a child process for that reason.
// Not part of `npm run bench` (it proves a point about a test tool, not the broker).
//
//   tsx test/bench/dynalite-heap.probe.ts [subjects|patterns] [dynalite|moto]
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { startMotoServer } from '../../infra/local/processes.js'
import { createDynamoDbRegistry } from '../../shared/adapters/dynamodb-registry.js'
import { createDynamoDbRegistryReader } from '../../shared/adapters/dynamodb-registry-reader.js'
import { createRegistryTable, dynamoDbClient, startDynalite } from '../support/dynalite.js'
import { makeBinding, makeIssuer } from '../unit/fixtures.js'

const TABLE = 'irsa-broker-heap-probe'
const [read = 'subjects', store = 'dynalite'] = process.argv.slice(2)

setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void
const heapMb = () => {
  collectGarbage()
  collectGarbage()
  return (process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)
}

const moto = store === 'moto' ? await startMotoServer() : undefined
const dynalite = moto ? undefined : await startDynalite()
const client = dynamoDbClient(moto?.endpoint ?? dynalite?.endpoint ?? '')
await createRegistryTable(client, TABLE)
const registry = createDynamoDbRegistry(client, TABLE)
await registry.putIssuer(makeIssuer({ issuerId: 'probe' }), undefined)
await registry.putBinding(
  makeBinding({ issuerId: 'probe', bindingId: 'glob', subjects: ['system:serviceaccount:mem-*:sa-*'] }),
  undefined,
)
const reader = createDynamoDbRegistryReader(client, TABLE)
console.log(`${read} against ${store}: heap ${heapMb()} MB at the start`)
for (let round = 1; round <= 6; round++) {
  for (let i = 0; i < 2000; i += 20)
    await Promise.all(
      Array.from({ length: 20 }, (_, j) =>
        read === 'patterns'
          ? reader.patternBindings('probe')
          : reader.bindingsForSubject('probe', `system:serviceaccount:mem-${i + j}:sa-${i + j}`),
      ),
    )
  console.log(`round ${round} (2,000 reads): heap ${heapMb()} MB`)
}
client.destroy()
await dynalite?.stop()
await moto?.stop()
