// The deployment artifacts, checked without an AWS account: the CloudFormation template that
// `npm run package` (osls) generates from serverless.yml, and infra/target-account.yaml.
// `npm test` packages before vitest runs; run `npm run package` first when calling vitest alone.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type FunctionName, ROUTES, routeKey } from '../../functions/routes.js'
import { tableDefinition } from '../../shared/adapters/dynamodb-table.js'
import { ConfigError, loadLambdaConfig } from '../../shared/config.js'
import { buildTrustPolicy } from '../../shared/core/trust-policy.js'
import { parseCloudFormationYaml } from '../support/cloudformation-yaml.js'
import { type FunctionRun, sdkCallsPerFunction } from '../support/lambda-sdk-calls.js'
import { zipEntryNames } from '../support/zip.js'
import { makeBinding } from './fixtures.js'

const root = join(import.meta.dirname, '..', '..')
const SERVERLESS_DIR = join(root, '.serverless')
const TEMPLATE = join(SERVERLESS_DIR, 'cloudformation-template-update-stack.json')
const SERVERLESS_YML = join(root, 'serverless.yml')

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }
interface Resource {
  Type: string
  Condition?: string
  Properties?: JsonObject
  [attribute: string]: Json | undefined
}
interface Template {
  Resources: Record<string, Resource>
  Outputs?: Record<string, JsonObject>
  Conditions?: Record<string, Json>
  Parameters?: Record<string, JsonObject>
}
interface Statement {
  where: string
  /** The logical id of the role or policy resource the statement is written in. */
  holder: string
  Effect: string
  Action: string[]
  Resource: Json
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const asList = (value: Json | undefined): Json[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value]

const loadGeneratedTemplate = (): Template => {
  const shown = relative(root, TEMPLATE)
  if (!existsSync(TEMPLATE)) {
    throw new Error(`${shown} is missing: run \`npm run package\` first (\`npm test\` runs it before vitest)`)
  }
  if (statSync(SERVERLESS_YML).mtimeMs > statSync(TEMPLATE).mtimeMs) {
    throw new Error(`${shown} is older than serverless.yml: run \`npm run package\` again`)
  }
  return JSON.parse(readFileSync(TEMPLATE, 'utf8')) as Template
}

const resourcesOfType = (template: Template, type: string): [string, Resource][] =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type)

/** Every statement of every identity policy (role inline policies, policies, managed policies). */
const identityStatements = (template: Template): Statement[] =>
  Object.entries(template.Resources).flatMap(([name, resource]) => {
    const documents: [string, Json | undefined][] =
      resource.Type === 'AWS::IAM::Role'
        ? asList(resource.Properties?.Policies).map((policy, i) => [
            `${name}.Policies[${i}]`,
            isObject(policy) ? policy.PolicyDocument : undefined,
          ])
        : resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy'
          ? [[name, resource.Properties?.PolicyDocument]]
          : []
    return documents.flatMap(([where, document]) =>
      isObject(document)
        ? asList(document.Statement).flatMap((statement, i) =>
            isObject(statement)
              ? [
                  {
                    where: `${where}.Statement[${i}]`,
                    holder: name,
                    Effect: String(statement.Effect),
                    Action: asList(statement.Action).map(String),
                    Resource: statement.Resource ?? null,
                  },
                ]
              : [],
          )
        : [],
    )
  })

/** The resources a statement can name once conditions are decided: both branches of each Fn::If. */
const resourceLeaves = (resource: Json): Json[] => {
  if (Array.isArray(resource)) return resource.flatMap(resourceLeaves)
  if (isObject(resource) && Array.isArray(resource['Fn::If'])) {
    const [, whenTrue = null, whenFalse = null] = resource['Fn::If']
    return [...resourceLeaves(whenTrue), ...resourceLeaves(whenFalse)]
  }
  if (isObject(resource) && resource.Ref === 'AWS::NoValue') return []
  return [resource]
}

const DATA_ACTION = /^(dynamodb|kms):/i

/** Findings: DynamoDB/KMS grants with a wildcard (or missing) resource, or a wildcard action. */
const wildcardDataGrants = (template: Template): string[] =>
  identityStatements(template)
    .filter((statement) => statement.Effect === 'Allow' && statement.Action.some((a) => DATA_ACTION.test(a)))
    .flatMap((statement) => [
      ...statement.Action.filter((action) => DATA_ACTION.test(action) && action.includes('*')).map(
        (action) => `${statement.where}: wildcard action ${action}`,
      ),
      ...(resourceLeaves(statement.Resource).length === 0 ? [`${statement.where}: no resource`] : []),
      ...resourceLeaves(statement.Resource)
        .filter((leaf) => leaf === null || JSON.stringify(leaf).includes('*'))
        .map((leaf) => `${statement.where}: wildcard resource ${JSON.stringify(leaf)}`),
    ])

