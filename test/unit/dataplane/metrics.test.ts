// The Prometheus text exposition format 0.0.4 the webhook writes (dataplane/adapters/metrics.ts).
import { describe, expect, it } from 'vitest'
import { createMetricsRegistry, formatValue } from '../../../dataplane/adapters/metrics.js'

describe('metrics registry', () => {
  it('writes counters with HELP and TYPE, known label sets at 0 before their first increment', () => {
    // Prepare
    const registry = createMetricsRegistry()
    const plain = registry.counter('demo_total', 'A plain counter.')
    const labelled = registry.counter(
      'demo_results_total',
      'By result.',
      ['result'],
      [{ result: 'ok' }, { result: 'failed' }],
    )
    // Act
    plain.inc()
    plain.inc(undefined, 2)
    labelled.inc({ result: 'failed' })
    // Assess
    expect(registry.render()).toBe(
      [
        '# HELP demo_total A plain counter.',
        '# TYPE demo_total counter',
        'demo_total 3',
        '# HELP demo_results_total By result.',
        '# TYPE demo_results_total counter',
        'demo_results_total{result="ok"} 0',
        'demo_results_total{result="failed"} 1',
        '',
      ].join('\n'),
    )
  })

  it('writes histograms with cumulative buckets, +Inf, _sum and _count per label set', () => {
    // Prepare
    const registry = createMetricsRegistry()
    const latency = registry.histogram('demo_seconds', 'Latency.', [0.1, 0.01, 1], ['route'])
    // Act
    for (const value of [0.005, 0.05, 0.05, 2]) latency.observe(value, { route: 'mutate' })
    // Assess
    expect(registry.render().split('\n').slice(2, -1)).toEqual([
      'demo_seconds_bucket{route="mutate",le="0.01"} 1',
      'demo_seconds_bucket{route="mutate",le="0.1"} 3',
      'demo_seconds_bucket{route="mutate",le="1"} 3',
      'demo_seconds_bucket{route="mutate",le="+Inf"} 4',
      'demo_seconds_sum{route="mutate"} 2.105',
      'demo_seconds_count{route="mutate"} 4',
    ])
  })

  it('escapes label values and help text, and reads a gauge from its collector at each render', () => {
    // Prepare
    const registry = createMetricsRegistry()
    const counter = registry.counter('demo_total', 'Help with \\ and\nnewline.', ['path'])
    let value = 1
    registry.gauge('demo_gauge', 'A gauge.', () => value)
    // Act
    counter.inc({ path: 'a"b\\c\nd' })
    value = 7
    const text = registry.render()
    // Assess
    expect(text).toContain('# HELP demo_total Help with \\\\ and\\nnewline.')
    expect(text).toContain('demo_total{path="a\\"b\\\\c\\nd"} 1')
    expect(text).toContain('demo_gauge 7')
  })

  it('refuses an invalid name, a name declared twice, an undeclared label, and a counter going down', () => {
    const registry = createMetricsRegistry()
    const counter = registry.counter('demo_total', 'x', ['a'])
    expect(() => registry.counter('demo-total', 'x')).toThrow(/not valid/)
    expect(() => registry.gauge('demo_total', 'x')).toThrow(/declared twice/)
    expect(() => counter.inc({ b: '1' })).toThrow(/undeclared label b/)
    expect(() => counter.inc({ a: '1' }, -1)).toThrow(/cannot decrease/)
  })

  it('spells non-finite values the Prometheus way', () => {
    expect([Infinity, -Infinity, Number.NaN, 0.25].map(formatValue)).toEqual(['+Inf', '-Inf', 'NaN', '0.25'])
  })
})
