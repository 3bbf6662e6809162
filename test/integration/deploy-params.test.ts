// Deploy parameters live in params/<stage>.yml, read by every package and deploy: the rendered
// template of a first deploy and of a signing-key rotation (`npm run package`, in a copy of the
// checkout so the build does not touch this one's dist/) keep the custom domain and the issuer
// URL, and differ only in the key. And `osls deploy` itself refuses a deploy that would change
// a deployed stage's issuer URL: the real osls CLI against moto_server's CloudFormation, whose
// stack the real AWS CLI creates and changes.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MotoServer, startMotoServer } from '../../infra/local/processes.js'
import { ROOT } from '../support/local-broker.js'

const RENDER_TIMEOUT_MS = 240_000
/** One `osls deploy` up to the guard's verdict (seconds when idle; minutes on a machine shared by many suites). */
const DEPLOY_TIMEOUT_MS = 180_000
const REGION = 'eu-west-1'
const DOMAIN = 'broker.example.com'
const OLD_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111'
const NEW_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/22222222-2222-2222-2222-222222222222'
const KEPT_TABLE = 'irsa-broker-prod-RegistryTable-1A2B3C4D5E6F'
const PROD_YML = [
  `region: ${REGION}`,
  `customDomain: ${DOMAIN}`,
  'certificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/33333333-3333-3333-3333-333333333333',
  'hostedZoneId: Z0123456789ABCDEFGHIJ',
  'logRetentionDays: 365',
  '',
].join('\n')

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type Template = {
  Parameters: Record<string, { Default?: string }>
  Resources: Record<string, Json>
  Outputs: Record<string, { Value: Json }>
}

let work: string
let repo: string
let params: string
let moto: MotoServer

const run = (command: string, args: string[], env: NodeJS.ProcessEnv, timeout = RENDER_TIMEOUT_MS) => {
  const result = spawnSync(command, args, { cwd: repo, env, encoding: 'utf8', timeout })
  return { code: result.status, output: `${result.stdout}\n${result.stderr}` }
}

/** The environment of a person at a shell: no AWS settings of the test runner's. */
const baseEnv = (): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(AWS_|IRSA_BROKER_)/.test(name))),
  IRSA_BROKER_PARAMS_DIR: params,
})

/** `npm run package -- --stage prod [args]` into its own folder; the rendered template. */
const render = (name: string, args: string[] = []): Template => {
  const out = join(work, name)
  const { code, output } = run(
    'npm',
    ['run', '-s', 'package', '--', '--stage', 'prod', '--package', out, ...args],
    baseEnv(),
  )
  expect(code, output).toBe(0)
  return JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as Template
}

/** What CloudFormation makes the issuer URL of a template deployed with its parameter defaults. */
const issuerOf = (template: Template): Json => {
  const domain = template.Parameters.CustomDomain?.Default ?? ''
  const output = template.Outputs.IssuerUrl?.Value as { 'Fn::If': [string, Json, Json] }
  const [condition, whenDomain, whenApi] = output['Fn::If']
  expect(condition).toBe('HasCustomDomain')
  return domain === ''
    ? whenApi
    : String((whenDomain as { 'Fn::Sub': string })['Fn::Sub']).replace(`\${CustomDomain}`, domain)
}

const functionEnvironment = (template: Template, id: string) =>
  (template.Resources[id] as { Properties: { Environment: { Variables: Record<string, Json> } } }).Properties
    .Environment.Variables

/** Paths whose values differ, leaving out where osls puts this run's artifacts (a timestamp). */
const differences = (a: Json | undefined, b: Json | undefined, path = ''): string[] => {
  if (JSON.stringify(a) === JSON.stringify(b) || /\/Code\/S3Key$/.test(path)) return []
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return [path]
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].flatMap((key) =>
    differences((a as Record<string, Json>)[key], (b as Record<string, Json>)[key], `${path}/${key}`),
  )
}

const aws = (...args: string[]) => {
  const result = spawnSync('aws', ['--endpoint-url', moto.endpoint, '--region', REGION, ...args], {
    env: {
      ...baseEnv(),
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_CONFIG_FILE: '/dev/null',
    },
    encoding: 'utf8',
  })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout
}

const stackTemplate = (issuerUrl: string) =>
  JSON.stringify({
    Resources: { Placeholder: { Type: 'AWS::SQS::Queue' } },
    Outputs: { IssuerUrl: { Value: issuerUrl } },
  })