/** Findings: routes missing or extra against functions/routes.ts, admin ones without AWS_IAM, others with it. */
const routeAuthorizationProblems = (template: Template): string[] => {
  const declared = new Map(
    resourcesOfType(template, 'AWS::ApiGatewayV2::Route').map(([, route]) => [
      String(route.Properties?.RouteKey),
      String(route.Properties?.AuthorizationType ?? 'NONE'),
    ]),
  )
  const problems = ROUTES.flatMap((route) => {
    const key = routeKey(route)
    const authorization = declared.get(key)
    if (authorization === undefined) return [`${key}: not in the template`]
    if (route.admin && authorization !== 'AWS_IAM') return [`${key}: admin route with ${authorization}`]
    if (!route.admin && authorization !== 'NONE') return [`${key}: public route with ${authorization}`]
    return []
  })
  const known = new Set(ROUTES.map(routeKey))
  return [
    ...problems,
    ...[...declared.keys()].filter((key) => !known.has(key)).map((key) => `${key}: not in routes.ts`),
  ]
}

/** Findings: a DynamoDB table without PITR, deletion protection, encryption or on-demand billing. */
const tableProblems = (template: Template): string[] =>
  resourcesOfType(template, 'AWS::DynamoDB::Table').flatMap(([name, table]) => {
    const properties = table.Properties ?? {}
    const pitr = properties.PointInTimeRecoverySpecification
    const sse = properties.SSESpecification
    return [
      ...(isObject(pitr) && pitr.PointInTimeRecoveryEnabled === true
        ? []
        : [`${name}: no point-in-time recovery`]),
      ...(properties.DeletionProtectionEnabled === true ? [] : [`${name}: no deletion protection`]),
      ...(isObject(sse) && sse.SSEEnabled === true ? [] : [`${name}: no SSE setting`]),
      ...(properties.BillingMode === 'PAY_PER_REQUEST' ? [] : [`${name}: not on-demand`]),
    ]
  })

/** Value imports of `…Command` from the DynamoDB and KMS clients that the Lambda code sends. */
const sdkCallsOfLambdaCode = (): string[] => {
  const files = ['shared', 'functions'].flatMap((dir) =>
    readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
      .map((entry) => join(entry.parentPath, entry.name)),
  )
  const calls = files.flatMap((file) => {
    const source = readFileSync(file, 'utf8')
    return [...source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-(dynamodb|kms)'/g)].flatMap(
      ([, names = '', service = '']) =>
        names
          .split(',')
          .map((name) => name.trim())
          .filter((name) => /^\w+Command$/.test(name) && source.includes(`new ${name}(`))
          .map((name) => `${service}:${name.replace(/Command$/, '')}`),
    )
  })
  return [...new Set(calls)].sort()
}

const FUNCTIONS = [
  'credentials',
  'roles',
  'discovery',
  'admin',
  'keys',
] as const satisfies readonly FunctionName[]

const functionLogicalId = (name: FunctionName) => `${name[0]?.toUpperCase()}${name.slice(1)}LambdaFunction`

const getAttOf = (value: Json | undefined): string | undefined =>
  isObject(value) && Array.isArray(value['Fn::GetAtt']) ? String(value['Fn::GetAtt'][0]) : undefined

/** The logical id of the IAM role a function runs as (its `Role: !GetAtt <Role>.Arn`). */
const roleOfFunction = (template: Template, name: FunctionName): string => {
  const role = getAttOf(template.Resources[functionLogicalId(name)]?.Properties?.Role)
  if (!role || template.Resources[role]?.Type !== 'AWS::IAM::Role')
    throw new Error(`${name}: not run by an IAM role of this template`)
  return role
}

/** Statements a role holds: its inline policies and the AWS::IAM::Policy resources attached to it. */
const statementsOfRole = (template: Template, role: string): Statement[] => {
  const attached = new Set(
    Object.entries(template.Resources)
      .filter(([, resource]) => asList(resource.Properties?.Roles).some((r) => isObject(r) && r.Ref === role))
      .map(([name]) => name),
  )
  return identityStatements(template).filter((s) => s.holder === role || attached.has(s.holder))
}

/**
 * Names a DynamoDB or KMS resource of the template as lambda-sdk-calls.ts names the resource of
 * a call: the table (`!GetAtt <table>.Arn`) and its indexes (`<table ARN>/index/<name>`) of
 * IRSA_BROKER_TABLE, and the keys of IRSA_BROKER_KMS_KEY_ID and IRSA_BROKER_KMS_PREVIOUS_KEY_ID.
 */
