// The cost model of docs/cost.md: prices and assumptions in one place, the tables computed from
// them. `node scripts/cost-model.mjs` prints the tables the document quotes;
// test/unit/cost-model.test.ts holds the document to this output, so a changed price or
// assumption changes both or fails the test. Every price names its source in docs/cost.md.

/** US East (N. Virginia) list prices, USD. */
export const PRICES = Object.freeze({
  lambdaRequestsPerMillion: 0.2,
  lambdaArmPerGbSecond: 0.0000133334,
  httpApiPerMillion: 1.0,
  /** Sign on an RSA_2048 key; docs/cost.md says which figure is verified and which is not. */
  kmsRsa2048Per10k: 0.03,
  kmsOtherAsymmetricPer10k: 0.15,
  dynamodbOnDemandReadsPerMillionRru: 0.125,
  logsIngestionPerGb: 0.5,
  // The alternatives' compute.
  ec2M7gLargePerHour: 0.0816,
  ebsGp3PerGbMonth: 0.08,
  nlbPerHour: 0.0225,
  nlbLcuPerHour: 0.006,
  // Fixed costs of a broker stack.
  kmsKeyPerMonth: 1.0,
  alarmMetricPerMonth: 0.1,
  dashboardPerMonth: 3.0,
  route53HealthCheckAwsEndpointPerMonth: 0.5,
  route53HealthCheckOptionalFeaturePerMonth: 1.0,
  route53HostedZonePerMonth: 0.5,
})

export const HOURS_PER_MONTH = 730

export const ASSUMPTIONS = Object.freeze({
  memoryMb: 1024,
  /**
   * Billed Lambda duration of a request (1 ms granularity). A hit: verification recalled, no
   * AWS call; the local bench's 0.11-0.66 ms (BENCHMARKS.md) on a slower share of a CPU. A miss:
   * the broker's own work (about 1.3 ms locally) plus a KMS Sign, an STS call and two DynamoDB
   * Queries, none of which was measured here.
   */
  billedMsHit: 3,
  billedMsMiss: 150,
  /** Two eventually consistent Queries (issuers by iss, bindings of the issuer), each ≤ 4 KB. */
  rruPerMiss: 1,
  /** Bytes ingested per request: the audit line (measured), Lambda's START/END/REPORT, the API access log line. */
  logBytesAudit: 600,
  logBytesLambdaPlatform: 260,
  logBytesAccessLog: 200,
  /** A self-hosted Vault cluster as HashiCorp's reference architecture sizes it (small: 2 vCPU, 8 GiB, 100 GB). */
  vaultNodes: 5,
  vaultDiskGb: 100,
  vaultNlbLcus: 1,
})

const GB = 1e9
const usd = (value, digits = 2) => `$${value.toFixed(digits)}`

/** The cost of one million credentials requests at `hitRate` (0..1), by component, USD. */
export const costPerMillion = (hitRate, { kmsPer10k = PRICES.kmsRsa2048Per10k } = {}) => {
  const misses = 1e6 * (1 - hitRate)
  const hits = 1e6 * hitRate
  const gb = ASSUMPTIONS.memoryMb / 1024
  const logBytes =
    ASSUMPTIONS.logBytesAudit + ASSUMPTIONS.logBytesLambdaPlatform + ASSUMPTIONS.logBytesAccessLog
  const components = {
    'Lambda requests': PRICES.lambdaRequestsPerMillion,
    'Lambda duration (GB-s, arm64)':
      ((hits * ASSUMPTIONS.billedMsHit + misses * ASSUMPTIONS.billedMsMiss) / 1000) *
      gb *
      PRICES.lambdaArmPerGbSecond,
    'API Gateway HTTP API': PRICES.httpApiPerMillion,
    'KMS Sign': (misses / 1e4) * kmsPer10k,
    'DynamoDB reads': (misses * ASSUMPTIONS.rruPerMiss * PRICES.dynamodbOnDemandReadsPerMillionRru) / 1e6,
    'CloudWatch Logs ingestion': ((1e6 * logBytes) / GB) * PRICES.logsIngestionPerGb,
    'STS AssumeRoleWithWebIdentity': 0,
  }
  const total = Object.values(components).reduce((sum, value) => sum + value, 0)
  return { components, total }
}

export const HIT_RATES = [0, 0.9, 0.99]