/**
 * `osls deploy --stage prod --package <folder>` against moto_server (every AWS call goes there).
 * Once the guard has let the deploy through (`passed` appears), what osls does next against
 * moto is not this test's business: the process is stopped there.
 */
const deploy = (
  folder: string,
  args: string[] = [],
  passed?: string,
): Promise<{ code: number | null; output: string }> =>
  new Promise((done) => {
    const child = spawn(
      process.execPath,
      [
        'node_modules/osls/bin/serverless.js',
        'deploy',
        '--stage',
        'prod',
        '--package',
        join(work, folder),
        ...args,
      ],
      {
        cwd: repo,
        env: {
          ...baseEnv(),
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_ENDPOINT_URL: moto.endpoint,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), DEPLOY_TIMEOUT_MS)
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
      if (passed !== undefined && output.includes(passed)) child.kill('SIGKILL')
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.once('close', (code) => {
      clearTimeout(timer)
      done({ code, output })
    })
  })

/** The stage as deployed: a stack with this IssuerUrl output, or no stack at all. */
const deployedWith = (issuerUrl: string | undefined) => {
  const stacks = aws(
    'cloudformation',
    'list-stacks',
    '--query',
    'StackSummaries[?StackStatus!=`DELETE_COMPLETE`].StackName',
  )
  if (stacks.includes('irsa-broker-prod'))
    aws('cloudformation', 'delete-stack', '--stack-name', 'irsa-broker-prod')
  if (issuerUrl !== undefined) {
    aws(
      'cloudformation',
      'create-stack',
      '--stack-name',
      'irsa-broker-prod',
      '--template-body',
      stackTemplate(issuerUrl),
    )
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'irsa-broker-deploy-'))
  repo = join(work, 'repo')
  params = join(work, 'params')
  // A copy of the checkout as git sees it (tracked and new files), sharing node_modules.
  const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  expect(files.status, files.stderr).toBe(0)
  for (const file of files.stdout.split('\0').filter(Boolean)) {
    mkdirSync(dirname(join(repo, file)), { recursive: true })
    try {
      cpSync(join(ROOT, file), join(repo, file))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error // deleted, not yet committed
    }
  }
  symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules'))
  mkdirSync(params)
  cpSync(join(ROOT, 'params', 'default.yml'), join(params, 'default.yml'))
  writeFileSync(join(params, 'prod.yml'), PROD_YML)
  moto = await startMotoServer()
}, 60_000)

