// The stack's alarms and dashboard, added to the compiled template at packaging time
// (scripts/osls-monitoring-plugin.mjs), so every function of serverless.yml gets its own without
// a copy per function to keep in step. docs/monitoring.md explains each alarm and what to do.
//
// Metrics (namespace irsa-broker, each with the dimension FunctionName = the Lambda function's
// name, shared/adapters/json-logger.ts): ServerErrors and Denials (shared/http/middleware.ts),
// DependencyErrors by Dependency (shared/adapters/sdk-metrics.ts), RemoteJwksStaleKeysServed
// (shared/core/remote-keys.ts), KeyPushFailures (shared/core/key-push.ts, by Code, also rolled up
// to FunctionName alone, which the alarm reads). AWS/Lambda and AWS/ApiGateway give the rest.

export const NAMESPACE = 'irsa-broker'

const MINUTE = 60
const FIVE_MINUTES = 300

/** The Lambda functions of the template: logical id and the short name (credentials, …). */
export const functionsOf = (template) =>
  Object.entries(template.Resources ?? {})
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([id]) => ({ id, name: id.replace(/LambdaFunction$/, '').replace(/^./, (c) => c.toLowerCase()) }))
    .sort((a, b) => a.id.localeCompare(b.id))

const pascal = (name) => name.replace(/^./, (c) => c.toUpperCase())

const lambdaMetric = (id, name, metricName, stat = 'Sum', period = MINUTE) => ({
  Id: id,
  ReturnData: false,
  MetricStat: {
    Metric: {
      Namespace: 'AWS/Lambda',
      MetricName: metricName,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: name } }],
    },
    Period: period,
    Stat: stat,
  },
})

const brokerMetric = (id, functionId, metricName, extra = [], period = MINUTE) => ({
  Id: id,
  ReturnData: false,
  MetricStat: {
    Metric: {
      Namespace: NAMESPACE,
      MetricName: metricName,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }, ...extra],
    },
    Period: period,
    Stat: 'Sum',
  },
})

const expression = (id, text, label) => ({ Id: id, Expression: text, Label: label, ReturnData: true })

const alarmActions = {
  AlarmActions: { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] },
  OKActions: { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] },
}

const alarm = (suffix, description, properties) => ({
  Type: 'AWS::CloudWatch::Alarm',
  Properties: {
    AlarmName: { 'Fn::Sub': `\${AWS::StackName}-${suffix}` },
    AlarmDescription: `${description} (docs/monitoring.md)`,
    TreatMissingData: 'notBreaching',
    ...alarmActions,
    ...properties,
  },
})

/** Breaching in 3 of the last 5 minutes: a lasting problem, not one bad request. */
const lasting = { EvaluationPeriods: 5, DatapointsToAlarm: 3 }

