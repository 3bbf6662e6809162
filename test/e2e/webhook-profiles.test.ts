// The webhook's promise end to end, without a cluster: the agent image's files built as its
// Dockerfile builds them, and its self-contained executable run alone, with no node on PATH
// and no node_modules, against the local broker (`npm start`, moto_server for STS).
import { randomBytes } from 'node:crypto'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, test } from 'vitest'
import { AGENT_BUILD_TIMEOUT_MS, type AgentTree, buildAgentTree } from '../support/agent-build.js'
import { READER_SESSION_ARN, registerMlWorkload } from '../support/e2e-workload.js'
import {
  BROKER_START_TIMEOUT_MS,
  createRedactor,
  describeRun,
  type LocalBroker,
  makeTempDir,
  requireTools,
  runProcess,
  startLocalBroker,
  stopAfterAll,
  TEST_TIMEOUT_MS,
  writeTokenFile,
} from '../support/local-broker.js'
import type { TestIssuer } from '../support/workload-issuer.js'

const redactor = createRedactor()
const tempDirs: string[] = []
let broker: LocalBroker
let issuer: TestIssuer
let agent: AgentTree

beforeAll(
  async () => {
    requireTools(['aws', 'python3', 'moto_server'])
    agent = buildAgentTree(join(makeTempDir(tempDirs, 'irsa-broker-e2e-agent-'), 'image'))
    const adminToken = randomBytes(32).toString('hex')
    redactor.add(adminToken)
    broker = await startLocalBroker({ adminToken, redactor, tempDirs })
    issuer = await registerMlWorkload(broker, redactor)
  },
  AGENT_BUILD_TIMEOUT_MS + BROKER_START_TIMEOUT_MS + 30_000,
)

stopAfterAll(() => broker, tempDirs)

describe('the self-contained executable (/usr/local/bin/irsa-broker of the agent image)', () => {
  test(
    'copied alone into an empty folder, with an empty environment (no PATH, no HOME), prints credentials for the role from the broker',
    async () => {
      const dir = makeTempDir(tempDirs, 'irsa-broker-e2e-sea-')
      const executable = join(dir, 'irsa-broker')
      copyFileSync(agent.executable, executable)
      const token = await issuer.mint({ namespace: 'ml', serviceAccount: 'trainer' })
      redactor.add(token)
      const tokenFile = writeTokenFile(dir, 'token', token)
      const result = await runProcess(
        executable,
        ['credential-process', '--endpoint', broker.url, '--token-file', tokenFile, '--role', 'ml-reader'],
        { env: {}, cwd: dir, redactor },
      )
      expect(result.code, describeRun('irsa-broker credential-process', result, redactor)).toBe(0)
      expect(result.stderr).toBe('')
      const credentials = JSON.parse(result.stdout)
      expect(credentials).toMatchObject({ Version: 1, AssumedRoleArn: READER_SESSION_ARN })
      expect(Object.keys(credentials)).toEqual(
        expect.arrayContaining(['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration']),
      )
    },
    TEST_TIMEOUT_MS,
  )
})
