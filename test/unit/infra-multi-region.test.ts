// The templates `npm run package` renders, beyond test/unit/infra.test.ts: the alarms and the
// dashboard of every stack, the single-Region stack unchanged by multi-Region stages, and the
// two stacks of the two-Region stage ci-multi (.serverless-regions/ci-multi/<region>/): global
// table, multi-Region key and replica, per-Region certificate, latency records and health
// checks. cfn-lint checks all three (`npm run lint:infra`). Run `npm run package` first when
// calling vitest alone.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { alarmMetricCount } from '../../scripts/monitoring.mjs'
import { tableDefinition } from '../../shared/adapters/dynamodb-table.js'

const root = join(import.meta.dirname, '..', '..')
const SERVERLESS_YML = join(root, 'serverless.yml')
const HOME = 'us-east-1'
const OTHER = 'eu-west-1'
const TABLE_NAME = 'irsa-broker-ci-multi-registry'
const PRIMARY_KEY_PARAMETER = 'SigningKeyPrimaryArn'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }
interface Resource {
  Type: string
  Condition?: string
  DeletionPolicy?: string
  Properties?: JsonObject
}
interface Template {
  Resources: Record<string, Resource>
  Parameters?: Record<string, JsonObject>
  Conditions?: Record<string, Json>
  Rules?: Record<string, JsonObject>
  Outputs?: Record<string, JsonObject>
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const load = (...path: string[]): Template => {
  const file = join(root, ...path, 'cloudformation-template-update-stack.json')
  const shown = relative(root, file)
  if (!existsSync(file)) throw new Error(`${shown} is missing: run \`npm run package\` first`)
  if (statSync(SERVERLESS_YML).mtimeMs > statSync(file).mtimeMs)
    throw new Error(`${shown} is older than serverless.yml: run \`npm run package\` again`)
  return JSON.parse(readFileSync(file, 'utf8')) as Template
}

const cache = new Map<string, Template>()
const template = (which: 'single' | typeof HOME | typeof OTHER): Template => {
  let loaded = cache.get(which)
  if (!loaded) {
    loaded = which === 'single' ? load('.serverless') : load('.serverless-regions', 'ci-multi', which)
    cache.set(which, loaded)
  }
  return loaded
}

const resource = (which: Parameters<typeof template>[0], id: string): Resource => {
  const found = template(which).Resources[id]
  if (!found) throw new Error(`${which}: no ${id}`)
  return found
}

const idsOfType = (which: Parameters<typeof template>[0], type: string) =>
  Object.entries(template(which).Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id)
    .sort()

const functionIds = (which: Parameters<typeof template>[0]) => idsOfType(which, 'AWS::Lambda::Function')

const environmentOf = (which: Parameters<typeof template>[0], id: string): JsonObject => {
  const environment = resource(which, id).Properties?.Environment
  if (!isObject(environment) || !isObject(environment.Variables)) throw new Error(`${id}: no environment`)
  return environment.Variables
}

const MONITORING_TYPES = new Set(['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::Dashboard'])
const MULTI_REGION_TYPES = [
  'AWS::DynamoDB::GlobalTable',
  'AWS::KMS::ReplicaKey',
  'AWS::Route53::HealthCheck',
  'AWS::CertificateManager::Certificate',
]

const before = JSON.parse(
  readFileSync(join(root, 'test', 'unit', 'fixtures', 'single-region-resources.json'), 'utf8'),
) as { resources: Record<string, string> }

const ALARMS = [
  'AdminServerErrorsAlarm',
  'AdminThrottlesAlarm',
  'ApiServerErrorsAlarm',
  'CredentialsServerErrorsAlarm',
  'CredentialsThrottlesAlarm',
  'DenialsSpikeAlarm',
  'DiscoveryServerErrorsAlarm',
  'DiscoveryThrottlesAlarm',
  'DynamoDbErrorRateAlarm',
  'KeyPushFailuresAlarm',
  'KeysServerErrorsAlarm',
  'KeysThrottlesAlarm',
  'KmsErrorRateAlarm',
  'LatencyP99Alarm',
  'RolesServerErrorsAlarm',
  'RolesThrottlesAlarm',
  'StaleRemoteKeysAlarm',
  'StsErrorRateAlarm',
]

/** The metrics an alarm reads: [namespace, metric name, dimensions] of a plain alarm or of each MetricStat. */
const metricsOf = (alarm: Resource): [string, string, Json][] => {
  const properties = alarm.Properties ?? {}
  if (!Array.isArray(properties.Metrics))
    return [[String(properties.Namespace), String(properties.MetricName), properties.Dimensions ?? null]]
  return properties.Metrics.flatMap((query) => {
    const stat = isObject(query) && isObject(query.MetricStat) ? query.MetricStat : undefined
    const metric = stat && isObject(stat.Metric) ? stat.Metric : undefined
    return metric ? [[String(metric.Namespace), String(metric.MetricName), metric.Dimensions ?? null]] : []
  })
}

describe('the single-Region stack', () => {
  it('keeps every resource it had before multi-Region stages, same id and type, and adds only alarms and a dashboard', () => {
    // Act
    const now = Object.fromEntries(
      Object.entries(template('single').Resources).map(([id, r]) => [id, r.Type]),
    )
    const added = Object.entries(now).filter(([id]) => !(id in before.resources))

    // Assess
    expect(Object.fromEntries(Object.entries(now).filter(([id]) => id in before.resources))).toEqual(
      before.resources,
    )
    expect(added.filter(([, type]) => !MONITORING_TYPES.has(type))).toEqual([])
    expect(added.map(([id]) => id).sort()).toEqual([...ALARMS, 'Dashboard'].sort())
  })

  it('has nothing of a multi-Region stage: a regional table and key, a simple DNS record, no home Region, no replica key parameter', () => {
    // Act
    const types = Object.values(template('single').Resources).map((r) => r.Type)
    const record = resource('single', 'CustomDomainRecord').Properties ?? {}

    // Assess
    expect(types.filter((type) => MULTI_REGION_TYPES.includes(type))).toEqual([])
    expect(resource('single', 'RegistryTable').Type).toBe('AWS::DynamoDB::Table')
    expect(resource('single', 'SigningKey').Properties?.MultiRegion).toBeUndefined()
    expect(record.SetIdentifier).toBeUndefined()
    expect(record.HealthCheckId).toBeUndefined()
    expect(functionIds('single').map((id) => environmentOf('single', id).IRSA_BROKER_HOME_REGION)).toEqual(
      functionIds('single').map(() => undefined),
    )
    expect(Object.keys(template('single').Parameters ?? {})).not.toContain(PRIMARY_KEY_PARAMETER)
    expect(template('single').Rules).toBeUndefined()
  })
})

describe('alarms and dashboard (every stack)', () => {
  it.each(['single', HOME, OTHER] as const)(
    '%s: 5xx and throttles of each function, STS/KMS/DynamoDB error rates, denials, stale keys, key push, p99 latency, API 5xx',
    (which) => {
      // Act
      const alarms = idsOfType(which, 'AWS::CloudWatch::Alarm')
      const functions = functionIds(which).map((id) => id.replace(/LambdaFunction$/, ''))

      // Assess
      expect(alarms).toEqual([...ALARMS].sort())
      for (const fn of functions) {
        expect(
          metricsOf(resource(which, `${fn}ServerErrorsAlarm`)).map(([ns, name]) => `${ns} ${name}`),
        ).toEqual(['AWS/Lambda Errors', 'irsa-broker ServerErrors'])
        expect(metricsOf(resource(which, `${fn}ThrottlesAlarm`))).toEqual([
          ['AWS/Lambda', 'Throttles', [{ Name: 'FunctionName', Value: { Ref: `${fn}LambdaFunction` } }]],
        ])
      }
      for (const [id, dependency] of [
        ['StsErrorRateAlarm', 'sts'],
        ['KmsErrorRateAlarm', 'kms'],
        ['DynamoDbErrorRateAlarm', 'dynamodb'],
      ] as const) {
        expect(metricsOf(resource(which, id))).toContainEqual([
          'irsa-broker',
          'DependencyErrors',
          [
            { Name: 'FunctionName', Value: { Ref: 'CredentialsLambdaFunction' } },
            { Name: 'Dependency', Value: dependency },
          ],
        ])
      }
      expect(metricsOf(resource(which, 'DenialsSpikeAlarm')).map(([, name]) => name)).toEqual([
        'Denials',
        'Denials',
        'Invocations',
        'Invocations',
      ])
      expect(metricsOf(resource(which, 'StaleRemoteKeysAlarm')).map(([, name]) => name)).toEqual([
        'RemoteJwksStaleKeysServed',
        'RemoteJwksStaleKeysServed',
      ])
      expect(metricsOf(resource(which, 'KeyPushFailuresAlarm')).map(([, name]) => name)).toEqual(
        functions.map(() => 'KeyPushFailures'),
      )
      expect(resource(which, 'LatencyP99Alarm').Properties).toMatchObject({
        Namespace: 'AWS/ApiGateway',
        MetricName: 'Latency',
        ExtendedStatistic: 'p99',
        Threshold: 1000,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      })
      expect(resource(which, 'Dashboard').Type).toBe('AWS::CloudWatch::Dashboard')
    },
  )

  it('notifies the SNS topic of the AlarmTopicArn parameter, only when one is given', () => {
    // Act
    const actions = idsOfType('single', 'AWS::CloudWatch::Alarm').map((id) => {
      const properties = resource('single', id).Properties ?? {}
      return [properties.AlarmActions, properties.OKActions]
    })

    // Assess
    const onTopic = { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] }
    expect(new Set(actions.flat().map((action) => JSON.stringify(action)))).toEqual(
      new Set([JSON.stringify(onTopic)]),
    )
    expect(template('single').Parameters?.AlarmTopicArn).toMatchObject({ Type: 'String', Default: '' })
    expect(template('single').Conditions?.HasAlarmTopic).toEqual({
      'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }],
    })
  })

  it('reads the metrics the broker writes under the names and dimensions the code uses', () => {
    // Prepare: what the code emits (shared/http/middleware.ts, sdk-metrics.ts, core/remote-keys.ts,
    // core/key-push.ts)
    const sources = [
      'shared/http/middleware.ts',
      'shared/adapters/sdk-metrics.ts',
      'shared/core/remote-keys.ts',
      'shared/core/key-push.ts',
    ].map((file) => readFileSync(join(root, file), 'utf8'))

    // Act
    const read = new Set(
      idsOfType('single', 'AWS::CloudWatch::Alarm')
        .flatMap((id) => metricsOf(resource('single', id)))
        .filter(([namespace]) => namespace === 'irsa-broker')
        .map(([, name]) => name),
    )
    const emitted = new Set(
      sources.flatMap((source) => [...source.matchAll(/metric\(\s*'(\w+)'/g)].map((m) => m[1])),
    )
    const emittedByTernary = sources.flatMap((source) =>
      [...source.matchAll(/metric\(\s*\w+ \? '(\w+)' : '(\w+)'/g)].flatMap((m) => [m[1], m[2]]),
    )
    for (const name of emittedByTernary) emitted.add(name)

    // Assess: every metric an alarm reads is written somewhere
    expect([...read].filter((name) => !emitted.has(name))).toEqual([])
    expect(read.has('KeyPushFailures')).toBe(true)
  })
})

describe('the two-Region stage ci-multi', () => {
  it('makes the registry a global table at home, with a replica in each Region, keyed and indexed as the single-Region table', () => {
    // Act
    const table = resource(HOME, 'RegistryTable')
    const properties = table.Properties ?? {}
    const definition = tableDefinition('ignored')

    // Assess
    expect(table.Type).toBe('AWS::DynamoDB::GlobalTable')
    expect(table.DeletionPolicy).toBe('Retain')
    expect(properties).toMatchObject({
      TableName: TABLE_NAME,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: definition.AttributeDefinitions,
      KeySchema: definition.KeySchema,
      GlobalSecondaryIndexes: definition.GlobalSecondaryIndexes,
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
    })
    expect(properties.Replicas).toEqual(
      [HOME, OTHER].map((region) => ({
        Region: region,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      })),
    )
    expect(environmentOf(HOME, 'CredentialsLambdaFunction').IRSA_BROKER_TABLE).toEqual({
      Ref: 'RegistryTable',
    })
  })

  it('has no table in the other Region: the functions name the replica, and grants name its ARN in that Region', () => {
    // Act
    const tables = [
      ...idsOfType(OTHER, 'AWS::DynamoDB::Table'),
      ...idsOfType(OTHER, 'AWS::DynamoDB::GlobalTable'),
    ]
    const grants = JSON.stringify(resource(OTHER, 'CredentialsRole').Properties?.Policies)

    // Assess
    expect(tables).toEqual([])
    for (const id of functionIds(OTHER)) expect(environmentOf(OTHER, id).IRSA_BROKER_TABLE).toBe(TABLE_NAME)
    expect(grants).toContain(
      JSON.stringify({
        'Fn::Sub': `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${TABLE_NAME}`,
      }),
    )
    expect(grants).toContain(`table/${TABLE_NAME}/index/byIss`)
    expect(JSON.stringify(template(OTHER))).not.toMatch(
      /"Ref":"RegistryTable"|"RegistryTable"[,\]]|\$\{RegistryTable/,
    )
  })

  it('signs with a multi-Region primary key at home and its replica elsewhere, each Signing denied to all but its own Region credentials role', () => {
    // Act
    const primary = resource(HOME, 'SigningKey')
    const replica = resource(OTHER, 'SigningKey')
    const signerOf = (key: Resource) =>
      JSON.stringify(key.Properties?.KeyPolicy).match(/role\/(irsa-broker-[\w-]+)/)?.[1]

    // Assess
    expect(primary).toMatchObject({
      Type: 'AWS::KMS::Key',
      Properties: { MultiRegion: true, KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' },
    })
    expect(replica).toMatchObject({
      Type: 'AWS::KMS::ReplicaKey',
      DeletionPolicy: 'Retain',
      Properties: { PrimaryKeyArn: { Ref: PRIMARY_KEY_PARAMETER } },
    })
    expect(signerOf(primary)).toBe(`irsa-broker-ci-multi-${HOME}-credentials`)
    expect(signerOf(replica)).toBe(`irsa-broker-ci-multi-${OTHER}-credentials`)
    expect(resource(OTHER, 'CredentialsRole').Properties?.RoleName).toBe(
      `irsa-broker-ci-multi-${OTHER}-credentials`,
    )
    expect(template(OTHER).Parameters?.[PRIMARY_KEY_PARAMETER]?.Default).toMatch(
      /^arn:aws:kms:us-east-1:\d{12}:key\/mrk-[0-9a-f]{32}$/,
    )
    expect(template(OTHER).Rules?.ReplicaKeyNeedsItsPrimary).toBeDefined()
    expect(template(HOME).Parameters?.[PRIMARY_KEY_PARAMETER]).toBeUndefined()
  })

  it('uses a key named by parameter (a rotation) as its replica in each Region: the same key id, this Region', () => {
    // Act
    const keyId = environmentOf(OTHER, 'CredentialsLambdaFunction').IRSA_BROKER_KMS_KEY_ID
    const pattern = template(OTHER).Parameters?.SigningKeyArn?.AllowedPattern
    const conditions = template(OTHER).Conditions ?? {}

    // Assess: the ARN in this Region where it is used; whether one was given is tested on the parameter
    expect(JSON.stringify(keyId)).toContain(
      'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${KeyId}',
    )
    expect(conditions.UseStackSigningKey).toEqual(template('single').Conditions?.UseStackSigningKey)
    expect(conditions.HasPreviousSigningKey).toEqual(template('single').Conditions?.HasPreviousSigningKey)
    expect(
      new RegExp(String(pattern)).test(
        'arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
      ),
    ).toBe(true)
    expect(
      new RegExp(String(pattern)).test(
        'arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-0000-4000-8000-000000000000',
      ),
    ).toBe(false)
  })

  it.each([HOME, OTHER] as const)(
    '%s: one issuer URL, its own certificate and domain, a latency record with a health check of GET /healthz and of its 5xx alarm',
    (region) => {
      // Act
      const record = resource(region, 'CustomDomainRecord')
      const endpoint = resource(region, 'RegionEndpointHealthCheck').Properties?.HealthCheckConfig
      const alarmCheck = resource(region, 'RegionAlarmHealthCheck').Properties?.HealthCheckConfig
      const calculated = resource(region, 'RegionHealthCheck').Properties?.HealthCheckConfig
      const domain = resource(region, 'CustomDomainName').Properties?.DomainNameConfigurations

      // Assess
      expect(template(region).Parameters?.CustomDomain?.Default).toBe('irsa-broker.example.com')
      expect(functionIds(region).map((id) => environmentOf(region, id).IRSA_BROKER_ISSUER_URL)).toEqual(
        functionIds('single').map((id) => environmentOf('single', id).IRSA_BROKER_ISSUER_URL),
      )
      expect(resource(region, 'RegionCertificate').Properties).toMatchObject({
        DomainName: { Ref: 'CustomDomain' },
        ValidationMethod: 'DNS',
      })
      expect(domain).toEqual([expect.objectContaining({ CertificateArn: { Ref: 'RegionCertificate' } })])
      expect(record.Properties).toMatchObject({
        Type: 'A',
        SetIdentifier: { Ref: 'AWS::Region' },
        Region: { Ref: 'AWS::Region' },
        HealthCheckId: { Ref: 'RegionHealthCheck' },
      })
      expect(endpoint).toMatchObject({
        Type: 'HTTPS',
        ResourcePath: '/healthz',
        FullyQualifiedDomainName: { 'Fn::Sub': '${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}' },
        RequestInterval: 10,
        FailureThreshold: 3,
      })
      expect(alarmCheck).toMatchObject({
        Type: 'CLOUDWATCH_METRIC',
        AlarmIdentifier: { Name: { Ref: 'ApiServerErrorsAlarm' }, Region: { Ref: 'AWS::Region' } },
        InsufficientDataHealthStatus: 'Healthy',
      })
      // Route 53 reads an alarm on one metric with a plain statistic only.
      expect(resource(region, 'ApiServerErrorsAlarm').Properties).toMatchObject({
        MetricName: '5xx',
        Statistic: 'Sum',
      })
      expect(calculated).toEqual({
        Type: 'CALCULATED',
        ChildHealthChecks: [{ Ref: 'RegionEndpointHealthCheck' }, { Ref: 'RegionAlarmHealthCheck' }],
        HealthThreshold: 2,
      })
      expect(template(region).Parameters?.CertificateArn).toBeUndefined()
    },
  )

  it('sets the home Region on every function of both stacks, so admin writes are refused outside it', () => {
    // Act
    const homes = ([HOME, OTHER] as const).flatMap((region) =>
      functionIds(region).map((id) => environmentOf(region, id).IRSA_BROKER_HOME_REGION),
    )

    // Assess
    expect(homes.length).toBe(10)
    expect(new Set(homes)).toEqual(new Set([HOME]))
    expect(template(HOME).Outputs?.HomeRegion?.Value).toBe(HOME)
  })

  it('keeps every other resource of the single-Region stack, same id and type, in both Regions', () => {
    // Prepare: what a multi-Region stack changes on purpose
    const changed: Record<typeof HOME | typeof OTHER, Record<string, string | undefined>> = {
      [HOME]: { RegistryTable: 'AWS::DynamoDB::GlobalTable' },
      [OTHER]: { RegistryTable: undefined, SigningKey: 'AWS::KMS::ReplicaKey' },
    }

    // Act / Assess
    for (const region of [HOME, OTHER] as const) {
      const expected = Object.fromEntries(
        Object.entries(template('single').Resources)
          .map(([id, r]): [string, string | undefined] => [
            id,
            Object.hasOwn(changed[region], id) ? changed[region][id] : r.Type,
          ])
          .filter((entry): entry is [string, string] => entry[1] !== undefined),
      )
      const actual = Object.fromEntries(
        Object.entries(template(region).Resources)
          .filter(([id]) => id in template('single').Resources)
          .map(([id, r]) => [id, r.Type]),
      )
      expect(actual).toEqual(expected)
    }
  })

  it('bills the same alarm metrics in every stack (docs/cost.md counts them)', () => {
    // Act
    const counts = (['single', HOME, OTHER] as const).map((which) =>
      alarmMetricCount(template(which).Resources),
    )

    // Assess
    expect(new Set(counts).size).toBe(1)
  })
})
