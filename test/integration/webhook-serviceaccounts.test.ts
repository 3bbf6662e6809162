// The webhook's ServiceAccount view (dataplane/adapters/serviceaccount-view.ts) with its real
// Kubernetes client and kubeconfig handling, against the loopback stand-in of the API's
// list/watch/get endpoints (test/support/kube-api.ts): no API server can run here.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createKubeClient } from '../../dataplane/adapters/kube-client.js'
import { resolveKubeConnection } from '../../dataplane/adapters/kube-config.js'
import { createServiceAccountApi } from '../../dataplane/adapters/serviceaccount-api.js'
import {
  createServiceAccountView,
  type GetResult,
  type ServiceAccountView,
  type ServiceAccountViewOptions,
} from '../../dataplane/adapters/serviceaccount-view.js'
import { eventually } from '../support/eventually.js'
import { type KubeApiStandIn, kubeconfigFor, startKubeApiStandIn } from '../support/kube-api.js'
import { createTestCa, type TestCa } from '../support/test-ca.js'

const TOKEN = 'stand-in-api-token-for-the-webhook'
const ROLE = 'irsa-broker.io/role'

let ca: TestCa
let dir: string
let api: KubeApiStandIn
let view: ServiceAccountView | undefined
let closeClient: () => void = () => {}
let gets: GetResult[]
let watchEnds: string[]
let lists: string[]

const startView = (options: Partial<ServiceAccountViewOptions> = {}) => {
  const kubeconfig = join(dir, `kubeconfig-${api.port}.yaml`)
  writeFileSync(kubeconfig, kubeconfigFor(api, ca.cert, TOKEN))
  const client = createKubeClient(resolveKubeConnection({ env: { KUBECONFIG: kubeconfig } }))
  closeClient = () => client.close()
  view = createServiceAccountView({
    api: createServiceAccountApi(client),
    metrics: {
      hit: () => {},
      miss: () => {},
      negativeHit: () => {},
      get: (result) => gets.push(result),
      list: (result) => lists.push(result),
      watchEnded: (reason) => watchEnds.push(reason),
    },
    backoff: { initialMs: 20, maxMs: 200 },
    getTimeoutMs: 1_000,
    watchTimeoutSeconds: () => 30,
    ...options,
  })
  view.start()
  return view
}

const annotationsOf = async (v: ServiceAccountView, namespace: string, name: string) => {
  const lookup = await v.lookup(namespace, name, { timeoutMs: 2_000 })
  return lookup.status === 'found' ? lookup.annotations : lookup.status
}

beforeAll(() => {
  ca = createTestCa()
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-sa-view-'))
})