const resourceNamer = (environment: JsonObject) => {
  const tableRef = environment.IRSA_BROKER_TABLE
  const table = isObject(tableRef) ? String(tableRef.Ref) : undefined
  const current = resourceLeaves(environment.IRSA_BROKER_KMS_KEY_ID ?? null).map((leaf) =>
    JSON.stringify(leaf),
  )
  const previous = resourceLeaves(environment.IRSA_BROKER_KMS_PREVIOUS_KEY_ID ?? null).map((leaf) =>
    JSON.stringify(leaf),
  )
  return (leaf: Json): string => {
    if (table !== undefined && getAttOf(leaf) === table) return 'table'
    const sub = isObject(leaf) ? leaf['Fn::Sub'] : undefined
    const index =
      typeof sub === 'string' ? new RegExp(`^\\$\\{${table}\\.Arn\\}/index/(\\w+)$`).exec(sub) : null
    if (index) return `table/index/${index[1]}`
    if (current.includes(JSON.stringify(leaf))) return 'current key'
    if (previous.includes(JSON.stringify(leaf))) return 'previous key'
    return JSON.stringify(leaf)
  }
}

/** `<action> on <resource>` for every DynamoDB and KMS grant of the function's role. */
const grantedCalls = (template: Template, name: FunctionName, environment: JsonObject): string[] => {
  const nameOf = resourceNamer(environment)
  const calls = statementsOfRole(template, roleOfFunction(template, name))
    .filter((statement) => statement.Effect === 'Allow')
    .flatMap((statement) =>
      statement.Action.filter((action) => DATA_ACTION.test(action)).flatMap((action) =>
        resourceLeaves(statement.Resource).map((leaf) => `${action} on ${nameOf(leaf)}`),
      ),
    )
  return [...new Set(calls)].sort()
}

const uniqueSorted = (calls: readonly string[]): string[] =>
  [...new Set(calls.filter((call) => DATA_ACTION.test(call)))].sort()

/** Findings: a function's role granting a call the function never makes, or missing one it makes. */
const grantProblems = (template: Template, runs: Record<FunctionName, FunctionRun>): string[] =>
  FUNCTIONS.flatMap((name) => {
    const environment = template.Resources[functionLogicalId(name)]?.Properties?.Environment
    const variables = isObject(environment) && isObject(environment.Variables) ? environment.Variables : {}
    const granted = grantedCalls(template, name, variables)
    const made = uniqueSorted(runs[name].calls)
    return [
      ...granted.filter((call) => !made.includes(call)).map((call) => `${name}: grants ${call}, never made`),
      ...made
        .filter((call) => !granted.includes(call))
        .map((call) => `${name}: makes ${call} without a grant`),
    ]
  })

/** Registry writes and signing: what neither the public nor the workload-facing read paths may hold. */
const WRITE_OR_SIGN =
  /^(dynamodb:(PutItem|DeleteItem|UpdateItem|BatchWriteItem|TransactWriteItems)|kms:Sign)$|\*/

const clone = (template: Template): Template => structuredClone(template)

