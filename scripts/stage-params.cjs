// serverless.yml `params:` — the stage's parameters, from one place every package and deploy
// reads: params/default.yml (every parameter, with its default) and params/<stage>.yml (what
// that stage sets; it must exist, and may set only parameters default.yml names). A deploy
// therefore never depends on which --param flags someone remembered to repeat: a rotation
// that edits the signing keys keeps the custom domain, because the domain is in the file.
// IRSA_BROKER_PARAMS_DIR points elsewhere (e.g. an operations repository beside this checkout).
// CommonJS because osls loads `${file(…)}` sources with require().
'use strict'

const { existsSync, readFileSync } = require('node:fs')
const { isAbsolute, join, relative, resolve } = require('node:path')
const YAML = require('yaml')

const STAGE_NAME = /^[a-zA-Z0-9-]+$/

// osls prints a resolver's error with its stack trace, unless the error is one of its own
// (by class name) whose message starts "Cannot resolve variable at ": then just the message.
class ServerlessError extends Error {
  constructor(message) {
    super(`Cannot resolve variable at "params": ${message}`)
    this.name = 'StageParamsError'
    this.code = 'STAGE_PARAMS'
  }
}
const StageParamsError = ServerlessError

/** The folder of the parameter files: IRSA_BROKER_PARAMS_DIR, or params/ of the service. */
const paramsDir = (serviceDir, env = process.env) => {
  const configured = env.IRSA_BROKER_PARAMS_DIR
  if (configured === undefined || configured === '') return join(serviceDir, 'params')
  return isAbsolute(configured) ? configured : resolve(serviceDir, configured)
}

const readMap = (file, shown) => {
  let value
  try {
    value = YAML.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new StageParamsError(`${shown}: not valid YAML (${error.message.split('\n')[0]})`)
  }
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value))
    throw new StageParamsError(`${shown}: must be a map of parameter names to values`)
  for (const [name, setting] of Object.entries(value)) {
    if (setting !== null && typeof setting === 'object')
      throw new StageParamsError(`${shown}: ${name} must be a string, a number or a boolean`)
  }
  return value
}

/**
 * `{ default: <default.yml>, <stage>: <stage>.yml }`, checked: the stage file exists and names
 * no parameter default.yml lacks (a misspelt `customdomain` would otherwise be ignored, and the
 * deploy would quietly fall back to the default).
 */
const loadStageParams = ({ serviceDir, stage, env = process.env }) => {
  if (!STAGE_NAME.test(stage)) throw new StageParamsError(`stage "${stage}": letters, digits and - only`)
  const dir = paramsDir(serviceDir, env)
  const shown = (file) => relative(serviceDir, file) || file
  const defaultsFile = join(dir, 'default.yml')
  if (!existsSync(defaultsFile)) throw new StageParamsError(`${shown(defaultsFile)} is missing`)
  const defaults = readMap(defaultsFile, shown(defaultsFile))
  const stageFile = join(dir, `${stage}.yml`)
  if (stage === 'default' || !existsSync(stageFile)) {
    throw new StageParamsError(
      `no parameters for stage "${stage}": create ${shown(stageFile)} (docs/deploy.md; params/example.yml shows the settings a deployment makes)`,
    )
  }
  const settings = readMap(stageFile, shown(stageFile))
  const unknown = Object.keys(settings).filter((name) => !Object.hasOwn(defaults, name))
  if (unknown.length > 0) {
    throw new StageParamsError(
      `${shown(stageFile)}: unknown parameter ${unknown.map((name) => `"${name}"`).join(', ')} (the parameters are those of ${shown(defaultsFile)})`,
    )
  }
  return { default: defaults, [stage]: settings }
}

// The osls `${file(./scripts/stage-params.cjs)}` entry: the stage is --stage, else provider.stage's default.
module.exports = async ({ options, resolveConfigurationProperty }) => {
  const serviceDir = resolve(__dirname, '..')
  const stage = options.stage ?? (await resolveConfigurationProperty(['provider', 'stage'])) ?? 'dev'
  return loadStageParams({ serviceDir, stage: String(stage) })
}
module.exports.loadStageParams = loadStageParams
module.exports.paramsDir = paramsDir
module.exports.StageParamsError = StageParamsError