afterAll(() => {
  ca?.remove()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

beforeEach(async () => {
  const serving = ca.issue(['kubernetes.default.svc'])
  api = await startKubeApiStandIn({ cert: serving.cert, key: serving.key, token: TOKEN })
  gets = []
  watchEnds = []
  lists = []
})

afterEach(async () => {
  view?.stop()
  view = undefined
  closeClient()
  await api.stop()
})

describe('ServiceAccount view: list, then watch', () => {
  it('is not ready until the first list is in, then answers from the cache with no GET', async () => {
    // Prepare
    api.apply('team-a', 'reader', { [ROLE]: 'ml-reader' })
    api.apply('team-a', 'default')
    const release = api.holdLists()
    // Act
    const v = startView()
    await eventually(() => expect(api.count('list')).toBe(1))
    const readyWhileListing = v.ready
    release()
    await v.whenReady()
    // Assess
    expect(readyWhileListing).toBe(false)
    expect(v.ready).toBe(true)
    expect(await annotationsOf(v, 'team-a', 'reader')).toEqual({ [ROLE]: 'ml-reader' })
    expect(await annotationsOf(v, 'team-a', 'default')).toEqual({})
    expect(api.count('get')).toBe(0)
  })

  it('keeps only the annotations the core reads of a ServiceAccount', async () => {
    // Prepare
    api.apply('team-a', 'reader', {
      [ROLE]: 'ml-reader',
      'example.com/owner': 'team-a',
      'irsa-broker.io/injected': 'not read on a ServiceAccount',
    })
    // Act
    const v = startView()
    await v.whenReady()
    // Assess: last-applied-configuration, the foreign annotation and one of ours the core never reads are gone
    expect(await annotationsOf(v, 'team-a', 'reader')).toEqual({ [ROLE]: 'ml-reader' })
  })

  it('reads every page of a paged list before it is ready', async () => {
    // Prepare
    for (let index = 0; index < 25; index++) api.apply('many', `sa-${index}`, { [ROLE]: `role-${index}` })
    // Act
    const v = startView({ pageSize: 10 })
    await v.whenReady()
    // Assess
    expect(api.requests.filter((r) => r.kind === 'list').map((r) => r.query.continue ?? '')).toHaveLength(3)
    expect(v.size).toBe(25)
    expect(await annotationsOf(v, 'many', 'sa-24')).toEqual({ [ROLE]: 'role-24' })
    expect(api.count('get')).toBe(0)
  })

  it('sees ADDED, MODIFIED and DELETED from the watch, which starts at the list resourceVersion', async () => {
    // Prepare
    api.apply('team-a', 'reader', { [ROLE]: 'ml-reader' })
    const v = startView()
    await v.whenReady()
    const listedAt = api.resourceVersion
    await eventually(() => expect(api.openWatches).toBe(1))
    // Act
    api.apply('team-a', 'reader', { [ROLE]: 'ml-writer' })
    api.apply('team-b', 'new', { [ROLE]: 'new-role' })
    await eventually(() => expect(v.size).toBe(2))
    const modified = await annotationsOf(v, 'team-a', 'reader')
    const added = await annotationsOf(v, 'team-b', 'new')
    api.remove('team-a', 'reader')
    await eventually(() => expect(v.size).toBe(1))
    // Assess
    expect(modified).toEqual({ [ROLE]: 'ml-writer' })
    expect(added).toEqual({ [ROLE]: 'new-role' })
    expect(api.count('get')).toBe(0)
    const watch = api.requests.find((r) => r.kind === 'watch')
    expect(watch?.query).toMatchObject({ resourceVersion: String(listedAt), allowWatchBookmarks: 'true' })
    // team-a/reader is gone from the cache: asking costs a GET, which finds nothing
    expect(await annotationsOf(v, 'team-a', 'reader')).toBe('not-found')
    expect(gets).toEqual(['not_found'])
  })

  it('resumes a dropped watch from the last resourceVersion seen, and misses nothing in between', async () => {
    // Prepare
    const v = startView()
    await v.whenReady()
    await eventually(() => expect(api.openWatches).toBe(1))
    api.apply('team-a', 'before-drop', { [ROLE]: 'one' })
    await eventually(async () => expect(v.size).toBe(1))
    const lastSeen = api.resourceVersion
    // Act: the watch connection dies; a change happens before it is made again (no watch is
    // open to carry it: the resumed watch must replay it from the history)
    api.dropWatches()
    api.apply('team-a', 'during-drop', { [ROLE]: 'two' })
    // Assess
    await eventually(() => expect(v.size).toBe(2))
    const resumed = api.requests.filter((r) => r.kind === 'watch').at(-1)
    expect(resumed?.query.resourceVersion).toBe(String(lastSeen))
    expect(watchEnds).toContain('error')
    expect(api.count('list')).toBe(1)
    expect(await annotationsOf(v, 'team-a', 'during-drop')).toEqual({ [ROLE]: 'two' })
    expect(api.count('get')).toBe(0)
  })

  it('moves its resourceVersion on BOOKMARK events, so a resumed watch starts there', async () => {
    // Prepare
    api.apply('team-a', 'reader', { [ROLE]: 'ml-reader' })
    const v = startView()
    await v.whenReady()
    await eventually(() => expect(api.openWatches).toBe(1))
    // Act: changes in other resources move the resourceVersion; the API says so with a bookmark
    api.holdEvents()
    api.apply('elsewhere', 'x')
    api.remove('elsewhere', 'x')
    api.bookmark()
    const bookmarked = api.resourceVersion
    await new Promise((resolve) => setTimeout(resolve, 100))
    api.dropWatches()
    await eventually(() => expect(api.count('watch')).toBe(2))
    // Assess
    expect(api.requests.filter((r) => r.kind === 'watch').at(-1)?.query.resourceVersion).toBe(
      String(bookmarked),
    )
    api.releaseEvents()
  })

  it('relists on 410 Gone, and the new list replaces the cache whole', async () => {
    // Prepare
    api.apply('team-a', 'stays', { [ROLE]: 'one' })
    api.apply('team-a', 'deleted-while-away', { [ROLE]: 'two' })
    const v = startView()
    await v.whenReady()
    await eventually(() => expect(api.openWatches).toBe(1))
    // Act: while the watch is away, a deletion happens and etcd compacts past it
    api.dropWatches()
    api.remove('team-a', 'deleted-while-away')
    api.apply('team-a', 'created-while-away', { [ROLE]: 'three' })
    api.compact()
    // Assess
    await eventually(() => expect(lists).toEqual(['ok', 'ok']))
    expect(watchEnds).toContain('gone')
    expect(v.ready).toBe(true)
    await eventually(() => expect(v.size).toBe(2))
    expect(await annotationsOf(v, 'team-a', 'created-while-away')).toEqual({ [ROLE]: 'three' })
    expect(await annotationsOf(v, 'team-a', 'stays')).toEqual({ [ROLE]: 'one' })
    expect(gets).toEqual([])
    // The deleted one is not served from the old cache: a GET finds nothing
    expect(await annotationsOf(v, 'team-a', 'deleted-while-away')).toBe('not-found')
  })

  it('retries the first list until the API answers, and stays not ready meanwhile', async () => {
    // Prepare
    await api.down()
    const v = startView()
    await new Promise((resolve) => setTimeout(resolve, 150))
    const readyWhileDown = v.ready
    // Act
    await api.up()
    await v.whenReady()
    // Assess
    expect(readyWhileDown).toBe(false)
    expect(lists.filter((result) => result === 'error').length).toBeGreaterThan(0)
    expect(lists.at(-1)).toBe('ok')
  })
})

describe('ServiceAccount view: a miss', () => {
  it('sends one GET for twenty concurrent lookups of a ServiceAccount not in the cache yet', async () => {
    // Prepare: the ServiceAccount exists, but its ADDED event has not reached the webhook
    const v = startView()
    await v.whenReady()
    await eventually(() => expect(api.openWatches).toBe(1))
    api.holdEvents()
    api.apply('team-a', 'just-created', { [ROLE]: 'fresh' })
    api.delayGets(100)
    // Act
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => v.lookup('team-a', 'just-created', { timeoutMs: 2_000 })),
    )
    // Assess
    expect(api.count('get')).toBe(1)
    expect(gets).toEqual(['found'])
    expect(answers.every((a) => a.status === 'found' && a.annotations[ROLE] === 'fresh')).toBe(true)
    // …and the GET's answer is cached: the next lookup sends nothing
    expect(await v.lookup('team-a', 'just-created', { timeoutMs: 2_000 })).toMatchObject({ source: 'cache' })
    expect(api.count('get')).toBe(1)
    api.releaseEvents()
  })

  it("keeps the watch's newer word when a GET answer older than a watch event arrives after it", async () => {
    // Prepare
    const v = startView()
    await v.whenReady()
    await eventually(() => expect(api.openWatches).toBe(1))
    api.holdEvents()
    api.apply('team-a', 'racy', { [ROLE]: 'old-role' })
    api.delayGets(300)
    // Act: the GET reads old-role; while it is on its way, the role changes and the watch says so
    const lookup = v.lookup('team-a', 'racy', { timeoutMs: 2_000 })
    await eventually(() => expect(api.count('get')).toBe(1))
    api.apply('team-a', 'racy', { [ROLE]: 'new-role' })
    api.releaseEvents()
    const answered = await lookup
    // Assess: the cache holds the watch's state, not the GET's older one
    expect(answered).toMatchObject({ status: 'found', annotations: { [ROLE]: 'new-role' } })
    expect(await annotationsOf(v, 'team-a', 'racy')).toEqual({ [ROLE]: 'new-role' })
  })

  it('answers not-found on a 404, and remembers it briefly (no second GET within the TTL)', async () => {
    // Prepare
    const v = startView({ notFoundTtlMs: 300 })
    await v.whenReady()
    // Act
    const first = await v.lookup('team-a', 'nobody', { timeoutMs: 2_000 })
    const second = await v.lookup('team-a', 'nobody', { timeoutMs: 2_000 })
    await new Promise((resolve) => setTimeout(resolve, 350))
    const afterTtl = await v.lookup('team-a', 'nobody', { timeoutMs: 2_000 })
    // Assess
    expect([first.status, second.status, afterTtl.status]).toEqual(['not-found', 'not-found', 'not-found'])
    expect(api.count('get')).toBe(2)
  })

  it('forgets a remembered 404 when the watch sees the ServiceAccount created', async () => {
    // Prepare
    const v = startView({ notFoundTtlMs: 60_000 })
    await v.whenReady()
    await eventually(() => expect(api.openWatches).toBe(1))
    expect((await v.lookup('team-a', 'later', { timeoutMs: 2_000 })).status).toBe('not-found')
    // Act
    api.apply('team-a', 'later', { [ROLE]: 'now' })
    // Assess
    await eventually(async () => expect(await annotationsOf(v, 'team-a', 'later')).toEqual({ [ROLE]: 'now' }))
    expect(api.count('get')).toBe(1)
  })

  it('runs at most maxConcurrentGets GETs at once and sheds lookups beyond the queue bound', async () => {
    // Prepare
    const v = startView({ maxConcurrentGets: 2, maxQueuedGets: 3 })
    await v.whenReady()
    api.delayGets(200)
    // Act: eight different ServiceAccounts, none cached
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, index) => v.lookup('team-a', `sa-${index}`, { timeoutMs: 3_000 })),
    )
    // Assess: 2 running + 3 queued were sent; 3 were answered unavailable at once
    expect(api.count('get')).toBe(5)
    expect(answers.filter((a) => a.status === 'unavailable')).toHaveLength(3)
    expect(gets.filter((result) => result === 'shed')).toHaveLength(3)
  })

  it('keeps at most maxEntries ServiceAccounts; one dropped from the cache costs a GET when next asked for', async () => {
    // Prepare
    for (let index = 0; index < 10; index++) api.apply('bounded', `sa-${index}`, { [ROLE]: `role-${index}` })
    const v = startView({ maxEntries: 4 })
    await v.whenReady()
    // Act
    const evicted = await v.lookup('bounded', 'sa-0', { timeoutMs: 2_000 })
    // Assess
    expect(v.size).toBe(4)
    expect(evicted).toEqual({ status: 'found', annotations: { [ROLE]: 'role-0' }, source: 'api' })
    expect(api.count('get')).toBe(1)
    expect(v.size).toBe(4)
  })
})