describe('generated CloudFormation template (.serverless/)', () => {
  // Loaded by each test (not in a hook), so a missing or stale template fails every test with its reason.
  let cached: Template | undefined
  const generated = (): Template => {
    cached ??= loadGeneratedTemplate()
    return cached
  }

  // The handlers run against recording SDK fakes once per file, for the tests that need them.
  let runs: Promise<Record<FunctionName, FunctionRun>> | undefined
  const driven = (): Promise<Record<FunctionName, FunctionRun>> => {
    runs ??= sdkCallsPerFunction()
    return runs
  }

  const functionResource = (name: FunctionName): Resource => {
    const logicalId = functionLogicalId(name)
    const resource = generated().Resources[logicalId]
    if (!resource) throw new Error(`no ${logicalId} in the template`)
    return resource
  }
  const environmentOf = (name: FunctionName): JsonObject => {
    const environment = functionResource(name).Properties?.Environment
    if (!isObject(environment) || !isObject(environment.Variables)) throw new Error(`${name}: no environment`)
    return environment.Variables
  }

  it('grants DynamoDB and KMS actions on named resources only: no wildcard resource or action in any IAM statement', () => {
    // Act
    const findings = wildcardDataGrants(generated())
    const checked = identityStatements(generated()).filter((s) => s.Action.some((a) => DATA_ACTION.test(a)))

    // Assess
    expect(checked.length).toBeGreaterThanOrEqual(2)
    expect(findings).toEqual([])
  })

  it('flags a DynamoDB or KMS grant on Resource "*" or an ARN pattern with *, and a wildcard action', () => {
    // Prepare
    const broken = clone(generated())
    broken.Resources.ExtraPolicy = {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: '*' },
            {
              Effect: 'Allow',
              Action: 'kms:Sign',
              Resource: { 'Fn::Sub': `arn:aws:kms:*:\${AWS::AccountId}:key/*` },
            },
            { Effect: 'Allow', Action: 'dynamodb:*', Resource: { Ref: 'RegistryTable' } },
          ],
        },
      },
    }

    // Act
    const findings = wildcardDataGrants(broken)

    // Assess
    expect(findings).toHaveLength(3)
    expect(findings.join('\n')).toMatch(/wildcard resource "\*"/)
    expect(findings.join('\n')).toMatch(/wildcard resource .*key\/\*/)
    expect(findings.join('\n')).toMatch(/wildcard action dynamodb:\*/)
  })

  it.each(FUNCTIONS)(
    'runs %s as a role of its own, granted exactly the DynamoDB and KMS calls its handler makes, on the resources it makes them on',
    async (name) => {
      // Prepare
      const run = (await driven())[name]
      const routes = ROUTES.filter((route) => route.function === name).map(routeKey)

      // Act
      const granted = grantedCalls(generated(), name, environmentOf(name))
      const made = uniqueSorted(run.calls)
      const others = FUNCTIONS.filter((other) => other !== name).map((other) =>
        roleOfFunction(generated(), other),
      )

      // Assess
      expect([...new Set(run.answers.map((answer) => answer.split(' → ')[0]))].sort()).toEqual(routes.sort())
      expect(run.answers.filter((answer) => !/ → 2\d\d$/.test(answer))).toEqual([])
      expect(made.length).toBeGreaterThan(0)
      expect(granted).toEqual(made)
      expect(others).not.toContain(roleOfFunction(generated(), name))
      expect(resourcesOfType(generated(), 'AWS::IAM::Role')).toHaveLength(FUNCTIONS.length)
    },
  )

  it('flags a role granted a call its function never makes, and a call made without a grant', async () => {
    // Prepare
    const broken = clone(generated())
    const policyOf = (role: string) => {
      const [policy] = asList(broken.Resources[role]?.Properties?.Policies)
      if (!isObject(policy) || !isObject(policy.PolicyDocument)) throw new Error(`${role}: no inline policy`)
      return policy.PolicyDocument
    }
    const discovery = policyOf(roleOfFunction(broken, 'discovery'))
    discovery.Statement = [
      ...asList(discovery.Statement),
      {
        Effect: 'Allow',
        Action: 'kms:Sign',
        Resource: environmentOf('discovery').IRSA_BROKER_KMS_KEY_ID ?? null,
      },
    ]
    const admin = policyOf(roleOfFunction(broken, 'admin'))
    admin.Statement = asList(admin.Statement).map((statement) =>
      isObject(statement) && Array.isArray(statement.Action)
        ? { ...statement, Action: statement.Action.filter((action) => action !== 'dynamodb:Scan') }
        : statement,
    )

    // Act
    const problems = grantProblems(broken, await driven())

    // Assess
    expect(grantProblems(generated(), await driven())).toEqual([])
    expect(problems).toEqual([
      'discovery: grants kms:Sign on current key, never made',
      'admin: makes dynamodb:Scan on table without a grant',
    ])
  })

  it('gives the public discovery and the workload-facing roles functions no registry write and no kms:Sign, signs only in credentials, and writes only in admin and keys', () => {
    // Act
    const actionsOf = (name: FunctionName) =>
      statementsOfRole(generated(), roleOfFunction(generated(), name)).flatMap((s) => s.Action)
    const signers = FUNCTIONS.filter((name) => actionsOf(name).includes('kms:Sign'))
    const writers = FUNCTIONS.filter((name) =>
      actionsOf(name).some((action) => WRITE_OR_SIGN.test(action) && action !== 'kms:Sign'),
    )

    // Assess
    expect(actionsOf('discovery').filter((action) => WRITE_OR_SIGN.test(action))).toEqual([])
    expect(actionsOf('roles').filter((action) => WRITE_OR_SIGN.test(action))).toEqual([])
    expect(signers).toEqual(['credentials'])
    // keys writes an issuer's keys back (GetItem, PutItem only: the derivation above).
    expect(writers).toEqual(['admin', 'keys'])
  })

  it('between them, the functions make every DynamoDB and KMS call the Lambda code sends, and on the byIss index only Query', async () => {
    // Prepare
    const runs = await driven()

    // Act
    const made = [
      ...new Set(
        FUNCTIONS.flatMap((name) => uniqueSorted(runs[name].calls).map((call) => call.split(' on ')[0])),
      ),
    ].sort()
    const onIndex = [
      ...new Set(
        FUNCTIONS.flatMap((name) => grantedCalls(generated(), name, environmentOf(name))).filter((call) =>
          call.includes('/index/'),
        ),
      ),
    ]

    // Assess
    expect(made).toEqual(sdkCallsOfLambdaCode())
    expect(onIndex).toEqual(['dynamodb:Query on table/index/byIss'])
  })

  it.each(FUNCTIONS)('lets %s write only its own log group, and only Lambda assume its role', (name) => {
    // Prepare
    const role = roleOfFunction(generated(), name)
    const logGroup = functionLogicalId(name).replace(/LambdaFunction$/, 'LogGroup')

    // Act
    const others = statementsOfRole(generated(), role).filter(
      (s) => !s.Action.some((a) => DATA_ACTION.test(a)),
    )
    const trust = generated().Resources[role]?.Properties?.AssumeRolePolicyDocument

    // Assess
    expect(others.map(({ Effect, Action, Resource }) => ({ Effect, Action, Resource }))).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] },
      },
    ])
    expect(trust).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
      ],
    })
  })

  it('serves every route of functions/routes.ts, the admin ones behind AWS_IAM and the others without authorizer', () => {
    // Act
    const problems = routeAuthorizationProblems(generated())

    // Assess
    expect(problems).toEqual([])
  })

  it('flags an admin route without AWS_IAM', () => {
    // Prepare
    const broken = clone(generated())
    const [, adminRoute] =
      resourcesOfType(broken, 'AWS::ApiGatewayV2::Route').find(([, route]) =>
        String(route.Properties?.RouteKey).includes('/v1/admin/'),
      ) ?? []
    if (!adminRoute?.Properties) throw new Error('no admin route')
    delete adminRoute.Properties.AuthorizationType

    // Act
    const problems = routeAuthorizationProblems(broken)

    // Assess
    expect(problems).toEqual([`${adminRoute.Properties.RouteKey}: admin route with NONE`])
  })

  it('keeps the registry table on-demand, with PITR, deletion protection, SSE, retained, keyed as dynamodb-table.ts', () => {
    // Prepare
    const tables = resourcesOfType(generated(), 'AWS::DynamoDB::Table')
    const definition = tableDefinition('ignored')

    // Act
    const problems = tableProblems(generated())

    // Assess
    expect(tables.map(([name]) => name)).toEqual(['RegistryTable'])
    expect(problems).toEqual([])
    const [, table] = tables[0] ?? []
    expect(table?.DeletionPolicy).toBe('Retain')
    expect(table?.UpdateReplacePolicy).toBe('Retain')
    expect(table?.Properties).toMatchObject({
      AttributeDefinitions: definition.AttributeDefinitions,
      KeySchema: definition.KeySchema,
      GlobalSecondaryIndexes: definition.GlobalSecondaryIndexes,
    })
  })

  it('flags a table without point-in-time recovery', () => {
    // Prepare
    const broken = clone(generated())
    delete broken.Resources.RegistryTable?.Properties?.PointInTimeRecoverySpecification

    // Act
    const problems = tableProblems(broken)

    // Assess
    expect(problems).toEqual(['RegistryTable: no point-in-time recovery'])
  })

  it('creates an RSA_2048 SIGN_VERIFY key with an alias, signs with it in credentials only, and lets no other principal sign', () => {
    // Prepare
    const key = generated().Resources.SigningKey
    const signingRole = roleOfFunction(generated(), 'credentials')
    const roleName = generated().Resources[signingRole]?.Properties?.RoleName
    const signGrants = identityStatements(generated()).filter((s) => s.Action.includes('kms:Sign'))

    // Act
    const policy = key?.Properties?.KeyPolicy
    const deny = isObject(policy)
      ? asList(policy.Statement).find((s) => isObject(s) && s.Effect === 'Deny' && s.Action === 'kms:Sign')
      : undefined

    // Assess
    expect(key?.Properties).toMatchObject({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' })
    expect(key?.DeletionPolicy).toBe('Retain')
    expect(generated().Resources.SigningKeyAlias?.Properties).toMatchObject({
      AliasName: expect.stringMatching(/^alias\/irsa-broker-/),
      TargetKeyId: { Ref: 'SigningKey' },
    })
    expect(signGrants.map((s) => [s.holder, s.Resource])).toEqual([
      [signingRole, environmentOf('credentials').IRSA_BROKER_KMS_KEY_ID],
    ])
    expect(typeof roleName).toBe('string')
    expect(deny).toMatchObject({
      Principal: '*',
      Condition: {
        ArnNotEquals: {
          'aws:PrincipalArn': {
            'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${roleName}`,
          },
        },
      },
    })
  })

  it.each(FUNCTIONS)(
    'runs %s on nodejs22.x arm64 from a zip holding only its own bundle, configured for loadLambdaConfig',
    (name) => {
      // Prepare
      const properties = functionResource(name).Properties ?? {}
      const code = properties.Code

      // Act
      const entries = zipEntryNames(join(SERVERLESS_DIR, `${name}.zip`))
      const environment = environmentOf(name)

      // Assess
      expect(properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: `dist/${name}/index.handler`,
      })
      expect(isObject(code) && String(code.S3Key).endsWith(`/${name}.zip`)).toBe(true)
      expect(entries.sort()).toEqual([`dist/${name}/index.mjs`, `dist/${name}/index.mjs.map`])
      expect(environment.IRSA_BROKER_TABLE).toEqual({ Ref: 'RegistryTable' })
      expect(environment.IRSA_BROKER_KMS_KEY_ID).toBeTruthy()
      expect(environment.IRSA_BROKER_ISSUER_URL).toBeTruthy()
    },
  )

  it.each(FUNCTIONS)(
    'gives %s every tunable setting as a stage parameter whose default is the code default, each read by loadLambdaConfig',
    (name) => {
      // Prepare: the references CloudFormation resolves at deploy time, as plain values
      const deployed: Record<string, string> = {
        AWS_REGION: 'eu-west-1',
        IRSA_BROKER_TABLE: 'irsa-broker-dev-RegistryTable',
        IRSA_BROKER_ISSUER_URL: 'https://abcdefghij.execute-api.eu-west-1.amazonaws.com',
        IRSA_BROKER_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c',
      }
      const settings = Object.entries(environmentOf(name)).filter(
        (entry): entry is [string, string] =>
          typeof entry[1] === 'string' && entry[0].startsWith('IRSA_BROKER_'),
      )

      // Act
      const withStageDefaults = loadLambdaConfig({ ...deployed, ...Object.fromEntries(settings) })
      const withCodeDefaults = loadLambdaConfig(deployed)
      const unread = settings
        .map(([key]) => key)
        .filter((key) => {
          try {
            loadLambdaConfig({ ...deployed, [key]: 'not-a-value' })
            return true
          } catch (error) {
            return !(error instanceof ConfigError && error.variable === key)
          }
        })

      // Assess: the deadlines and cache bounds of issue 7 are among them
      expect(settings.map(([key]) => key)).toEqual(
        expect.arrayContaining([
          'IRSA_BROKER_REQUEST_DEADLINE_MS',
          'IRSA_BROKER_STS_TIMEOUT_MS',
          'IRSA_BROKER_KMS_TIMEOUT_MS',
          'IRSA_BROKER_DYNAMODB_TIMEOUT_MS',
          'IRSA_BROKER_CREDENTIAL_CACHE_MAX_ENTRIES',
          'IRSA_BROKER_CREDENTIAL_CACHE_REFRESH_MARGIN_SECONDS',
          'IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_ENTRIES',
          'IRSA_BROKER_CACHE_STALE_SECONDS',
        ]),
      )
      expect(withStageDefaults).toEqual(withCodeDefaults)
      expect(unread).toEqual([])
    },
  )

  it('deploys exactly the functions routes.ts names', () => {
    // Act
    const deployed = resourcesOfType(generated(), 'AWS::Lambda::Function')
      .map(([name]) => name)
      .sort()

    // Assess
    expect(deployed).toEqual(
      [...new Set(ROUTES.map((route) => route.function))].map(functionLogicalId).sort(),
    )
  })

  it('sets the issuer URL to https://<custom domain>, or else the HTTP API URL, and outputs the same value', () => {
    // Prepare
    const expected = {
      'Fn::If': [
        'HasCustomDomain',
        { 'Fn::Sub': `https://\${CustomDomain}` },
        { 'Fn::Sub': `https://\${HttpApi}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}` },
      ],
    }

    // Act
    const perFunction = FUNCTIONS.map((name) => environmentOf(name).IRSA_BROKER_ISSUER_URL)

    // Assess
    expect(perFunction).toEqual(FUNCTIONS.map(() => expected))
    expect(generated().Outputs?.IssuerUrl?.Value).toEqual(expected)
    expect(generated().Conditions?.HasCustomDomain).toEqual({
      'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'CustomDomain' }, ''] }],
    })
    // The API must not depend on the functions, or the issuer URL would be a circular reference.
    expect(JSON.stringify(generated().Resources.HttpApi)).not.toMatch(/LambdaFunction/)
  })

  it('keeps every log group for a set retention', () => {
    // Act
    const groups = resourcesOfType(generated(), 'AWS::Logs::LogGroup').map(([name, group]) => [
      name,
      group.Properties?.RetentionInDays,
    ])

    // Assess
    // One per function, and the HTTP API's access log.
    expect(groups.length).toBe(FUNCTIONS.length + 1)
    for (const [name, days] of groups) expect({ name, days }).toEqual({ name, days: expect.any(Number) })
  })
})