afterAll(async () => {
  await moto?.stop()
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('deploy parameters of a stage (params/prod.yml), on npm run package output', () => {
  let first: Template

  it('renders a first deploy with the custom domain, its certificate and zone, in the stage’s region', {
    timeout: RENDER_TIMEOUT_MS,
  }, () => {
    first = render('first')
    expect(first.Parameters.CustomDomain?.Default).toBe(DOMAIN)
    expect(first.Parameters.CertificateArn?.Default).toMatch(/certificate\/3333/)
    expect(first.Parameters.HostedZoneId?.Default).toBe('Z0123456789ABCDEFGHIJ')
    expect(issuerOf(first)).toBe(`https://${DOMAIN}`)
    expect(functionEnvironment(first, 'CredentialsLambdaFunction').IRSA_BROKER_ISSUER_URL).toEqual(
      first.Outputs.IssuerUrl?.Value,
    )
    expect(Object.keys(first.Resources)).toEqual(
      expect.arrayContaining([
        'CustomDomainName',
        'CustomDomainMapping',
        'CustomDomainRecord',
        'RegistryTable',
      ]),
    )
    expect(JSON.stringify(first.Resources.CredentialsRole)).toContain(
      `irsa-broker-prod-${REGION}-credentials`,
    )
  })

  it('renders each rotation step edited into params/prod.yml with the same domain and issuer URL; only the keys differ', {
    timeout: RENDER_TIMEOUT_MS,
  }, () => {
    // docs/deploy.md, step 3 of a rotation: the new key signs, the old one is still published.
    writeFileSync(
      join(params, 'prod.yml'),
      `${PROD_YML}signingKeyArn: ${NEW_KEY}\npreviousSigningKeyArn: ${OLD_KEY}\n`,
    )
    const rotation = render('rotation')
    expect(rotation.Parameters.CustomDomain?.Default).toBe(DOMAIN)
    expect(issuerOf(rotation)).toBe(`https://${DOMAIN}`)
    expect(differences(first as unknown as Json, rotation as unknown as Json).sort()).toEqual([
      '/Parameters/PreviousSigningKeyArn/Default',
      '/Parameters/SigningKeyArn/Default',
    ])
    expect(rotation.Parameters.SigningKeyArn?.Default).toBe(NEW_KEY)
    expect(rotation.Parameters.PreviousSigningKeyArn?.Default).toBe(OLD_KEY)
    writeFileSync(join(params, 'prod.yml'), PROD_YML)
  })

  it('keeps the domain even for the old way, keys as --param alone; with the kept table and log groups after osls remove', {
    timeout: RENDER_TIMEOUT_MS,
  }, () => {
    const redeploy = render('redeploy', [
      `--param=previousSigningKeyArn=${NEW_KEY}`,
      `--param=existingTableName=${KEPT_TABLE}`,
      '--param=existingLogGroups=true',
    ])
    expect(redeploy.Parameters.CustomDomain?.Default).toBe(DOMAIN)
    expect(issuerOf(redeploy)).toBe(`https://${DOMAIN}`)
    expect(redeploy.Parameters.PreviousSigningKeyArn?.Default).toBe(NEW_KEY)
    const types = Object.values(redeploy.Resources).map((resource) => (resource as { Type: string }).Type)
    expect(types).not.toContain('AWS::DynamoDB::Table')
    expect(types).not.toContain('AWS::Logs::LogGroup')
    expect(functionEnvironment(redeploy, 'AdminLambdaFunction').IRSA_BROKER_TABLE).toBe(KEPT_TABLE)
    expect(JSON.stringify(redeploy.Resources.AdminRole)).toContain(
      `dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${KEPT_TABLE}`,
    )
    expect(JSON.stringify(redeploy.Resources.AdminRole)).toContain(
      `log-group:/aws/lambda/irsa-broker-prod-admin:*`,
    )
    const lint = spawnSync(
      'cfn-lint',
      ['--', join(work, 'redeploy', 'cloudformation-template-update-stack.json')],
      {
        encoding: 'utf8',
      },
    )
    expect(lint.status, lint.stdout + lint.stderr).toBe(0)
  })
})

describe('osls deploy refuses to change the issuer URL of a deployed stage', () => {
  it('lets a first deploy through (no stack yet)', { timeout: DEPLOY_TIMEOUT_MS + 10_000 }, async () => {
    deployedWith(undefined)
    const line = `issuer URL: https://${DOMAIN} (first deploy of irsa-broker-prod)`
    const { output } = await deploy('first', [], line)
    expect(output).toContain(line)
    expect(output).not.toContain('would change the issuer URL')
  })

  it('lets a deploy with the same issuer URL through', { timeout: DEPLOY_TIMEOUT_MS + 10_000 }, async () => {
    deployedWith(`https://${DOMAIN}`)
    const line = `issuer URL: https://${DOMAIN} (unchanged)`
    const { output } = await deploy('rotation', [], line)
    expect(output).toContain(line)
    expect(output).not.toContain('would change the issuer URL')
  })

  it('refuses one that would change it, before anything is created, and names the way back and the way through', {
    timeout: 2 * DEPLOY_TIMEOUT_MS + 10_000,
  }, async () => {
    deployedWith('https://old.example.com')
    const bucketsBefore = aws('s3api', 'list-buckets', '--query', 'Buckets[].Name')
    const { code, output } = await deploy('first')
    expect(code).not.toBe(0)
    expect(output).toContain(
      `This deploy would change the issuer URL of stage "prod" from https://old.example.com to https://${DOMAIN}.`,
    )
    expect(output).toContain('--allow-issuer-change')
    expect(output).toMatch(/params\/prod\.yml/)
    const outputs = aws(
      'cloudformation',
      'describe-stacks',
      '--stack-name',
      'irsa-broker-prod',
      '--query',
      'Stacks[0].Outputs',
    )
    expect(JSON.parse(outputs)).toEqual([{ OutputKey: 'IssuerUrl', OutputValue: 'https://old.example.com' }])
    expect(aws('s3api', 'list-buckets', '--query', 'Buckets[].Name')).toBe(bucketsBefore)

    const line = `issuer URL: changing from https://old.example.com to https://${DOMAIN} (--allow-issuer-change)`
    const allowed = await deploy('first', ['--allow-issuer-change'], line)
    expect(allowed.output).toContain(line)
  })
})
