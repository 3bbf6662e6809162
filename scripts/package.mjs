// `npm run package [-- osls options]`: `osls package` (default `--stage ci`) into .serverless/,
// offline by construction. serverless.yml reads nothing from AWS, so no call is needed; this
// wrapper also makes sure none can happen by accident: fake static credentials (no profile,
// SSO or instance-metadata lookup), no AWS config files, and every proxy pointed at a closed
// loopback port, so a stray AWS call fails at once instead of reaching AWS.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const oslsBin = createRequire(import.meta.url).resolve('osls/bin/serverless.js')
const args = process.argv.slice(2)
if (!args.some((arg) => arg === '--stage' || arg === '-s' || arg.startsWith('--stage='))) {
  args.push('--stage', 'ci')
}

const unreachable = 'http://127.0.0.1:9'
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^AWS_/i.test(name)))
Object.assign(env, {
  AWS_ACCESS_KEY_ID: 'AKIAOFFLINEPACKAGING',
  AWS_SECRET_ACCESS_KEY: 'offline-packaging-has-no-secret',
  AWS_REGION: 'us-east-1',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  AWS_EC2_METADATA_DISABLED: 'true',
  HTTP_PROXY: unreachable,
  HTTPS_PROXY: unreachable,
  http_proxy: unreachable,
  https_proxy: unreachable,
  NO_PROXY: '',
  no_proxy: '',
})

const { status, error } = spawnSync(process.execPath, [oslsBin, 'package', ...args], {
  stdio: 'inherit',
  env,
})
if (error) throw error
process.exit(status ?? 1)
