import { describe, expect, it } from 'vitest'
import { UpstreamUnavailableError } from '../../../shared/core/errors.js'
import { createRegistryCache, type RegistryCacheOptions } from '../../../shared/core/registry-cache.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { K8S_ISSUER } from '../../support/workload-issuer.js'
import { createTestClock, makeBinding, makeIssuer } from '../fixtures.js'

const setup = (options: Partial<RegistryCacheOptions> = {}) => {
  const clock = createTestClock()
  const registry = createMemoryRegistry()
  registry.seed({
    issuers: [makeIssuer({ issuerId: 'onprem-a' }), makeIssuer({ issuerId: 'onprem-b' })],
    bindings: [makeBinding({ issuerId: 'onprem-a' })],
  })
  const cache = createRegistryCache(registry, {
    ttlSeconds: 30,
    maxEntries: 100,
    negativeMaxEntries: 100,
    clock,
    ...options,
  })
  return { clock, registry, cache }
}

describe('createRegistryCache: issuers by iss', () => {
  it('answers from memory within the TTL', async () => {
    // Prepare
    const { cache, registry, clock } = setup()
    // Act
    const first = await cache.findIssuersByIss(K8S_ISSUER)
    clock.advance(29)
    const second = await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(first.map((i) => i.issuerId)).toEqual(['onprem-a', 'onprem-b'])
    expect(second).toBe(first)
    expect(registry.count('findIssuersByIss')).toBe(1)
  })

  it('reads the registry again once the TTL has passed', async () => {
    // Prepare
    const { cache, registry, clock } = setup()
    await cache.findIssuersByIss(K8S_ISSUER)
    registry.seed({ issuers: [makeIssuer({ issuerId: 'onprem-c' })] })
    // Act
    clock.advance(30)
    const reloaded = await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(reloaded.map((i) => i.issuerId)).toEqual(['onprem-a', 'onprem-b', 'onprem-c'])
    expect(registry.count('findIssuersByIss')).toBe(2)
  })

  it('shares one registry read between concurrent misses', async () => {
    // Prepare
    const { cache, registry } = setup()
    // Act
    const results = await Promise.all([
      cache.findIssuersByIss(K8S_ISSUER),
      cache.findIssuersByIss(K8S_ISSUER),
      cache.findIssuersByIss(K8S_ISSUER),
    ])
    // Assess
    expect(registry.count('findIssuersByIss')).toBe(1)
    expect(results[1]).toBe(results[0])
    expect(results[2]).toBe(results[0])
  })

  it('does not remember a failed read: the next request tries again', async () => {
    // Prepare
    const { cache, registry } = setup()
    registry.failNext('findIssuersByIss', new UpstreamUnavailableError('dynamodb'))
    // Act
    const failed = cache.findIssuersByIss(K8S_ISSUER)
    await expect(failed).rejects.toMatchObject({ code: 'ServiceUnavailable' })
    const retried = await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(retried).toHaveLength(2)
    expect(registry.count('findIssuersByIss')).toBe(2)
  })

  it('lets every concurrent caller of a failed read see the failure', async () => {
    // Prepare
    const { cache, registry } = setup()
    registry.failNext('findIssuersByIss', new UpstreamUnavailableError('dynamodb'))
    // Act
    const outcomes = await Promise.allSettled([
      cache.findIssuersByIss(K8S_ISSUER),
      cache.findIssuersByIss(K8S_ISSUER),
    ])
    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected'])
    expect(registry.count('findIssuersByIss')).toBe(1)
  })

  it('keys the cache by exact iss', async () => {
    // Prepare
    const { cache, registry } = setup()
    // Act
    const exact = await cache.findIssuersByIss(K8S_ISSUER)
    const slashed = await cache.findIssuersByIss(`${K8S_ISSUER}/`)
    // Assess
    expect(exact).toHaveLength(2)
    expect(slashed).toEqual([])
    expect(registry.count('findIssuersByIss')).toBe(2)
  })
})