describe('serverless.yml', () => {
  it('reads nothing from AWS while packaging (no aws:accountId, ssm, cf or s3 variables)', () => {
    // Act
    const configuration = JSON.stringify(parseCloudFormationYaml(readFileSync(SERVERLESS_YML, 'utf8')))
    const remoteVariables = configuration.match(/\$\{(?:aws:accountId|ssm:|cf:|cf\(|s3:|sls:instanceId)/g)

    // Assess
    expect(remoteVariables).toBeNull()
  })
})

// ---- infra/target-account.yaml -------------------------------------------------------------

type Context = { refs: Record<string, Json>; conditions: Record<string, boolean> }

/** The few intrinsic functions the target-account template uses, evaluated for given parameters. */
const evaluate = (node: Json, context: Context): Json => {
  if (Array.isArray(node)) return node.map((item) => evaluate(item, context))
  if (!isObject(node)) return node
  const [[name, argument] = ['', null]] = Object.entries(node)
  const args = Array.isArray(argument) ? argument : [argument]
  switch (name) {
    case 'Ref':
      return context.refs[String(argument)] ?? null
    case 'Condition':
      return context.conditions[String(argument)] ?? null
    case 'Fn::If':
      return evaluate(context.conditions[String(args[0])] ? (args[1] ?? null) : (args[2] ?? null), context)
    case 'Fn::Equals':
      return (
        JSON.stringify(evaluate(args[0] ?? null, context)) ===
        JSON.stringify(evaluate(args[1] ?? null, context))
      )
    case 'Fn::Not':
      return !evaluate(args[0] ?? null, context)
    case 'Fn::And':
      return args.every((arg) => evaluate(arg, context) === true)
    case 'Fn::Join':
      return asList(evaluate(args[1] ?? null, context)).join(String(args[0]))
    case 'Fn::Split':
      return String(evaluate(args[1] ?? null, context)).split(String(args[0]))
    case 'Fn::Select':
      return asList(evaluate(args[1] ?? null, context))[Number(args[0])] ?? null
    case 'Fn::Sub': {
      const [text, variables] = Array.isArray(argument) ? argument : [argument, {}]
      const local = isObject(variables) ? variables : {}
      return String(text).replace(/\$\{([\w:.]+)\}/g, (_, variable: string) => {
        const value = variable in local ? evaluate(local[variable] ?? null, context) : context.refs[variable]
        if (value === undefined || value === null) throw new Error(`Fn::Sub: unknown \${${variable}}`)
        return String(value)
      })
    }
    default:
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, evaluate(value, context)]))
  }
}

