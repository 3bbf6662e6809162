// A multi-Region stage (docs/multi-region.md): the stage parameter `regions` lists two or more
// Regions, the first the home Region. Each Region gets a stack of its own, rendered from the same
// serverless.yml and rewritten here (scripts/osls-multi-region-plugin.mjs) for its place:
//
//   home Region       the registry as an AWS::DynamoDB::GlobalTable with a replica in every
//                     Region; the signing key a multi-Region primary key (MultiRegion: true)
//   every other one   no table (its replica comes from the home stack; the functions name it);
//                     the signing key an AWS::KMS::ReplicaKey of the home Region's primary
//   every Region      its own ACM certificate and API Gateway domain for the one customDomain,
//                     a latency record for it with a health check (GET /healthz on the Region's
//                     own endpoint AND its HTTP API 5xx alarm OK), IRSA_BROKER_HOME_REGION set
//                     (admin writes are refused outside the home Region)
//
// Without `regions` nothing changes: a single-Region stage renders exactly as before.

const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/

/** The MRK ARN pattern of SigningKeyArn, PreviousSigningKeyArn and SigningKeyPrimaryArn in a multi-Region stage. */
export const MRK_ARN_PATTERN = '^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/mrk-[0-9a-f]{32}$'

/** `regions` as a list, home first; [] for a single-Region stage. */
export const parseRegions = (text) => {
  const value = String(text ?? '').trim()
  if (value === '') return []
  const regions = value.split(',').map((region) => region.trim())
  const bad = regions.find((region) => !REGION.test(region))
  if (bad !== undefined) throw new Error(`regions: "${bad}" is not an AWS Region name (e.g. eu-west-1)`)
  if (new Set(regions).size !== regions.length) throw new Error(`regions: "${value}" names a Region twice`)
  if (regions.length < 2)
    throw new Error(
      `regions: "${value}" names one Region; a multi-Region stage needs two or more (leave it empty for one)`,
    )
  return regions
}

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Replaces every node for which `replace` answers something, depth first, on a copy. */
const rewrite = (node, replace) => {
  const replaced = replace(node)
  if (replaced !== undefined) return replaced
  if (Array.isArray(node)) return node.map((item) => rewrite(item, replace))
  if (!isObject(node)) return node
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, rewrite(value, replace)]))
}

const refersTo = (template, id) => {
  const text = JSON.stringify(template)
  return [`{"Ref":"${id}"}`, `"Fn::GetAtt":["${id}"`, `\${${id}.`, `\${${id}}`].some((p) => text.includes(p))
}

/**
 * The template without the registry table, every reference to it naming `tableName` in this
 * Region instead (the replica the home stack's global table made).
 */
const withoutTable = (template, tableName, id = 'RegistryTable') => {
  const arnInSub = `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${tableName}`
  const { [id]: _removed, ...resources } = template.Resources
  const result = rewrite({ ...template, Resources: resources }, (node) => {
    if (!isObject(node)) return undefined
    if (node.Ref === id && Object.keys(node).length === 1) return tableName
    const getAtt = node['Fn::GetAtt']
    if (Array.isArray(getAtt) && getAtt[0] === id) {
      if (getAtt[1] !== 'Arn') throw new Error(`${id}.${getAtt[1]} has no replacement in a replica Region`)
      return { 'Fn::Sub': arnInSub }
    }
    const sub = node['Fn::Sub']
    if (typeof sub === 'string' && sub.includes(`\${${id}`)) {
      return { 'Fn::Sub': sub.replaceAll(`\${${id}.Arn}`, arnInSub).replaceAll(`\${${id}}`, tableName) }
    }
    return undefined
  })
  if (refersTo(result, id)) throw new Error(`the template still refers to ${id}`)
  return result
}

/** The home Region's global table, keyed and indexed as the single-Region table is. */
const globalTable = (table, { tableName, regions }) => {
  const { AttributeDefinitions, KeySchema, GlobalSecondaryIndexes, BillingMode, SSESpecification } =
    table.Properties
  return {
    Type: 'AWS::DynamoDB::GlobalTable',
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      TableName: tableName,
      BillingMode,
      AttributeDefinitions,
      KeySchema,
      ...(GlobalSecondaryIndexes ? { GlobalSecondaryIndexes } : {}),
      // Replication reads the table's stream; global tables need both images.
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      SSESpecification: { ...SSESpecification, SSEType: 'KMS' },
      Replicas: regions.map((region) => ({
        Region: region,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      })),
    },
  }
}

/** `key/<id>` of a key ARN parameter, as the same key's ARN in this stack's Region (a multi-Region key's replica). */
const inThisRegion = (parameter) => ({
  'Fn::Sub': [
    'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${KeyId}',
    {
      // Joined with ':key/' first, so an empty parameter splits into two elements and selects ''.
      KeyId: {
        'Fn::Select': [1, { 'Fn::Split': [':key/', { 'Fn::Join': ['', [{ Ref: parameter }, ':key/']] }] }],
      },
    },
  ],
})