/** The alarm resources, by logical id. */
export const alarmResources = (template) => {
  const functions = functionsOf(template)
  const byName = Object.fromEntries(functions.map((fn) => [fn.name, fn.id]))
  const credentials = byName.credentials
  const roles = byName.roles
  if (!credentials || !roles) throw new Error('the template has no credentials or roles function')
  const resources = {}

  for (const { id, name } of functions) {
    resources[`${pascal(name)}ServerErrorsAlarm`] = alarm(
      `${name}-5xx`,
      `${name}: answers of 5xx (its own ServerErrors and the Lambda's unhandled Errors) in 3 of 5 minutes`,
      {
        Metrics: [
          lambdaMetric('errors', id, 'Errors'),
          brokerMetric('answered', id, 'ServerErrors'),
          expression('total', 'FILL(errors, 0) + FILL(answered, 0)', `${name} 5xx`),
        ],
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        ...lasting,
      },
    )
    resources[`${pascal(name)}ThrottlesAlarm`] = alarm(
      `${name}-throttles`,
      `${name}: invocations Lambda throttled (concurrency limit) in 3 of 5 minutes`,
      {
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: id } }],
        Statistic: 'Sum',
        Period: MINUTE,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        ...lasting,
      },
    )
  }

  for (const [dependency, label] of [
    ['sts', 'STS'],
    ['kms', 'KMS'],
    ['dynamodb', 'DynamoDB'],
  ]) {
    resources[`${label === 'DynamoDB' ? 'DynamoDb' : pascal(dependency)}ErrorRateAlarm`] = alarm(
      `${dependency}-error-rate`,
      `credentials: failed ${label} calls per 100 invocations at 1 or more in 3 of 5 minutes`,
      {
        Metrics: [
          brokerMetric('failed', credentials, 'DependencyErrors', [
            { Name: 'Dependency', Value: dependency },
          ]),
          lambdaMetric('invocations', credentials, 'Invocations'),
          expression(
            'rate',
            'IF(invocations > 0, 100 * FILL(failed, 0) / invocations, 0)',
            `${label} errors %`,
          ),
        ],
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        ...lasting,
      },
    )
  }

  resources.DenialsSpikeAlarm = alarm(
    'denials-spike',
    'credentials and roles: half or more of the requests refused (401/403), at least 20, in two 5-minute periods running',
    {
      Metrics: [
        brokerMetric('credentialsDenied', credentials, 'Denials', [], FIVE_MINUTES),
        brokerMetric('rolesDenied', roles, 'Denials', [], FIVE_MINUTES),
        lambdaMetric('credentialsCalls', credentials, 'Invocations', 'Sum', FIVE_MINUTES),
        lambdaMetric('rolesCalls', roles, 'Invocations', 'Sum', FIVE_MINUTES),
        expression('denied', 'FILL(credentialsDenied, 0) + FILL(rolesDenied, 0)', 'denied'),
        expression('calls', 'FILL(credentialsCalls, 0) + FILL(rolesCalls, 0)', 'calls'),
        expression('share', 'IF(denied >= 20 AND calls > 0, 100 * denied / calls, 0)', 'denied %'),
      ].map((metric) => (metric.Id === 'share' ? metric : { ...metric, ReturnData: false })),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 50,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
    },
  )

  resources.StaleRemoteKeysAlarm = alarm(
    'stale-remote-keys',
    "credentials and roles: an issuer's remote JWKS failing, its last good keys in use, for 15 minutes",
    {
      Metrics: [
        brokerMetric('credentialsStale', credentials, 'RemoteJwksStaleKeysServed', [], FIVE_MINUTES),
        brokerMetric('rolesStale', roles, 'RemoteJwksStaleKeysServed', [], FIVE_MINUTES),
        expression('stale', 'FILL(credentialsStale, 0) + FILL(rolesStale, 0)', 'stale keys served'),
      ],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    },
  )

  // Summed over every function of the stack: whichever serves the key push (the keys function) is counted.
  resources.KeyPushFailuresAlarm = alarm(
    'key-push-failures',
    'a data plane pushed its keys and the broker refused or failed it, in a 5-minute period',
    {
      Metrics: [
        ...functions.map(({ id, name }) =>
          brokerMetric(`${name}Failed`, id, 'KeyPushFailures', [], FIVE_MINUTES),
        ),
        expression(
          'failed',
          functions.map(({ name }) => `FILL(${name}Failed, 0)`).join(' + '),
          'key pushes failed',
        ),
      ],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
    },
  )

  resources.LatencyP99Alarm = alarm(
    'latency-p99',
    "HTTP API: p99 latency at or over 1 s, the AWS SDK container provider's limit per attempt, for 15 minutes",
    {
      Namespace: 'AWS/ApiGateway',
      MetricName: 'Latency',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: 'HttpApi' } }],
      ExtendedStatistic: 'p99',
      Period: FIVE_MINUTES,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1000,
      Unit: 'Milliseconds',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    },
  )

  // One plain metric and a standard statistic: what a Route 53 health check can watch.
  resources.ApiServerErrorsAlarm = alarm(
    'api-5xx',
    'HTTP API: 5 or more 5xx answers a minute for 3 minutes running (the Region health check of a multi-Region stage watches it)',
    {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: 'HttpApi' } }],
      Statistic: 'Sum',
      Period: MINUTE,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 5,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    },
  )
  return resources
}

/** Metrics an alarm is billed for: one for a plain alarm, one per metric of a metric-math alarm. */
export const alarmMetricCount = (resources) =>
  Object.values(resources)
    .filter((resource) => resource.Type === 'AWS::CloudWatch::Alarm')
    .reduce(
      (sum, resource) =>
        sum +
        (resource.Properties.Metrics ? resource.Properties.Metrics.filter((m) => m.MetricStat).length : 1),
      0,
    )