describe('ServiceAccount view: the API is down', () => {
  it('still answers: cached ServiceAccounts from the cache, others unavailable within the timeout', async () => {
    // Prepare
    api.apply('team-a', 'reader', { [ROLE]: 'ml-reader' })
    const v = startView({ failureTtlMs: 60_000 })
    await v.whenReady()
    // Act
    await api.down()
    const started = Date.now()
    const cached = await v.lookup('team-a', 'reader', { timeoutMs: 1_000 })
    const uncached = await v.lookup('team-a', 'unknown', { timeoutMs: 1_000 })
    const elapsed = Date.now() - started
    const again = await v.lookup('team-a', 'unknown', { timeoutMs: 1_000 })
    // Assess
    expect(cached).toMatchObject({ status: 'found', annotations: { [ROLE]: 'ml-reader' } })
    expect(uncached.status).toBe('unavailable')
    expect(elapsed).toBeLessThan(2_000)
    expect(v.ready).toBe(true)
    // The failure is remembered: the second lookup sends no GET
    expect(again.status).toBe('unavailable')
    expect(gets).toEqual(['error'])
  })

  it('answers unavailable when the GET is slower than the caller can wait, and caches the late answer', async () => {
    // Prepare
    const v = startView()
    await v.whenReady()
    await eventually(() => expect(api.openWatches).toBe(1))
    api.holdEvents()
    api.apply('team-a', 'slow', { [ROLE]: 'late' })
    api.delayGets(400)
    // Act
    const hurried = await v.lookup('team-a', 'slow', { timeoutMs: 100 })
    await eventually(() => expect(gets).toEqual(['found']))
    const later = await v.lookup('team-a', 'slow', { timeoutMs: 100 })
    // Assess
    expect(hurried.status).toBe('unavailable')
    expect(later).toMatchObject({ status: 'found', source: 'cache' })
    api.releaseEvents()
  })
})
