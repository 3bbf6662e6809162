// The deployment artifacts, checked without an AWS account: the CloudFormation template that
// `npm run package` (osls) generates from serverless.yml, and infra/target-account.yaml.
// `npm test` packages before vitest runs; run `npm run package` first when calling vitest alone.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type FunctionName, ROUTES, routeKey } from '../../functions/routes.js'
import { tableDefinition } from '../../shared/adapters/dynamodb-table.js'
import { buildTrustPolicy } from '../../shared/core/trust-policy.js'
import { parseCloudFormationYaml } from '../support/cloudformation-yaml.js'
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

const clone = (template: Template): Template => structuredClone(template)

describe('generated CloudFormation template (.serverless/)', () => {
  // Loaded by each test (not in a hook), so a missing or stale template fails every test with its reason.
  let cached: Template | undefined
  const generated = (): Template => {
    cached ??= loadGeneratedTemplate()
    return cached
  }

  const role = () => {
    const [entry] = resourcesOfType(generated(), 'AWS::IAM::Role')
    if (!entry) throw new Error('no IAM role in the template')
    return entry[1]
  }
  const functionResource = (name: FunctionName): Resource => {
    const logicalId = `${name[0]?.toUpperCase()}${name.slice(1)}LambdaFunction`
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

  it('grants exactly the DynamoDB and KMS calls the Lambda code sends, and on the byIss index only Query', () => {
    // Prepare
    const statements = identityStatements(generated())

    // Act
    const granted = [
      ...new Set(statements.flatMap((s) => s.Action).filter((a) => DATA_ACTION.test(a))),
    ].sort()
    const onIndex = statements
      .filter((s) => resourceLeaves(s.Resource).some((leaf) => JSON.stringify(leaf).includes('/index/')))
      .flatMap((s) => s.Action)

    // Assess
    expect(granted).toEqual(sdkCallsOfLambdaCode())
    expect(onIndex).toEqual(['dynamodb:Query'])
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

  it('creates an RSA_2048 SIGN_VERIFY key with an alias, signs with it, and lets no other principal sign', () => {
    // Prepare
    const key = generated().Resources.SigningKey
    const roleName = role().Properties?.RoleName
    const signGrant = identityStatements(generated()).find((s) => s.Action.includes('kms:Sign'))

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
    expect(signGrant?.Resource).toEqual(environmentOf('credentials').IRSA_BROKER_KMS_KEY_ID)
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

  it.each(['credentials', 'roles', 'discovery', 'admin'] as const)(
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

  it('deploys exactly the functions routes.ts names', () => {
    // Act
    const deployed = resourcesOfType(generated(), 'AWS::Lambda::Function')
      .map(([name]) => name)
      .sort()

    // Assess
    expect(deployed).toEqual(
      [...new Set(ROUTES.map((route) => route.function))]
        .map((name) => `${name[0]?.toUpperCase()}${name.slice(1)}LambdaFunction`)
        .sort(),
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
    const perFunction = (['credentials', 'roles', 'discovery', 'admin'] as const).map(
      (name) => environmentOf(name).IRSA_BROKER_ISSUER_URL,
    )

    // Assess
    expect(perFunction).toEqual([expected, expected, expected, expected])
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
    expect(groups.length).toBe(5)
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
})