/** The fixed monthly cost of a self-hosted Vault HA cluster, USD. */
export const vaultPerMonth = () => {
  const { vaultNodes, vaultDiskGb, vaultNlbLcus } = ASSUMPTIONS
  return (
    vaultNodes * PRICES.ec2M7gLargePerHour * HOURS_PER_MONTH +
    vaultNodes * vaultDiskGb * PRICES.ebsGp3PerGbMonth +
    (PRICES.nlbPerHour + vaultNlbLcus * PRICES.nlbLcuPerHour) * HOURS_PER_MONTH
  )
}

/** The fixed monthly cost of one broker Region, USD: its key, alarms and dashboard, and in multi-Region its health checks. */
export const brokerFixedPerMonth = ({ alarmMetrics, healthChecks = 0, optionalFeatures = 0 }) =>
  PRICES.kmsKeyPerMonth +
  alarmMetrics * PRICES.alarmMetricPerMonth +
  PRICES.dashboardPerMonth +
  healthChecks * PRICES.route53HealthCheckAwsEndpointPerMonth +
  optionalFeatures * PRICES.route53HealthCheckOptionalFeaturePerMonth

/** The per-million table of docs/cost.md. */
export const renderPerMillion = () => {
  const lines = []
  const header = HIT_RATES.map((rate) => `${Math.round(rate * 100)} % hit`)
  lines.push(`| per million credentials requests | ${header.join(' | ')} |`)
  lines.push(`|---|${HIT_RATES.map(() => '---:').join('|')}|`)
  const byRate = HIT_RATES.map((rate) => costPerMillion(rate))
  for (const name of Object.keys(byRate[0].components)) {
    lines.push(`| ${name} | ${byRate.map((cost) => usd(cost.components[name], 3)).join(' | ')} |`)
  }
  lines.push(`| **total** | ${byRate.map((cost) => `**${usd(cost.total)}**`).join(' | ')} |`)
  const otherKms = HIT_RATES.map((rate) =>
    costPerMillion(rate, { kmsPer10k: PRICES.kmsOtherAsymmetricPer10k }),
  )
  lines.push(
    `| total if Sign costs $0.15 per 10,000 | ${otherKms.map((cost) => usd(cost.total)).join(' | ')} |`,
  )
  return lines.join('\n')
}

/** The monthly table of docs/cost.md, with the fixed costs below it. */
export const renderMonthly = ({ alarmMetrics, healthChecks, optionalFeatures }) => {
  const lines = []
  const single = brokerFixedPerMonth({ alarmMetrics })
  const perRegion = brokerFixedPerMonth({ alarmMetrics, healthChecks, optionalFeatures })
  const twoRegions = 2 * perRegion + PRICES.route53HostedZonePerMonth
  const vault = vaultPerMonth()
  lines.push(
    '| a month of | broker, 1 Region, 90 % hit | broker, 2 Regions, 90 % hit | self-hosted Vault (5 nodes) | EKS Pod Identity |',
  )
  lines.push('|---|---:|---:|---:|---:|')
  for (const millions of [1, 10, 100]) {
    const variable = millions * costPerMillion(0.9).total
    lines.push(
      `| ${millions} M requests | ${usd(single + variable)} | ${usd(twoRegions + variable)} | ${usd(vault)} | $0.00 (EKS only) |`,
    )
  }
  lines.push('')
  lines.push(
    `Fixed per month: broker ${usd(single)} in one Region (key ${usd(PRICES.kmsKeyPerMonth)}, ${alarmMetrics} alarm metrics, dashboard), ${usd(twoRegions)} in two (each Region ${usd(perRegion)} with ${healthChecks} health checks and ${optionalFeatures} optional health-check features, plus the hosted zone); Vault ${usd(vault)}.`,
  )
  return lines.join('\n')
}

/** What docs/cost.md quotes: the counts come from the rendered templates (test/unit/cost-model.test.ts checks them). */
export const TEMPLATE_COUNTS = Object.freeze({
  /** Metrics the alarms of one stack read (scripts/monitoring.mjs alarmMetricCount). */
  alarmMetrics: 34,
  /** Route 53 health checks of one Region of a multi-Region stage: its endpoint, its 5xx alarm, both. */
  healthChecks: 3,
  /** The endpoint check's paid options: HTTPS and the 10 s interval. */
  optionalFeatures: 2,
})

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${renderPerMillion()}\n\n${renderMonthly(TEMPLATE_COUNTS)}\n`)
}
