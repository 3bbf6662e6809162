// Imports one Lambda bundle as the runtime would (once, in a fresh `node` process, run without
// any loader in between) and prints one JSON line: how long the import took and, when an API
// Gateway event is given, what the handler answered to it. Every TCP connection attempted
// meanwhile (and for a short while after, in case init started one in the background) is
// refused before any DNS query or socket, and listed: neither init nor the requests the tests
// send may touch the network. Used by test/bench/cold-start.bench.ts and test/unit/bundles.test.ts.
//
//   node bundle-probe.mjs <bundle file URL> [<event JSON>]
import net from 'node:net'

const [bundle, eventJson] = process.argv.slice(2)
if (!bundle) {
  process.stderr.write('usage: node bundle-probe.mjs <bundle file URL> [<event JSON>]\n')
  process.exit(2)
}

const refused = []
net.Socket.prototype.connect = function refuse(...args) {
  // net.connect() passes its arguments already normalized, as one array [options, callback].
  const [first, second] = Array.isArray(args[0]) ? args[0] : args
  const target = typeof first === 'object' && first !== null ? first : { port: first, host: second }
  refused.push(`${target.host ?? target.path ?? 'localhost'}:${target.port ?? ''}`)
  process.nextTick(() =>
    this.destroy(Object.assign(new Error('refused by the bundle probe'), { code: 'ECONNREFUSED' })),
  )
  return this
}

const started = performance.now()
const loaded = await import(bundle)
const ready = performance.now()
if (typeof loaded.handler !== 'function') {
  process.stderr.write(`${bundle} exports no handler function\n`)
  process.exit(3)
}

let answer
if (eventJson !== undefined) {
  const context = {
    awsRequestId: 'probe-request',
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'probe',
    getRemainingTimeInMillis: () => 10_000,
  }
  answer = await loaded.handler(JSON.parse(eventJson), context)
}
// Anything started without being awaited (a key prefetch, a warm-up call) shows up here.
await new Promise((resolve) => setTimeout(resolve, 100))
process.stdout.write(
  `${JSON.stringify({
    importMs: ready - started,
    // performance.now() counts from the start of this process: node's own start-up included.
    readyMs: ready,
    connections: refused,
    rssBytes: process.memoryUsage.rss(),
    ...(answer === undefined ? {} : { answer }),
  })}\n`,
)
process.exit(0)
