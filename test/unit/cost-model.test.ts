// docs/cost.md quotes `node scripts/cost-model.mjs` word for word, and the counts the script
// prices (alarm metrics, health checks) are those of the rendered templates. Run `npm run
// package` first when calling vitest alone.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  costPerMillion,
  HIT_RATES,
  PRICES,
  renderMonthly,
  renderPerMillion,
  TEMPLATE_COUNTS,
} from '../../scripts/cost-model.mjs'
import { alarmMetricCount } from '../../scripts/monitoring.mjs'

const root = join(import.meta.dirname, '..', '..')
const templateOf = (...path: string[]) =>
  JSON.parse(readFileSync(join(root, ...path, 'cloudformation-template-update-stack.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>
  }

describe('the cost model (docs/cost.md)', () => {
  it('is quoted by docs/cost.md exactly as the script prints it, both tables', () => {
    // Act
    const doc = readFileSync(join(root, 'docs', 'cost.md'), 'utf8')

    // Assess
    expect(doc).toContain(renderPerMillion())
    expect(doc).toContain(renderMonthly(TEMPLATE_COUNTS))
  })

  it('prices the alarm metrics and health checks the rendered templates have', () => {
    // Prepare
    const single = templateOf('.serverless')
    const home = templateOf('.serverless-regions', 'ci-multi', 'us-east-1')

    // Act
    const healthChecks = Object.values(home.Resources).filter((r) => r.Type === 'AWS::Route53::HealthCheck')
    const endpoint = home.Resources.RegionEndpointHealthCheck?.Properties?.HealthCheckConfig as
      | Record<string, unknown>
      | undefined
    const optionalFeatures = [endpoint?.Type === 'HTTPS', endpoint?.RequestInterval === 10].filter(Boolean)

    // Assess
    expect(alarmMetricCount(single.Resources)).toBe(TEMPLATE_COUNTS.alarmMetrics)
    expect(healthChecks.length).toBe(TEMPLATE_COUNTS.healthChecks)
    expect(optionalFeatures.length).toBe(TEMPLATE_COUNTS.optionalFeatures)
  })

  it('adds its components up to its total, and a higher hit rate never costs more', () => {
    // Act
    const costs = HIT_RATES.map((rate) => costPerMillion(rate))

    // Assess
    for (const { components, total } of costs)
      expect(Object.values(components).reduce((sum, value) => sum + value, 0)).toBeCloseTo(total, 10)
    expect(costs.map((cost) => cost.total)).toEqual(
      [...costs.map((cost) => cost.total)].sort((a, b) => b - a),
    )
    // A miss signs once: at 0 % hits a million requests are a million Sign calls.
    expect(costs[0]?.components['KMS Sign']).toBeCloseTo(100 * PRICES.kmsRsa2048Per10k, 10)
  })
})
