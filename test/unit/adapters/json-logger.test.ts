// The JSON logger adapter: one JSON line per call, and the Logger port's metrics written as
// CloudWatch Embedded Metric Format lines, so the core never builds `_aws` itself.
import { describe, expect, it } from 'vitest'
import { createJsonLogger, METRIC_NAMESPACE } from '../../../shared/adapters/json-logger.js'
import { capturingSink } from '../../support/log-capture.js'

const setup = () => {
  const lines: string[] = []
  const logger = createJsonLogger(
    capturingSink('json-logger-test', (line) => lines.push(line)),
    {
      service: 'irsa-broker-test',
    },
  )
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  return { logger, lines, records }
}

const dimensionsOf = (record: Record<string, unknown>) =>
  (record._aws as { CloudWatchMetrics: { Dimensions: string[][] }[] } | undefined)?.CloudWatchMetrics[0]
    ?.Dimensions

describe('createJsonLogger', () => {
  it('writes a metric as one EMF line: the value under its name, each dimension a member of the line', () => {
    // Prepare
    const { logger, lines, records } = setup()
    const before = Date.now()
    // Act
    logger.metric('RemoteJwksStaleKeysServed', 1, { issuerId: 'gke' })
    // Assess
    expect(lines).toHaveLength(1)
    const [record] = records()
    expect(record).toEqual({
      level: 'INFO',
      time: expect.any(String),
      message: 'metric',
      service: 'irsa-broker-test',
      issuerId: 'gke',
      RemoteJwksStaleKeysServed: 1,
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          {
            Namespace: METRIC_NAMESPACE,
            Dimensions: [['issuerId']],
            Metrics: [{ Name: 'RemoteJwksStaleKeysServed', Unit: 'Count' }],
          },
        ],
      },
    })
    const { _aws: emf, time } = record as { _aws: { Timestamp: number }; time: string }
    expect(emf.Timestamp).toBeGreaterThanOrEqual(before)
    expect(emf.Timestamp).toBeLessThanOrEqual(Date.now())
    expect(new Date(time).getTime()).toBe(emf.Timestamp)
  })

  it('writes the metric namespace irsa-broker', () => {
    // Act / Assess
    expect(METRIC_NAMESPACE).toBe('irsa-broker')
  })

  it('writes a metric without dimensions with an empty dimension set', () => {
    // Prepare
    const { logger, records } = setup()
    // Act
    logger.metric('Anything', 3, {})
    // Assess
    expect(records()[0]).toMatchObject({
      Anything: 3,
      _aws: { CloudWatchMetrics: [{ Dimensions: [[]], Metrics: [{ Name: 'Anything', Unit: 'Count' }] }] },
    })
  })

  it('adds the metric dimensions of its options to every metric, and rolls a metric with dimensions of its own up to them', () => {
    // Prepare
    const lines: string[] = []
    const logger = createJsonLogger(
      capturingSink('json-logger-test', (line) => lines.push(line)),
      { service: 'credentials' },
      { metricDimensions: { FunctionName: 'irsa-broker-prod-credentials' } },
    )

    // Act
    logger.metric('RemoteJwksStaleKeysServed', 1, { issuerId: 'gke' })
    logger.metric('DependencyErrors', 1, { Dependency: 'kms' })
    logger.metric('ServerErrors', 1, {})
    logger.info('not a metric')

    // Assess
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(records.map((record) => [record.FunctionName, dimensionsOf(record)])).toEqual([
      ['irsa-broker-prod-credentials', [['FunctionName', 'issuerId'], ['FunctionName']]],
      ['irsa-broker-prod-credentials', [['FunctionName', 'Dependency'], ['FunctionName']]],
      ['irsa-broker-prod-credentials', [['FunctionName']]],
      [undefined, undefined],
    ])
    expect(records[1]).toMatchObject({ Dependency: 'kms', DependencyErrors: 1, service: 'credentials' })
  })

  it('keeps warnings free of EMF members: a warning is not a metric', () => {
    // Prepare
    const { logger, records } = setup()
    // Act
    logger.warn('remote JWKS fetch failed; the last good keys stay in use', {
      issuerId: 'gke',
      code: 'timeout',
    })
    // Assess
    expect(records()).toEqual([
      {
        level: 'WARN',
        time: expect.any(String),
        message: 'remote JWKS fetch failed; the last good keys stay in use',
        service: 'irsa-broker-test',
        issuerId: 'gke',
        code: 'timeout',
      },
    ])
  })
})