describe('createRegistryCache: negative cache for unknown iss', () => {
  it('costs no extra registry read for a repeated unknown iss', async () => {
    // Prepare
    const { cache, registry } = setup()
    // Act
    for (let i = 0; i < 50; i++) await cache.findIssuersByIss('https://garbage.example')
    // Assess
    expect(registry.count('findIssuersByIss')).toBe(1)
  })

  it('shares one read between concurrent requests for an unknown iss', async () => {
    // Prepare
    const { cache, registry } = setup()
    // Act
    const results = await Promise.all(
      Array.from({ length: 20 }, () => cache.findIssuersByIss('https://garbage.example')),
    )
    // Assess
    expect(results.every((r) => r.length === 0)).toBe(true)
    expect(registry.count('findIssuersByIss')).toBe(1)
  })

  it('forgets an unknown iss after the TTL, so a newly registered issuer is found', async () => {
    // Prepare
    const { cache, registry, clock } = setup()
    const iss = 'https://new-cluster.example'
    await cache.findIssuersByIss(iss)
    registry.seed({ issuers: [makeIssuer({ issuerId: 'new', issuer: iss })] })
    // Act
    clock.advance(29)
    const stillUnknown = await cache.findIssuersByIss(iss)
    clock.advance(1)
    const found = await cache.findIssuersByIss(iss)
    // Assess
    expect(stillUnknown).toEqual([])
    expect(found.map((i) => i.issuerId)).toEqual(['new'])
  })

  it('holds at most negativeMaxEntries unknown iss values, dropping the oldest', async () => {
    // Prepare
    const { cache, registry } = setup({ negativeMaxEntries: 2 })
    await cache.findIssuersByIss('https://u1.example')
    await cache.findIssuersByIss('https://u2.example')
    await cache.findIssuersByIss('https://u3.example')
    const readsBefore = registry.count('findIssuersByIss')
    // Act
    await cache.findIssuersByIss('https://u3.example')
    await cache.findIssuersByIss('https://u2.example')
    await cache.findIssuersByIss('https://u1.example')
    // Assess
    expect(readsBefore).toBe(3)
    expect(registry.calls.slice(3)).toEqual(['findIssuersByIss:https://u1.example'])
  })

  it('does not let a flood of unknown iss values evict known issuers', async () => {
    // Prepare
    const { cache, registry } = setup({ maxEntries: 2, negativeMaxEntries: 2 })
    await cache.findIssuersByIss(K8S_ISSUER)
    // Act
    for (let i = 0; i < 10; i++) await cache.findIssuersByIss(`https://garbage-${i}.example`)
    await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(registry.calls.filter((c) => c === `findIssuersByIss:${K8S_ISSUER}`)).toHaveLength(1)
  })
})

describe('createRegistryCache: bindings and invalidation', () => {
  it('caches an issuer bindings for the TTL', async () => {
    // Prepare
    const { cache, registry, clock } = setup()
    // Act
    await cache.listBindings('onprem-a')
    await cache.listBindings('onprem-a')
    clock.advance(30)
    const reloaded = await cache.listBindings('onprem-a')
    // Assess
    expect(reloaded.map((b) => b.bindingId)).toEqual(['ml-readers'])
    expect(registry.count('listBindings')).toBe(2)
  })

  it('forgets issuers, unknown iss values and bindings on invalidate', async () => {
    // Prepare
    const { cache, registry } = setup()
    await cache.findIssuersByIss(K8S_ISSUER)
    await cache.findIssuersByIss('https://unknown.example')
    await cache.listBindings('onprem-a')
    registry.seed({
      issuers: [makeIssuer({ issuerId: 'late', issuer: 'https://unknown.example' })],
      bindings: [makeBinding({ issuerId: 'onprem-a', bindingId: 'second' })],
    })
    // Act
    cache.invalidate()
    const issuers = await cache.findIssuersByIss('https://unknown.example')
    const bindings = await cache.listBindings('onprem-a')
    await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(issuers.map((i) => i.issuerId)).toEqual(['late'])
    expect(bindings.map((b) => b.bindingId)).toEqual(['ml-readers', 'second'])
    expect(registry.count('findIssuersByIss')).toBe(4)
    expect(registry.count('listBindings')).toBe(2)
  })

  it('reads through on every call with a TTL of 0', async () => {
    // Prepare
    const { cache, registry } = setup({ ttlSeconds: 0 })
    // Act
    await cache.findIssuersByIss(K8S_ISSUER)
    await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(registry.count('findIssuersByIss')).toBe(2)
  })
})

