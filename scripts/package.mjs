// `npm run package [-- osls options]`: `osls package` into .serverless/, offline by construction.
// serverless.yml reads nothing from AWS, so no call is needed; this wrapper also makes sure none
// can happen by accident: fake static credentials (no profile, SSO or instance-metadata lookup),
// no AWS config files, and every proxy pointed at a closed loopback port, so a stray AWS call
// fails at once instead of reaching AWS.
//
// A multi-Region stage (stage parameter `regions`, docs/multi-region.md) is one stack per Region:
// it is packaged once per Region, into .serverless-regions/<stage>/<region>/ (an explicit
// --region packages that Region alone, into .serverless/). Without --stage, this packages the
// stage ci (one Region) and the two-Region stage ci-multi, which `npm run lint:infra` checks.
import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseRegions } from './multi-region.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const oslsBin = require.resolve('osls/bin/serverless.js')
const { loadStageParams } = require('./stage-params.cjs')
export const REGIONS_DIR = '.serverless-regions'

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

const optionValue = (args, ...names) => {
  for (const [index, arg] of args.entries()) {
    for (const name of names) {
      if (arg === name) return args[index + 1]
      if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1)
    }
  }
  return undefined
}

/** The stage's `regions` parameter: a --param on the command line, else the stage's, else the default's. */
const regionsOf = (stage, args) => {
  const given = args
    .map((arg, index) =>
      arg === '--param' ? args[index + 1] : arg.startsWith('--param=') ? arg.slice(8) : undefined,
    )
    .find((param) => param?.replace(/^["']|["']$/g, '').startsWith('regions='))
  if (given !== undefined) return parseRegions(given.replace(/^["']|["']$/g, '').slice('regions='.length))
  // The stage's parameters as osls reads them (params/default.yml under params/<stage>.yml).
  const params = loadStageParams({ serviceDir: root, stage })
  return parseRegions(String(params[stage]?.regions ?? params.default?.regions ?? ''))
}

const oslsPackage = (args) => {
  const { status, error } = spawnSync(process.execPath, [oslsBin, 'package', ...args], {
    stdio: 'inherit',
    env,
  })
  if (error) throw error
  if (status !== 0) process.exit(status ?? 1)
}

/** One stage: a single-Region stage (or one Region named by --region) as osls does; else each Region. */
const packageStage = (stage, args) => {
  const regions = regionsOf(stage, args)
  if (regions.length === 0 || optionValue(args, '--region', '-r') !== undefined) {
    oslsPackage([...args, '--stage', stage])
    return
  }
  // A Region dropped from the list must not leave its old template behind for lint:infra.
  rmSync(join(root, REGIONS_DIR, stage), { recursive: true, force: true })
  for (const region of regions) {
    oslsPackage([
      ...args,
      '--stage',
      stage,
      '--region',
      region,
      '--package',
      join(REGIONS_DIR, stage, region),
    ])
  }
}

const args = process.argv.slice(2)
const stage = optionValue(args, '--stage', '-s')
if (stage !== undefined) {
  const rest = args.filter(
    (arg, index) =>
      !['--stage', '-s'].includes(arg) &&
      !['--stage', '-s'].includes(args[index - 1] ?? '') &&
      !arg.startsWith('--stage='),
  )
  packageStage(stage, rest)
} else {
  // This order: every `osls package` empties .serverless/, wherever it writes its own output.
  packageStage('ci-multi', args)
  packageStage('ci', args)
}