/** The dashboard: one row per concern, the alarms' metrics and the functions' own. */
export const dashboardResource = (template) => {
  const functions = functionsOf(template)
  const region = '${AWS::Region}'
  const fnRef = (id) => `\${${id}}`
  const perFunction = (namespace, metricName, stat = 'Sum') =>
    functions.map(({ id, name }) => [namespace, metricName, 'FunctionName', fnRef(id), { stat, label: name }])
  const widget = (title, metrics, extra = {}) => ({
    type: 'metric',
    width: 12,
    height: 6,
    properties: { title, region, view: 'timeSeries', stacked: false, period: MINUTE, metrics, ...extra },
  })
  const byId = Object.fromEntries(functions.map((fn) => [fn.name, fn.id]))
  const body = {
    widgets: [
      widget('Invocations', perFunction('AWS/Lambda', 'Invocations')),
      widget('5xx answered (ServerErrors) and unhandled errors', [
        ...perFunction(NAMESPACE, 'ServerErrors'),
        ...perFunction('AWS/Lambda', 'Errors'),
      ]),
      widget('Denials (401/403)', perFunction(NAMESPACE, 'Denials')),
      widget('Throttles', perFunction('AWS/Lambda', 'Throttles')),
      widget(
        'Dependency errors (credentials)',
        ['sts', 'kms', 'dynamodb'].map((dependency) => [
          NAMESPACE,
          'DependencyErrors',
          'FunctionName',
          fnRef(byId.credentials),
          'Dependency',
          dependency,
          { label: dependency },
        ]),
      ),
      widget('Duration p99 (ms)', perFunction('AWS/Lambda', 'Duration', 'p99')),
      widget(
        'HTTP API latency (ms)',
        [
          ['AWS/ApiGateway', 'Latency', 'ApiId', '${HttpApi}', { stat: 'p50', label: 'p50' }],
          ['AWS/ApiGateway', 'Latency', 'ApiId', '${HttpApi}', { stat: 'p99', label: 'p99' }],
        ],
        { annotations: { horizontal: [{ label: 'SDK attempt limit', value: 1000 }] } },
      ),
      widget('HTTP API 4xx / 5xx', [
        ['AWS/ApiGateway', '4xx', 'ApiId', '${HttpApi}', { label: '4xx' }],
        ['AWS/ApiGateway', '5xx', 'ApiId', '${HttpApi}', { label: '5xx' }],
      ]),
      widget('Remote JWKS: stale keys served, no keys', [
        ...perFunction(NAMESPACE, 'RemoteJwksStaleKeysServed').map((m) => [
          ...m.slice(0, 4),
          { ...m[4], label: `${m[4].label} stale` },
        ]),
        ...perFunction(NAMESPACE, 'RemoteJwksUnavailable').map((m) => [
          ...m.slice(0, 4),
          { ...m[4], label: `${m[4].label} none` },
        ]),
      ]),
      widget('Key push failures', perFunction(NAMESPACE, 'KeyPushFailures')),
    ],
  }
  return {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: {
      DashboardName: { 'Fn::Sub': '${AWS::StackName}' },
      DashboardBody: { 'Fn::Sub': JSON.stringify(body) },
    },
  }
}

const ALARM_TOPIC_PATTERN = '^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:\\d{12}:[A-Za-z0-9_-]{1,256}$'

/** The template with the alarms, the dashboard and the AlarmTopicArn parameter added. */
export const withMonitoring = (template, { alarmTopicArn = '' } = {}) => {
  if (!new RegExp(ALARM_TOPIC_PATTERN).test(alarmTopicArn)) {
    throw new Error(`alarmTopicArn "${alarmTopicArn}": an SNS topic ARN, or empty for alarms without actions`)
  }
  const alarms = alarmResources(template)
  const clash = Object.keys(alarms).find((id) => id in (template.Resources ?? {}))
  if (clash || 'Dashboard' in (template.Resources ?? {}))
    throw new Error(`the template has a ${clash ?? 'Dashboard'} already`)
  return {
    ...template,
    Parameters: {
      ...template.Parameters,
      AlarmTopicArn: {
        Type: 'String',
        Default: alarmTopicArn,
        AllowedPattern: ALARM_TOPIC_PATTERN,
        Description: 'SNS topic the alarms notify (ALARM and OK); empty: alarms without actions.',
      },
    },
    Conditions: {
      ...template.Conditions,
      HasAlarmTopic: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }] },
    },
    Resources: { ...template.Resources, ...alarms, Dashboard: dashboardResource(template) },
  }
}