const HEALTH_CHECK = {
  /** Route 53's fast interval: unhealthy 30 s after the Region stops answering. */
  requestIntervalSeconds: 10,
  failureThreshold: 3,
  path: '/healthz',
}

const regionalResources = ({ homeRegion }) => ({
  // Validated through a record CloudFormation writes in the zone (the Rules require one).
  RegionCertificate: {
    Type: 'AWS::CertificateManager::Certificate',
    Condition: 'HasCustomDomain',
    Properties: {
      DomainName: { Ref: 'CustomDomain' },
      ValidationMethod: 'DNS',
      DomainValidationOptions: [
        {
          DomainName: { Ref: 'CustomDomain' },
          HostedZoneId: {
            'Fn::If': ['HasCustomDomainRecord', { Ref: 'HostedZoneId' }, { Ref: 'AWS::NoValue' }],
          },
        },
      ],
    },
  },
  // The Region's own endpoint, not the shared name: the check must see this Region, whichever
  // Region latency routing would send the health checker to.
  RegionEndpointHealthCheck: {
    Type: 'AWS::Route53::HealthCheck',
    Condition: 'HasCustomDomainRecord',
    Properties: {
      HealthCheckConfig: {
        Type: 'HTTPS',
        FullyQualifiedDomainName: { 'Fn::Sub': '${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}' },
        Port: 443,
        ResourcePath: HEALTH_CHECK.path,
        EnableSNI: true,
        RequestInterval: HEALTH_CHECK.requestIntervalSeconds,
        FailureThreshold: HEALTH_CHECK.failureThreshold,
      },
      HealthCheckTags: [{ Key: 'Name', Value: { 'Fn::Sub': '${AWS::StackName} GET /healthz' } }],
    },
  },
  // The broker answering 5xx (a dependency of this Region failing: KMS replica, DynamoDB
  // replica, STS) fails the Region too, though /healthz still answers.
  RegionAlarmHealthCheck: {
    Type: 'AWS::Route53::HealthCheck',
    Condition: 'HasCustomDomainRecord',
    Properties: {
      HealthCheckConfig: {
        Type: 'CLOUDWATCH_METRIC',
        AlarmIdentifier: { Name: { Ref: 'ApiServerErrorsAlarm' }, Region: { Ref: 'AWS::Region' } },
        // No traffic, no data: a quiet Region is a healthy one.
        InsufficientDataHealthStatus: 'Healthy',
      },
      HealthCheckTags: [{ Key: 'Name', Value: { 'Fn::Sub': '${AWS::StackName} 5xx alarm' } }],
    },
  },
  RegionHealthCheck: {
    Type: 'AWS::Route53::HealthCheck',
    Condition: 'HasCustomDomainRecord',
    Properties: {
      HealthCheckConfig: {
        Type: 'CALCULATED',
        ChildHealthChecks: [{ Ref: 'RegionEndpointHealthCheck' }, { Ref: 'RegionAlarmHealthCheck' }],
        HealthThreshold: 2,
      },
      HealthCheckTags: [{ Key: 'Name', Value: { 'Fn::Sub': `\${AWS::StackName} (home: ${homeRegion})` } }],
    },
  },
})

/**
 * The template of one Region of a multi-Region stage. `settings` are the stage parameters:
 * regions (parsed), region (this stack's), stage, service, customDomain, hostedZoneId,
 * certificateArn, signingKeyPrimaryArn.
 */
