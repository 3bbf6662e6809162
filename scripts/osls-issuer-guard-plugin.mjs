// osls plugin (serverless.yml `plugins`): before `osls deploy` creates or updates anything, it
// reads the IssuerUrl output of the stage's deployed stack and refuses a deploy whose rendered
// template would change it (scripts/issuer-guard.mjs), unless --allow-issuer-change is given.
// A plugin rather than a wrapper script, so that `npx osls deploy` itself cannot skip it.
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { issuerChange, plannedIssuer, refusal } from './issuer-guard.mjs'

const require = createRequire(import.meta.url)
// The command for the CloudFormation client osls itself uses (its dependency, not the broker's).
const { DescribeStacksCommand } = createRequire(require.resolve('osls/package.json'))(
  '@aws-sdk/client-cloudformation',
)
const { paramsDir } = require('./stage-params.cjs')

const isMissingStack = (error) =>
  error?.name === 'ValidationError' && /does not exist/.test(String(error?.message))

/** The deployed stack's IssuerUrl output; undefined when there is no stack yet. */
export const deployedIssuerUrl = async (cloudFormation, stackName) => {
  let answer
  try {
    answer = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))
  } catch (error) {
    if (isMissingStack(error)) return undefined
    throw error
  }
  const outputs = answer?.Stacks?.[0]?.Outputs ?? []
  const issuer = outputs.find((output) => output.OutputKey === 'IssuerUrl')?.OutputValue
  if (typeof issuer !== 'string' || issuer === '') {
    throw new Error(
      `the stack ${stackName} exists but has no IssuerUrl output, so this deploy cannot tell whether it changes the issuer URL`,
    )
  }
  return issuer
}

export default class IssuerGuard {
  constructor(serverless, options = {}, utils = {}) {
    this.commands = {
      deploy: {
        options: {
          'allow-issuer-change': {
            usage:
              'Deploy even though the broker issuer URL changes (every target account must register the new one)',
            type: 'boolean',
          },
        },
      },
    }
    const check = async () => {
      const provider = serverless.getProvider('aws')
      const stage = provider.getStage()
      const stackName = provider.naming.getStackName()
      const planned = plannedIssuer(serverless.service.provider.compiledCloudFormationTemplate)
      const deployed = await deployedIssuerUrl(await provider.getCloudFormationClient(), stackName)
      const change = issuerChange(deployed, planned)
      const log = (line) => (utils.log?.notice ? utils.log.notice(line) : process.stderr.write(`${line}\n`))
      if (!change) {
        log(
          deployed === undefined
            ? `issuer URL: ${planned.kind === 'custom-domain' ? planned.url : 'the execute-api URL'} (first deploy of ${stackName})`
            : `issuer URL: ${deployed} (unchanged)`,
        )
        return
      }
      if (options['allow-issuer-change']) {
        log(`issuer URL: changing from ${change.from} to ${change.to} (--allow-issuer-change)`)
        return
      }
      const paramsFile = relative(process.cwd(), join(paramsDir(serverless.serviceDir), `${stage}.yml`))
      throw new serverless.classes.Error(refusal({ stage, paramsFile, change }), 'IRSA_BROKER_ISSUER_CHANGE')
    }
    // After packaging, before osls creates (first deploy) or updates the stack.
    this.hooks = { 'before:aws:deploy:deploy:createStack': check }
  }
}