/** The memory registry behind a switch: answering, failing every read, or never answering. */
const withOutage = (registry: ReturnType<typeof createMemoryRegistry>) => {
  let mode: 'up' | 'failing' | 'hanging' = 'up'
  let hanging = 0
  const gate = <T>(read: () => Promise<T>): Promise<T> => {
    if (mode === 'failing') {
      registry.calls.push('failed')
      return Promise.reject(new UpstreamUnavailableError('dynamodb'))
    }
    if (mode === 'hanging') {
      hanging++
      return new Promise<T>(() => undefined)
    }
    return read()
  }
  return {
    source: {
      findIssuersByIss: (iss: string) => gate(() => registry.findIssuersByIss(iss)),
      listBindings: (issuerId: string) => gate(() => registry.listBindings(issuerId)),
      bindingsForSubject: (issuerId: string, subject: string) =>
        gate(() => registry.bindingsForSubject(issuerId, subject)),
      patternBindings: (issuerId: string) => gate(() => registry.patternBindings(issuerId)),
    },
    set: (next: typeof mode) => {
      mode = next
    },
    hangingReads: () => hanging,
  }
}

const staleSetup = (options: Partial<RegistryCacheOptions> = {}) => {
  const clock = createTestClock()
  const registry = createMemoryRegistry()
  registry.seed({
    issuers: [makeIssuer({ issuerId: 'onprem-a' })],
    bindings: [makeBinding({ issuerId: 'onprem-a' })],
  })
  const outage = withOutage(registry)
  const warnings: Record<string, unknown>[] = []
  const cache = createRegistryCache(outage.source, {
    ttlSeconds: 30,
    staleSeconds: 300,
    refreshWaitMs: 5,
    retryIntervalMs: 1000,
    maxEntries: 100,
    negativeMaxEntries: 100,
    clock,
    logger: { warn: (_message, fields) => warnings.push(fields ?? {}) },
    ...options,
  })
  return { clock, registry, cache, outage, warnings }
}

