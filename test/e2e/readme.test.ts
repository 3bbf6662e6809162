// The README's commands, run as a reader runs them: every `sh` block from "A 60-second
// walkthrough" through "The irsa-broker CLI", in order, in one bash (so ADMIN, MOTO and the
// exports carry on), in a folder of its own, against the local broker `npm start` runs — with
// the real AWS CLI and curl. Only what differs between a reader's checkout and this test is
// replaced: the broker's and moto_server's ports, `npm start` (the suite started it, so its
// audit.log is in that broker's data folder), and
// `npx irsa-broker` / `npm run dev-issuer` (which need the checkout as working directory) by the
// same programs run by path.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, test } from 'vitest'
import {
  CLI_BIN,
  cleanEnv,
  describeRun,
  type LocalBroker,
  localBrokerForSuite,
  makeTempDir,
  ROOT,
  runProcess,
  TEST_TIMEOUT_MS,
  TSX,
} from '../support/local-broker.js'

const suite = localBrokerForSuite({ tools: ['moto_server', 'aws', 'curl'] })
let broker: LocalBroker

beforeAll(() => {
  broker = suite.broker()
})

/** The `sh` blocks of the README between two headings, in order. */
const shellBlocks = (from: string, to: string): string[] => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf(from), readme.indexOf(to))
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '')
}

describe('the README', () => {
  test(
    'the walkthrough, "Use it from a workload" and the CLI section run as written: every command exits 0',
    async () => {
      const blocks = shellBlocks('## A 60-second walkthrough', '## API in one screen')
      expect(blocks.length).toBeGreaterThanOrEqual(5)
      const script = blocks
        .join('\n')
        .split('\n')
        .filter((line) => line.trim() !== 'npm start' && !/^npm start\s+#/.test(line))
        .join('\n')
        .replaceAll('http://127.0.0.1:8787', broker.url)
        .replace(/^MOTO=http:\/\/127\.0\.0\.1:NNNNN\b.*$/m, `MOTO=${broker.stsEndpoint}`)
        .replaceAll('npx irsa-broker', `${process.execPath} ${CLI_BIN}`)
        .replaceAll('npm run -s dev-issuer', `${TSX} ${join(ROOT, 'scripts', 'dev-issuer.ts')}`)
        // The audit file is in the data folder of the broker the suite started.
        .replaceAll('.irsa-broker/audit.log', join(broker.dataDir, 'audit.log'))
      // What the reader's `npm start` wrote beside the checkout: the admin token.
      const cwd = makeTempDir(suite.tempDirs, 'irsa-broker-e2e-readme-')
      mkdirSync(join(cwd, '.irsa-broker'))
      writeFileSync(join(cwd, '.irsa-broker', 'admin-token'), broker.adminToken, { mode: 0o600 })
      const home = makeTempDir(suite.tempDirs, 'irsa-broker-e2e-readme-home-')

      const result = await runProcess('bash', ['-e', '-o', 'pipefail', '-c', script], {
        env: cleanEnv({ HOME: home }),
        redactor: suite.redactor,
        cwd,
      })
      const described = `${describeRun('README commands', result, suite.redactor)}\n--- script ---\n${script}`
      expect(result.code, described).toBe(0)
      // The container provider (walkthrough) and the profile configure wrote both reach STS as
      // the role; the import of the fresh export changes nothing.
      expect(
        result.stdout.match(/"Arn": "arn:aws:sts::111122223333:assumed-role\/ml-s3-reader\/ml\.trainer"/g),
        described,
      ).toHaveLength(2)
      expect(result.stderr, described).toContain(
        'irsa-broker: import (dry run, nothing written): 3 unchanged',
      )
      // configure wrote where the README said, not into the reader's ~/.aws/config.
      expect(readFileSync(join(cwd, '.irsa-broker', 'aws-config'), 'utf8')).toContain('region = us-east-1')
      expect(() => readFileSync(join(home, '.aws', 'config'))).toThrow(/ENOENT/)
    },
    // A dozen clients one after the other, two of them the AWS CLI (Python).
    2 * TEST_TIMEOUT_MS,
  )
})
