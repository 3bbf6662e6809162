// `npm start`: the broker on 127.0.0.1 with the embedded defaults; prints what it uses.
import { ConfigError, loadLocalConfig } from '../../shared/config.js'
import { describeLocalStack } from './banner.js'
import { type LocalStack, startLocalStack } from './stack.js'

const main = async () => {
  let config: ReturnType<typeof loadLocalConfig>
  try {
    config = loadLocalConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`irsa-broker: ${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
  let stack: LocalStack
  try {
    stack = await startLocalStack(config)
  } catch (error) {
    process.stderr.write(`irsa-broker: could not start: ${(error as Error).message}\n`)
    process.exit(3)
  }
  process.stdout.write(`${describeLocalStack(stack)}\n`)
  let stopping = false
  const shutdown = async () => {
    if (stopping) return
    stopping = true
    await stack.stop()
    process.exit(0)
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}

await main()
