// Child-process entry of the load generator (see load.ts): takes one job per IPC message,
// answers with its result, and ends when the bench disconnects.
import { isLoadJob, runLoad } from './load.js'

if (!process.send) {
  process.stderr.write('load-client.ts is started by the bench (test/bench/exchange.bench.ts), not by hand\n')
  process.exit(2)
}

process.on('message', async (message: unknown) => {
  if (!isLoadJob(message)) {
    process.stderr.write('load-client: ignored a message that is not a load job\n')
    return
  }
  process.send?.(await runLoad(message))
})