describe('createRegistryCache: stale window while the registry is down', () => {
  it('serves issuers and bindings read before when the reload fails, up to TTL + staleSeconds, then fails', async () => {
    // Prepare
    const { cache, clock, outage } = staleSetup()
    const issuers = await cache.findIssuersByIss(K8S_ISSUER)
    const bindings = await cache.listBindings('onprem-a')
    outage.set('failing')
    // Act
    clock.advance(30 + 299)
    const staleIssuers = await cache.findIssuersByIss(K8S_ISSUER)
    const staleBindings = await cache.listBindings('onprem-a')
    clock.advance(1)
    const expiredIssuers = cache.findIssuersByIss(K8S_ISSUER)
    const expiredBindings = cache.listBindings('onprem-a')
    // Assess
    expect(staleIssuers).toBe(issuers)
    expect(staleBindings).toBe(bindings)
    await expect(expiredIssuers).rejects.toMatchObject({ code: 'ServiceUnavailable', statusCode: 503 })
    await expect(expiredBindings).rejects.toMatchObject({ code: 'ServiceUnavailable', statusCode: 503 })
  })

  it('answers from the stale entry after the refresh wait while the reload never answers', async () => {
    // Prepare
    const { cache, clock, outage } = staleSetup()
    const issuers = await cache.findIssuersByIss(K8S_ISSUER)
    outage.set('hanging')
    clock.advance(31)
    // Act
    const stale = await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(stale).toBe(issuers)
    expect(outage.hangingReads()).toBe(1)
  })

  it('shares one hanging reload among stale readers instead of piling reads on the registry', async () => {
    // Prepare
    const { cache, clock, outage } = staleSetup()
    await cache.findIssuersByIss(K8S_ISSUER)
    outage.set('hanging')
    clock.advance(31)
    // Act
    const answers = await Promise.all(Array.from({ length: 10 }, () => cache.findIssuersByIss(K8S_ISSUER)))
    await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(answers.every((answer) => answer.length === 1)).toBe(true)
    expect(outage.hangingReads()).toBe(1)
  })

  it('takes the reloaded entry when the registry answers within the refresh wait: changes are seen after the TTL', async () => {
    // Prepare
    const { cache, clock, registry } = staleSetup({ refreshWaitMs: 60_000 })
    await cache.findIssuersByIss(K8S_ISSUER)
    registry.seed({ issuers: [makeIssuer({ issuerId: 'onprem-a', enabled: false })] })
    clock.advance(30)
    // Act
    const reloaded = await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(reloaded.map((issuer) => issuer.enabled)).toEqual([false])
  })

  it('after a failed reload serves the stale entry without reading for retryIntervalMs, then reads again', async () => {
    // Prepare
    const { cache, clock, outage, registry } = staleSetup({ retryIntervalMs: 1000 })
    await cache.findIssuersByIss(K8S_ISSUER)
    outage.set('failing')
    clock.advance(31)
    await cache.findIssuersByIss(K8S_ISSUER)
    const failedReads = () => registry.calls.filter((call) => call === 'failed').length
    // Act
    for (let i = 0; i < 20; i++) await cache.findIssuersByIss(K8S_ISSUER)
    const readsWithinInterval = failedReads()
    clock.advance(1)
    await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(readsWithinInterval).toBe(1)
    expect(failedReads()).toBe(2)
  })

  it('logs one warning per failed reload that leaves a stale entry in use, with its age and end', async () => {
    // Prepare
    const { cache, clock, outage, warnings } = staleSetup()
    await cache.listBindings('onprem-a')
    outage.set('failing')
    clock.advance(40)
    // Act
    await cache.listBindings('onprem-a')
    await cache.listBindings('onprem-a')
    // Assess
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({
      kind: 'bindings',
      ageSeconds: 40,
      staleUntil: new Date(createTestClock().now().getTime() + 330_000).toISOString(),
    })
  })

  it('keeps an unknown iss unknown (no read) while the registry is down, within the stale window', async () => {
    // Prepare
    const { cache, clock, outage } = staleSetup()
    const unknown = 'https://garbage.example'
    await cache.findIssuersByIss(unknown)
    outage.set('failing')
    clock.advance(31)
    // Act
    const answer = await cache.findIssuersByIss(unknown)
    // Assess
    expect(answer).toEqual([])
  })

  it('answers 503 at once for an entry never read while the registry is down (cold cache)', async () => {
    // Prepare
    const { cache, outage } = staleSetup()
    outage.set('failing')
    // Act
    const outcome = cache.listBindings('onprem-a')
    // Assess
    await expect(outcome).rejects.toMatchObject({ code: 'ServiceUnavailable' })
  })

  it('serves nothing stale with staleSeconds 0: a failed reload after the TTL is a 503', async () => {
    // Prepare
    const { cache, clock, outage } = staleSetup({ staleSeconds: 0 })
    await cache.findIssuersByIss(K8S_ISSUER)
    outage.set('failing')
    clock.advance(30)
    // Act
    const outcome = cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    await expect(outcome).rejects.toMatchObject({ code: 'ServiceUnavailable' })
  })

  it('does not store what a read started before invalidate returns', async () => {
    // Prepare
    const clock = createTestClock()
    const registry = createMemoryRegistry()
    registry.seed({ issuers: [makeIssuer({ issuerId: 'onprem-a' })] })
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let reads = 0
    const cache = createRegistryCache(
      {
        findIssuersByIss: async (iss) => {
          reads++
          const found = await registry.findIssuersByIss(iss)
          if (reads === 1) await gate
          return found
        },
        listBindings: (issuerId) => registry.listBindings(issuerId),
        bindingsForSubject: (issuerId, subject) => registry.bindingsForSubject(issuerId, subject),
        patternBindings: (issuerId) => registry.patternBindings(issuerId),
      },
      { ttlSeconds: 30, staleSeconds: 300, maxEntries: 10, negativeMaxEntries: 10, clock },
    )
    const before = cache.findIssuersByIss(K8S_ISSUER)
    // Act
    cache.invalidate()
    release()
    await before
    await cache.findIssuersByIss(K8S_ISSUER)
    // Assess
    expect(reads).toBe(2)
  })
})