describe('infra/target-account.yaml', () => {
  const template = parseCloudFormationYaml(
    readFileSync(join(root, 'infra', 'target-account.yaml'), 'utf8'),
  ) as Template
  const PROVIDER_ARN = 'arn:aws:iam::111122223333:oidc-provider/irsa-broker.example.com/prod'

  const deployWith = (parameters: Record<string, string>): Context => {
    const refs: Record<string, Json> = {
      'AWS::Partition': 'aws',
      'AWS::AccountId': '111122223333',
      BrokerOidcProvider: PROVIDER_ARN,
      ...Object.fromEntries(
        Object.entries(template.Parameters ?? {}).map(([name, spec]) => [
          name,
          spec.Type === 'CommaDelimitedList'
            ? String(parameters[name] ?? spec.Default ?? '').split(',')
            : (parameters[name] ?? spec.Default ?? null),
        ]),
      ),
    }
    const context: Context = { refs, conditions: {} }
    for (const [name, condition] of Object.entries(template.Conditions ?? {}))
      context.conditions[name] = evaluate(condition, context) === true
    return context
  }

  it('registers the broker issuer URL as an OIDC provider for client sts.amazonaws.com, without thumbprints by default', () => {
    // Prepare
    const context = deployWith({
      BrokerIssuerUrl: 'https://irsa-broker.example.com/prod',
      IssuerId: 'onprem-a',
      SubjectPattern: 'system:serviceaccount:ml:*',
    })

    // Act
    const provider = template.Resources.BrokerOidcProvider
    const properties = evaluate(provider?.Properties ?? {}, context)

    // Assess
    expect(provider?.Type).toBe('AWS::IAM::OIDCProvider')
    expect(context.conditions[provider?.Condition ?? '']).toBe(true)
    expect(properties).toEqual({
      Url: 'https://irsa-broker.example.com/prod',
      ClientIdList: ['sts.amazonaws.com'],
      ThumbprintList: null,
    })
  })

  it('gives the example role the trust policy buildTrustPolicy writes for a binding with that subject', () => {
    // Prepare
    const context = deployWith({
      BrokerIssuerUrl: 'https://irsa-broker.example.com/prod',
      IssuerId: 'onprem-a',
      SubjectPattern: 'system:serviceaccount:ml:*',
    })
    const binding = makeBinding({ issuerId: 'onprem-a', subjects: ['system:serviceaccount:ml:*'] })

    // Act
    const document = evaluate(
      template.Resources.ExampleRole?.Properties?.AssumeRolePolicyDocument ?? null,
      context,
    )

    // Assess
    expect(JSON.parse(String(document))).toEqual(
      buildTrustPolicy({ issuerUrl: 'https://irsa-broker.example.com/prod', binding }),
    )
  })

  const subjectPattern = new RegExp(String(template.Parameters?.SubjectPattern?.AllowedPattern))

  it('refuses a SubjectPattern with ? or $, which IAM would read as a wildcard and a policy variable', () => {
    // Act
    const refused = [
      'system:serviceaccount:ml:?',
      `system:serviceaccount:\${aws:username}`,
      'a$b',
      'a"b',
      'a\\b',
      '',
    ]
    const admitted = [
      'system:serviceaccount:ml:*',
      'system:serviceaccount:ml:trainer',
      'repo:org/app:ref:refs/heads/*',
    ]

    // Assess
    expect(refused.filter((pattern) => subjectPattern.test(pattern))).toEqual([])
    expect(admitted.filter((pattern) => !subjectPattern.test(pattern))).toEqual([])
  })

  it('writes, for every SubjectPattern it admits, the trust policy buildTrustPolicy writes for that subject', () => {
    fc.assert(
      fc.property(fc.stringMatching(subjectPattern), (pattern) => {
        // Prepare
        const context = deployWith({
          BrokerIssuerUrl: 'https://irsa-broker.example.com/prod',
          IssuerId: 'onprem-a',
          SubjectPattern: pattern,
        })
        const binding = makeBinding({ issuerId: 'onprem-a', subjects: [pattern] })

        // Act
        const document = evaluate(
          template.Resources.ExampleRole?.Properties?.AssumeRolePolicyDocument ?? null,
          context,
        )

        // Assess
        expect(JSON.parse(String(document))).toEqual(
          buildTrustPolicy({ issuerUrl: 'https://irsa-broker.example.com/prod', binding }),
        )
      }),
      { numRuns: 300 },
    )
  })

  it('trusts an existing provider instead of creating one when ExistingOidcProviderArn is given', () => {
    // Prepare
    const existing = 'arn:aws:iam::111122223333:oidc-provider/irsa-broker.example.com'
    const context = deployWith({
      BrokerIssuerUrl: 'https://irsa-broker.example.com',
      ExistingOidcProviderArn: existing,
      IssuerId: 'onprem-a',
      SubjectPattern: 'system:serviceaccount:ml:trainer',
    })

    // Act
    const document = JSON.parse(
      String(evaluate(template.Resources.ExampleRole?.Properties?.AssumeRolePolicyDocument ?? null, context)),
    )

    // Assess
    expect(context.conditions.CreateOidcProvider).toBe(false)
    expect(document.Statement[0].Principal).toEqual({ Federated: existing })
    expect(document.Statement[0].Condition.StringLike).toEqual({
      'irsa-broker.example.com:sub': ['onprem-a:system:serviceaccount:ml:trainer'],
    })
  })

  const BASE = {
    BrokerIssuerUrl: 'https://irsa-broker.example.com',
    IssuerId: 'onprem-a',
    SubjectPattern: 'system:serviceaccount:ml:*',
  }

  it('creates no revocation role unless admins are named', () => {
    // Act
    const context = deployWith(BASE)
    // Assess
    expect(template.Resources.RevocationRole?.Condition).toBe('CreateRevocationRole')
    expect(context.conditions.CreateRevocationRole).toBe(false)
  })

  it('lets only the named admins assume the revocation role, which may only put, read, list and delete inline policies of the example role', () => {
    // Prepare
    const admins = 'arn:aws:iam::111122223333:role/security-oncall,arn:aws:iam::111122223333:user/alice'
    const context = deployWith({ ...BASE, RevocationAdminArns: admins })
    // Act
    const properties = evaluate(template.Resources.RevocationRole?.Properties ?? {}, context) as {
      AssumeRolePolicyDocument: { Statement: { Principal: unknown; Action: unknown }[] }
      Policies: { PolicyDocument: { Statement: { Action: string[]; Resource: unknown }[] } }[]
    }
    // Assess
    expect(context.conditions.CreateRevocationRole).toBe(true)
    expect(properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Principal: { AWS: admins.split(',') }, Action: 'sts:AssumeRole' },
    ])
    expect(properties.Policies).toHaveLength(1)
    expect(properties.Policies[0]?.PolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: ['iam:PutRolePolicy', 'iam:GetRolePolicy', 'iam:ListRolePolicies', 'iam:DeleteRolePolicy'],
        Resource: [{ 'Fn::GetAtt': ['ExampleRole', 'Arn'] }],
      },
    ])
  })

  it('puts the revocation role on the roles named in RevocableRoleArns instead, when given', () => {
    // Prepare
    const roles = 'arn:aws:iam::111122223333:role/irsa-broker/*'
    const context = deployWith({
      ...BASE,
      RevocationAdminArns: 'arn:aws:iam::111122223333:user/alice',
      RevocableRoleArns: roles,
    })
    // Act
    const properties = evaluate(template.Resources.RevocationRole?.Properties ?? {}, context) as {
      Policies: { PolicyDocument: { Statement: { Resource: unknown }[] } }[]
    }
    // Assess
    expect(properties.Policies[0]?.PolicyDocument.Statement[0]?.Resource).toEqual([roles])
  })
})
