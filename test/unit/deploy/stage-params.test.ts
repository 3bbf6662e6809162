// Where a stage's deployment parameters come from: params/default.yml and params/<stage>.yml,
// both read by every package and deploy (scripts/stage-params.cjs). A stage file must exist and
// may only set parameters default.yml names, and default.yml names exactly the parameters
// serverless.yml uses — so no setting is silently ignored and none silently falls back.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import YAML from 'yaml'

const require = createRequire(import.meta.url)
const { loadStageParams, paramsDir } =
  require('../../../scripts/stage-params.cjs') as typeof import('../../../scripts/stage-params.cjs')

const ROOT = join(import.meta.dirname, '..', '..', '..')
let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-params-'))
  writeFileSync(join(dir, 'default.yml'), "customDomain: ''\nlogRetentionDays: 90\nregion: us-east-1\n")
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const load = (stage: string) =>
  loadStageParams({ serviceDir: ROOT, stage, env: { IRSA_BROKER_PARAMS_DIR: dir } })

describe('loadStageParams', () => {
  it('answers the defaults and the stage file, for osls to lay the stage over the defaults', () => {
    writeFileSync(join(dir, 'prod.yml'), 'customDomain: broker.example.com\nlogRetentionDays: 365\n')
    expect(load('prod')).toEqual({
      default: { customDomain: '', logRetentionDays: 90, region: 'us-east-1' },
      prod: { customDomain: 'broker.example.com', logRetentionDays: 365 },
    })
  })

  it('accepts an empty stage file: that stage takes every default', () => {
    writeFileSync(join(dir, 'dev.yml'), '# nothing set\n')
    expect(load('dev')).toMatchObject({ dev: {} })
  })

  it('refuses a stage without a file, naming the file to create', () => {
    expect(() => load('prod')).toThrow(/no parameters for stage "prod": create .*prod\.yml/)
  })

  it('refuses a parameter default.yml does not name (a misspelling would otherwise fall back to the default)', () => {
    writeFileSync(join(dir, 'prod.yml'), 'customdomain: broker.example.com\n')
    expect(() => load('prod')).toThrow(/prod\.yml: unknown parameter "customdomain"/)
  })

  it('refuses a value that is a map or a list, and a file that is not a map', () => {
    writeFileSync(join(dir, 'a.yml'), 'customDomain: { name: x }\n')
    expect(() => load('a')).toThrow(/a\.yml: customDomain must be a string, a number or a boolean/)
    writeFileSync(join(dir, 'b.yml'), '- customDomain\n')
    expect(() => load('b')).toThrow(/b\.yml: must be a map/)
  })

  it('refuses a stage name that could point outside the folder', () => {
    expect(() => load('../default')).toThrow(/letters, digits and - only/)
  })

  it('reads params/ of the service unless IRSA_BROKER_PARAMS_DIR names another folder', () => {
    expect(paramsDir(ROOT, {})).toBe(join(ROOT, 'params'))
    expect(paramsDir(ROOT, { IRSA_BROKER_PARAMS_DIR: '/etc/irsa-broker' })).toBe('/etc/irsa-broker')
    expect(paramsDir(ROOT, { IRSA_BROKER_PARAMS_DIR: 'ops/params' })).toBe(join(ROOT, 'ops', 'params'))
  })
})

describe('the repository’s parameter files', () => {
  const names = (file: string) =>
    Object.keys(YAML.parse(readFileSync(join(ROOT, 'params', file), 'utf8')) ?? {})

  it('name in default.yml exactly the parameters serverless.yml uses', () => {
    const used = [...readFileSync(join(ROOT, 'serverless.yml'), 'utf8').matchAll(/\bparam:(\w+)/g)].map(
      (match) => match[1],
    )
    expect(names('default.yml').sort()).toEqual([...new Set(used)].sort())
  })

  it('give ci (npm run package) and the example stage valid files', () => {
    for (const stage of ['ci', 'example']) {
      expect(() => loadStageParams({ serviceDir: ROOT, stage, env: {} })).not.toThrow()
    }
    expect(names('example.yml')).toEqual(expect.arrayContaining(['region', 'customDomain', 'certificateArn']))
  })
})
