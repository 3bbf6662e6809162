// `npm start`: the broker on 127.0.0.1 with the embedded defaults; prints what it uses. One
// broker per data folder (data-dir-lock.ts); it stops on SIGINT, SIGTERM, SIGHUP or when its
// parent goes away (lifecycle.ts), and takes moto_server with it.
import { rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ConfigError, loadLocalConfig } from '../../shared/config.js'
import { createAuditFile } from './audit-file.js'
import { describeLocalStack } from './banner.js'
import { acquireDataDirLock, DataDirLockedError } from './data-dir-lock.js'
import { stopOnSignalsAndParentExit } from './lifecycle.js'
import { runningChildren } from './processes.js'
import { type LocalStack, startLocalStack } from './stack.js'

const USAGE = 'usage: npm start [-- --rotate-admin-token]'

const say = (line: string) => {
  process.stderr.write(`${line}\n`)
}

function fail(code: number, line: string): never {
  say(`irsa-broker: ${line}`)
  process.exit(code)
}

const main = async () => {
  const args = process.argv.slice(2)
  const unknown = args.find((arg) => arg !== '--rotate-admin-token')
  if (unknown !== undefined) fail(2, `unknown option ${unknown}; ${USAGE}`)
  const rotateAdminToken = args.includes('--rotate-admin-token')

  let config: ReturnType<typeof loadLocalConfig>
  try {
    config = loadLocalConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) fail(2, error.message)
    throw error
  }
  if (rotateAdminToken && config.adminToken)
    fail(
      2,
      '--rotate-admin-token rotates the generated token; with IRSA_BROKER_ADMIN_TOKEN set, change that instead',
    )

  let lock: ReturnType<typeof acquireDataDirLock>
  try {
    lock = acquireDataDirLock(config.dataDir)
  } catch (error) {
    if (error instanceof DataDirLockedError) fail(3, error.message)
    fail(3, `could not lock the data folder: ${(error as Error).message}`)
  }
  process.on('exit', () => lock.release())
  const dataDir = resolve(config.dataDir)
  const auditFile = createAuditFile(dataDir)
  // A closed terminal turns writes to stdout into EPIPE errors: not a reason to die half-way.
  process.stdout.on('error', () => undefined)

  // A signal during the start waits for it, then stops whatever was started.
  let starting: Promise<LocalStack | undefined> = Promise.resolve(undefined)
  stopOnSignalsAndParentExit({
    say,
    stop: async () => {
      const stack = await starting.catch(() => undefined)
      await stack?.stop()
      auditFile.close()
      lock.release()
    },
  })

  if (rotateAdminToken) rmSync(join(dataDir, 'admin-token'), { force: true })
  if (lock.takenOver) {
    const { owner, stoppedChildren } = lock.takenOver
    say(
      `irsa-broker: took over the lock of pid ${owner.pid}, which is gone${stoppedChildren.length > 0 ? `; stopped what it left running (pid ${stoppedChildren.join(', ')})` : ''}`,
    )
  }
  let stack: LocalStack
  try {
    starting = startLocalStack(config, {
      logSink: (line) => {
        process.stdout.write(`${line}\n`)
        auditFile.write(line)
      },
    })
    stack = (await starting) as LocalStack
  } catch (error) {
    lock.release()
    fail(3, `could not start: ${(error as Error).message}`)
  }
  lock.recordChildren(runningChildren())
  process.stdout.write(`${describeLocalStack(stack)}\n`)
  process.stdout.write(
    `  audit log    ${auditFile.path} (audit lines only; ${auditFile.describeRotation()})\n`,
  )
}

await main()