export const toRegion = (template, settings) => {
  const {
    regions,
    region,
    stage,
    service,
    customDomain,
    hostedZoneId,
    certificateArn,
    signingKeyPrimaryArn,
  } = settings
  const [homeRegion] = regions
  if (!regions.includes(region))
    throw new Error(`the stack's Region ${region} is not in regions (${regions.join(', ')})`)
  if (!customDomain)
    throw new Error('a multi-Region stage needs customDomain: its one issuer URL in every Region')
  if (!hostedZoneId)
    throw new Error('a multi-Region stage needs hostedZoneId: each Region writes its latency record there')
  if (certificateArn) {
    throw new Error(
      "certificateArn names one Region's certificate: leave it empty, each Region's stack makes its own",
    )
  }
  const home = region === homeRegion
  const resources = template.Resources
  for (const id of [
    'SigningKey',
    'CustomDomainName',
    'CustomDomainRecord',
    'ApiServerErrorsAlarm',
    'HttpApi',
  ]) {
    if (!resources[id]) throw new Error(`the template has no ${id}`)
  }

  // The table: a global table made at home; elsewhere the functions name its replica. A stage
  // that reuses a kept table has no table resource at all: every Region names that one already.
  let result = template
  const table = resources.RegistryTable
  if (table) {
    const tableName = `${service}-${stage}-registry`
    result = home
      ? {
          ...result,
          Resources: { ...result.Resources, RegistryTable: globalTable(table, { tableName, regions }) },
        }
      : withoutTable(result, tableName)
  }

  // The key: the same key material everywhere, so the same JWKS and kid (kms-signer.ts: the kid
  // is the RFC 7638 thumbprint of the public key).
  const key = result.Resources.SigningKey
  const signingKey = home
    ? { ...key, Properties: { ...key.Properties, MultiRegion: true } }
    : {
        Type: 'AWS::KMS::ReplicaKey',
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          PrimaryKeyArn: { Ref: 'SigningKeyPrimaryArn' },
          Description: key.Properties.Description,
          KeyPolicy: key.Properties.KeyPolicy,
        },
      }

  // Keys named by parameter (a rotation) are multi-Region keys too: each Region uses its replica.
  const parameters = { ...result.Parameters }
  for (const name of ['SigningKeyArn', 'PreviousSigningKeyArn']) {
    parameters[name] = {
      ...parameters[name],
      AllowedPattern: `^$|${MRK_ARN_PATTERN}`,
      Description: `${parameters[name].Description} A multi-Region key (mrk-…); each Region uses its own replica.`,
    }
  }
  if (!home) {
    parameters.SigningKeyPrimaryArn = {
      Type: 'String',
      Default: signingKeyPrimaryArn ?? '',
      AllowedPattern: `^$|${MRK_ARN_PATTERN}`,
      Description: `The multi-Region signing key in the home Region (${homeRegion}): its stack's SigningKeyArn output.`,
    }
  }
  const { CertificateArn: _certificate, ...keptParameters } = parameters
  const { HasCertificate: _hasCertificate, ...conditions } = result.Conditions

  // Where a key ARN is used, not where the conditions test whether one was given.
  const regional = (node) => {
    if (!isObject(node) || Object.keys(node).length !== 1) return undefined
    if (node.Ref === 'SigningKeyArn' || node.Ref === 'PreviousSigningKeyArn') return inThisRegion(node.Ref)
    return undefined
  }
  result = {
    ...result,
    Parameters: keptParameters,
    Conditions: conditions,
    Resources: rewrite(result.Resources, regional),
    Outputs: rewrite(result.Outputs, regional),
  }

  const domain = result.Resources.CustomDomainName
  const record = result.Resources.CustomDomainRecord
  const homeRegionVariable = { IRSA_BROKER_HOME_REGION: homeRegion }
  const functions = Object.fromEntries(
    Object.entries(result.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
      .map(([id, fn]) => [
        id,
        {
          ...fn,
          Properties: {
            ...fn.Properties,
            Environment: {
              ...fn.Properties.Environment,
              Variables: { ...fn.Properties.Environment?.Variables, ...homeRegionVariable },
            },
          },
        },
      ]),
  )
  const domainRule = {
    OneIssuerUrlNeedsTheDomain: {
      Assertions: [
        {
          Assert: {
            'Fn::And': [
              { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'CustomDomain' }, ''] }] },
              { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'HostedZoneId' }, ''] }] },
            ],
          },
          AssertDescription:
            'a multi-Region stage needs CustomDomain (its one issuer URL) and HostedZoneId (its latency records)',
        },
      ],
    },
  }
  result = {
    ...result,
    Rules: { ...result.Rules, ...domainRule },
    ...(home
      ? {}
      : {
          Rules: {
            ...result.Rules,
            ...domainRule,
            ReplicaKeyNeedsItsPrimary: {
              Assertions: [
                {
                  Assert: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'SigningKeyPrimaryArn' }, ''] }] },
                  AssertDescription: `signingKeyPrimaryArn: the SigningKeyArn output of the home Region's stack (${homeRegion}), deployed first`,
                },
              ],
            },
          },
        }),
    Resources: {
      ...result.Resources,
      ...functions,
      SigningKey: signingKey,
      CustomDomainName: {
        ...domain,
        Properties: {
          ...domain.Properties,
          DomainNameConfigurations: domain.Properties.DomainNameConfigurations.map((configuration) => ({
            ...configuration,
            CertificateArn: { Ref: 'RegionCertificate' },
          })),
        },
      },
      CustomDomainRecord: {
        ...record,
        Properties: {
          ...record.Properties,
          SetIdentifier: { Ref: 'AWS::Region' },
          Region: { Ref: 'AWS::Region' },
          HealthCheckId: { Ref: 'RegionHealthCheck' },
          AliasTarget: { ...record.Properties.AliasTarget, EvaluateTargetHealth: false },
        },
      },
      ...regionalResources({ homeRegion }),
    },
    Outputs: {
      ...result.Outputs,
      HomeRegion: { Description: 'Where admin writes go (docs/multi-region.md).', Value: homeRegion },
      RegionalApiUrl: {
        Description: home
          ? "This Region's own endpoint; admins write here (the CLI signs for it with no flag)."
          : "This Region's own endpoint (admin reads only; writes go to the home Region).",
        Value: { 'Fn::Sub': 'https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}' },
      },
    },
  }
  const text = JSON.stringify(result)
  if (text.includes('{"Ref":"CertificateArn"}') || text.includes('"HasCertificate"')) {
    throw new Error('the template still refers to CertificateArn')
  }
  return result
}