describe('createRegistryCache: a token subject bindings and the pattern bindings', () => {
  const SUB_A = 'system:serviceaccount:ml:a'
  const SUB_B = 'system:serviceaccount:ml:b'
  const SUB_C = 'system:serviceaccount:ml:c'
  const seeded = (options: Partial<RegistryCacheOptions> = {}) => {
    const context = setup(options)
    context.registry.seed({
      bindings: [SUB_A, SUB_B, SUB_C].map((subject, i) =>
        makeBinding({
          issuerId: 'onprem-a',
          bindingId: `exact-${i}`,
          profile: `exact-${i}`,
          subjects: [subject],
        }),
      ),
    })
    return context
  }

  it('reads each (issuer, subject) once per TTL and the pattern bindings once per issuer', async () => {
    // Prepare
    const { cache, registry } = seeded()
    // Act
    const a1 = await cache.bindingsForSubject('onprem-a', SUB_A)
    const a2 = await cache.bindingsForSubject('onprem-a', SUB_A)
    const b = await cache.bindingsForSubject('onprem-a', SUB_B)
    await cache.patternBindings('onprem-a')
    await cache.patternBindings('onprem-a')
    // Assess
    expect(a1.map((binding) => binding.bindingId)).toEqual(['exact-0'])
    expect(a2).toBe(a1)
    expect(b.map((binding) => binding.bindingId)).toEqual(['exact-1'])
    expect(registry.count('bindingsForSubject')).toBe(2)
    expect(registry.count('patternBindings')).toBe(1)
    expect(registry.count('listBindings')).toBe(0)
  })

  it('holds at most maxEntries subjects: past it the oldest is read again, the newer stay', async () => {
    // Prepare
    const { cache, registry } = seeded({ maxEntries: 2 })
    await cache.bindingsForSubject('onprem-a', SUB_A)
    await cache.bindingsForSubject('onprem-a', SUB_B)
    await cache.bindingsForSubject('onprem-a', SUB_C)
    // Act
    await cache.bindingsForSubject('onprem-a', SUB_C)
    const before = registry.count('bindingsForSubject')
    await cache.bindingsForSubject('onprem-a', SUB_A)
    // Assess
    expect(before).toBe(3)
    expect(registry.count('bindingsForSubject')).toBe(4)
  })

  it('holds the subjects binding lists within half of bindingsMaxBytes, dropping the oldest first', async () => {
    // Prepare: room for one list of one binding by subject, not two (each weighs about 1 KB).
    const { cache, registry } = seeded({ bindingsMaxBytes: 2 * 1500 })
    await cache.bindingsForSubject('onprem-a', SUB_A)
    await cache.bindingsForSubject('onprem-a', SUB_B)
    // Act
    await cache.bindingsForSubject('onprem-a', SUB_B)
    const withB = registry.count('bindingsForSubject')
    await cache.bindingsForSubject('onprem-a', SUB_A)
    // Assess
    expect(withB).toBe(2)
    expect(registry.count('bindingsForSubject')).toBe(3)
  })
})
