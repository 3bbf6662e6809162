// fast-check properties of planPodMutation: any JSON for a pod never makes it throw and only
// ever yields `add` operations at the paths the webhook owns; a schema-valid pod stays
// schema-valid (and keeps the API server's own rules: unique names and mount paths, mounts of
// existing volumes); its output, sent again, gets no patch; a container added later gets only
// its own wiring.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type JsonPatchAdd,
  MAX_WARNINGS,
  type PodMutationInput,
  planPodMutation,
  type WebhookRule,
} from '../../../dataplane/core/index.js'
import { applyAdditions, podSchemaProblem } from '../../support/pod-patch.js'
import { settingsOf } from '../dataplane/fixtures.js'

type Json = Record<string, unknown>

const SETTINGS = [settingsOf(), settingsOf({ region: 'eu-west-1', tokenExpirationSeconds: 900 })]

const ALLOWED_PATHS = [
  /^\/metadata(\/annotations(\/irsa-broker\.io~1injected)?)?$/,
  /^\/spec\/volumes(\/-)?$/,
  /^\/spec\/(containers|initContainers)\/(0|[1-9]\d*)\/(env|volumeMounts)(\/-)?$/,
  /^\/spec\/initContainers(\/0)?$/,
]

const OUR_VARIABLES = [
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_ROLE_ARN',
  'AWS_ACCESS_KEY_ID',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_CONFIG_FILE',
  'AWS_PROFILE',
]
const OUR_ANNOTATIONS = [
  'irsa-broker.io/role',
  'irsa-broker.io/profiles',
  'irsa-broker.io/token-expiration',
  'irsa-broker.io/containers',
  'irsa-broker.io/skip-containers',
  'irsa-broker.io/injected',
  'kubernetes.io/config.mirror',
]
const ANNOTATION_VALUES = fc.oneof(
  fc.constantFrom(
    'true',
    'false',
    'TRUE',
    'ml-reader',
    'arn:aws:iam::111122223333:role/a/b',
    '600',
    '599',
    '86401',
    'app, c0',
    '',
  ),
  fc.string({ maxLength: 40 }),
)

const input = (pod: unknown, overrides: Partial<PodMutationInput>): PodMutationInput => ({
  pod,
  namespace: 'team-a',
  operation: 'CREATE',
  dryRun: false,
  serviceAccount: undefined,
  namespaceInjection: false,
  rules: [],
  ...overrides,
})

const context = fc.record({
  serviceAccount: fc.option(
    fc.record({
      name: fc.constant('app'),
      annotations: fc.dictionary(fc.constantFrom(...OUR_ANNOTATIONS), ANNOTATION_VALUES),
    }),
    { nil: undefined },
  ),
  namespaceInjection: fc.boolean(),
  rules: fc.constantFrom<WebhookRule[]>(
    [],
    [{ namespaces: ['*'], role: 'from-rule', profiles: true }],
    [{ namespaces: ['other'] }],
  ),
})

/** Checks the shape of an answer, whatever the input was. */
const expectWellFormed = (patch: readonly JsonPatchAdd[], warnings: readonly string[]) => {
  for (const operation of patch) {
    expect(operation.op).toBe('add')
    expect(
      ALLOWED_PATHS.some((allowed) => allowed.test(operation.path)),
      operation.path,
    ).toBe(true)
  }
  expect(warnings.length).toBeLessThanOrEqual(MAX_WARNINGS)
  for (const warning of warnings) expect(warning.length).toBeLessThanOrEqual(120)
}

// --- any JSON --------------------------------------------------------------------------

const garbage = fc.jsonValue({ maxDepth: 2 })
// Mostly the right type at each level, sometimes anything: so that most pods get deep enough
// to reach the wiring, and every level is sometimes wrong.
const maybe = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: garbage })
const anyEnv = fc.array(
  maybe(
    fc.record(
      { name: maybe(fc.constantFrom(...OUR_VARIABLES, 'OTHER')), value: maybe(fc.string()) },
      { requiredKeys: [] },
    ),
  ),
  { maxLength: 4 },
)
const anyMounts = fc.array(
  maybe(
    fc.record(
      {
        name: maybe(fc.constantFrom('irsa-broker-token', 'irsa-broker-profiles', 'data')),
        mountPath: maybe(
          fc.constantFrom(
            '/var/run/secrets/irsa-broker/serviceaccount',
            '/var/run',
            '/var/run/irsa-broker/x',
            '/data',
            '/',
          ),
        ),
        readOnly: maybe(fc.boolean()),
      },
      { requiredKeys: [] },
    ),
  ),
  { maxLength: 3 },
)
const anyContainer = maybe(
  fc.record(
    {
      name: maybe(fc.constantFrom('app', 'c0', 'c1', 'irsa-broker-configure', '')),
      env: maybe(anyEnv),
      volumeMounts: maybe(anyMounts),
    },
    { requiredKeys: [] },
  ),
)
const anyPod = fc.oneof(
  { weight: 1, arbitrary: garbage },
  {
    weight: 8,
    arbitrary: fc.record(
      {
        kind: maybe(fc.constant('Pod')),
        metadata: maybe(
          fc.record(
            {
              labels: maybe(
                fc.dictionary(
                  fc.constantFrom('irsa-broker.io/inject', 'app'),
                  maybe(fc.constantFrom('false', 'web')),
                ),
              ),
              annotations: maybe(
                fc.dictionary(fc.constantFrom(...OUR_ANNOTATIONS, 'x'), maybe(ANNOTATION_VALUES)),
              ),
              namespace: maybe(fc.constantFrom('team-a', 'kube-system')),
            },
            { requiredKeys: [] },
          ),
        ),
        spec: maybe(
          fc.record(
            {
              containers: maybe(fc.array(anyContainer, { maxLength: 4 })),
              initContainers: maybe(fc.array(anyContainer, { maxLength: 3 })),
              volumes: maybe(
                fc.array(
                  maybe(
                    fc.record({
                      name: maybe(fc.constantFrom('irsa-broker-token', 'data')),
                      emptyDir: fc.constant({}),
                    }),
                  ),
                  { maxLength: 3 },
                ),
              ),
              nodeSelector: maybe(
                fc.dictionary(fc.constantFrom('kubernetes.io/os'), fc.constantFrom('windows', 'linux')),
              ),
            },
            { requiredKeys: [] },
          ),
        ),
      },
      { requiredKeys: ['spec'] },
    ),
  },
)

describe('planPodMutation over any JSON', () => {
  it('never throws and answers only adds at its own paths, which apply as pure additions and are idempotent', () => {
    fc.assert(
      fc.property(
        anyPod,
        context,
        fc.constantFrom(...SETTINGS),
        fc.constantFrom('CREATE', 'UPDATE'),
        (pod, ctx, settings, operation) => {
          const result = planPodMutation(input(pod, { ...ctx, operation }), settings)
          expectWellFormed(result.patch, result.warnings)
          expect(result.patch.length > 0).toBe(result.outcome === 'mutated')
          if (result.patch.length === 0) return
          const patched = applyAdditions(pod, result.patch)
          expect(planPodMutation(input(patched, { ...ctx, operation }), settings).patch).toEqual([])
        },
      ),
      { numRuns: 500 },
    )
  })

  it('never throws on any JSON in any input field, including the ServiceAccount annotations', () => {
    fc.assert(
      fc.property(garbage, garbage, fc.string(), fc.string(), (pod, annotations, namespace, operation) => {
        const result = planPodMutation(
          input(pod, {
            namespace,
            operation,
            serviceAccount: { name: 'x', annotations: annotations as Record<string, string> },
          }),
          SETTINGS[0] ?? settingsOf(),
        )
        expectWellFormed(result.patch, result.warnings)
      }),
      { numRuns: 300 },
    )
  })
})

// --- valid pods ------------------------------------------------------------------------

const dnsLabel = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/)
const envName = fc.oneof(fc.constantFrom(...OUR_VARIABLES), fc.stringMatching(/^[A-Z][A-Z0-9_]{0,10}$/))
const envEntry = fc.oneof(
  fc.record({ name: envName, value: fc.string({ maxLength: 20 }) }),
  fc.record({ name: envName, valueFrom: fc.constant({ fieldRef: { fieldPath: 'metadata.name' } }) }),
)
const VOLUME_KINDS = [
  { emptyDir: {} },
  { configMap: { name: 'cm' } },
  { secret: { secretName: 's' } },
  { projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
]
const MOUNT_PATHS = [
  '/data',
  '/var/run',
  '/var/run/secrets',
  '/var/run/secrets/irsa-broker/serviceaccount',
  '/var/run/irsa-broker',
  '/etc/config',
  '/opt/x',
]

const validPod = fc
  .record({
    volumes: fc.uniqueArray(
      fc.record({
        name: fc.oneof(dnsLabel, fc.constantFrom('irsa-broker-token', 'irsa-broker-profiles')),
        kind: fc.constantFrom(...VOLUME_KINDS),
      }),
      { selector: (v) => v.name, maxLength: 4 },
    ),
    containerNames: fc.uniqueArray(fc.oneof(dnsLabel, fc.constantFrom('app', 'istio-proxy')), {
      minLength: 1,
      maxLength: 6,
    }),
    initCount: fc.nat({ max: 3 }),
    sidecars: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    envs: fc.array(fc.uniqueArray(envEntry, { selector: (e) => e.name, maxLength: 4 }), {
      minLength: 6,
      maxLength: 6,
    }),
    mounts: fc.array(
      fc.uniqueArray(
        fc.record({ volume: fc.nat(), path: fc.constantFrom(...MOUNT_PATHS), readOnly: fc.boolean() }),
        { selector: (m) => m.path, maxLength: 3 },
      ),
      { minLength: 6, maxLength: 6 },
    ),
    annotations: fc.dictionary(
      // role and profiles most often, the containers lists (which may name no container) less
      fc.constantFrom(
        ...OUR_ANNOTATIONS.slice(0, 2),
        ...OUR_ANNOTATIONS.filter((key) => key !== 'kubernetes.io/config.mirror'),
        'example.com/a~b',
      ),
      ANNOTATION_VALUES,
      { maxKeys: 2 },
    ),
    labels: fc.dictionary(
      fc.constantFrom('app', 'tier', 'irsa-broker.io/inject'),
      fc.constantFrom('web', 'batch', 'true', 'false'),
      { maxKeys: 1 },
    ),
    windows: fc.boolean(),
    withFields: fc.boolean(),
  })
  .map((g) => {
    const containers = g.containerNames.map((name, i) => {
      const mounts =
        g.volumes.length === 0
          ? []
          : (g.mounts[i] ?? []).map((m) => ({
              name: g.volumes[m.volume % g.volumes.length]?.name,
              mountPath: m.path,
              readOnly: m.readOnly,
            }))
      return {
        name,
        image: `registry.example.com/${name}:1`,
        ...((g.envs[i] ?? []).length > 0 ? { env: g.envs[i] } : {}),
        ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
        ...(i < g.initCount && g.sidecars[i] ? { restartPolicy: 'Always' } : {}),
        ...(g.withFields
          ? { resizePolicy: [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }], 'x-future': [null] }
          : {}),
      }
    })
    const initContainers = containers.slice(0, Math.min(g.initCount, containers.length - 1))
    const appContainers = containers.slice(initContainers.length)
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: 'p-',
        ...(Object.keys(g.labels).length ? { labels: g.labels } : {}),
        ...(Object.keys(g.annotations).length ? { annotations: g.annotations } : {}),
      },
      spec: {
        serviceAccountName: 'app',
        ...(initContainers.length ? { initContainers } : {}),
        containers: appContainers,
        ...(g.volumes.length ? { volumes: g.volumes.map((v) => ({ name: v.name, ...v.kind })) } : {}),
        ...(g.windows ? { os: { name: 'windows' } } : {}),
      },
    } as Json
  })

const allContainers = (pod: Json): Json[] => {
  const spec = pod.spec as Json
  return [
    ...((spec.initContainers as Json[] | undefined) ?? []),
    ...((spec.containers as Json[] | undefined) ?? []),
  ]
}

/** The API server's own rules the OpenAPI schema does not express, for the parts the webhook touches. */
const apiRulesHold = (pod: Json): string[] => {
  const problems: string[] = []
  const volumes = (((pod.spec as Json).volumes as Json[] | undefined) ?? []).map((v) => v.name)
  if (new Set(volumes).size !== volumes.length) problems.push('duplicate volume name')
  const names = allContainers(pod).map((c) => c.name)
  if (new Set(names).size !== names.length) problems.push('duplicate container name')
  for (const c of allContainers(pod)) {
    const env = ((c.env as Json[] | undefined) ?? []).map((e) => e.name)
    if (new Set(env).size !== env.length) problems.push(`${c.name}: duplicate env`)
    const mounts = (c.volumeMounts as Json[] | undefined) ?? []
    const paths = mounts.map((m) => m.mountPath)
    if (new Set(paths).size !== paths.length) problems.push(`${c.name}: duplicate mountPath`)
    for (const m of mounts)
      if (!volumes.includes(m.name)) problems.push(`${c.name}: mount of a missing volume`)
  }
  return problems
}

describe('planPodMutation over valid pods', () => {
  it('keeps a schema-valid pod valid (schema and API rules), adds only, and is idempotent', () => {
    fc.assert(
      fc.property(validPod, context, fc.constantFrom(...SETTINGS), (pod, ctx, settings) => {
        expect(podSchemaProblem(pod)).toBeUndefined()
        const before = apiRulesHold(pod)
        const result = planPodMutation(input(pod, ctx), settings)
        expectWellFormed(result.patch, result.warnings)
        const patched = applyAdditions(pod, result.patch) as Json
        expect(podSchemaProblem(patched)).toBeUndefined()
        if (before.length === 0) expect(apiRulesHold(patched)).toEqual([])
        expect(planPodMutation(input(patched, ctx), settings).patch).toEqual([])
      }),
      { numRuns: 300 },
    )
  })

  it('gives a container added after the first call its own wiring and wires no other container', () => {
    fc.assert(
      fc.property(validPod, context, fc.boolean(), (pod, ctx, asInit) => {
        const settings = SETTINGS[1] ?? settingsOf()
        const first = planPodMutation(input(pod, ctx), settings)
        const patched = applyAdditions(pod, first.patch) as Json
        const spec = patched.spec as Json
        const list = asInit ? 'initContainers' : 'containers'
        const existing = (spec[list] as Json[] | undefined) ?? []
        const later = {
          ...patched,
          spec: { ...spec, [list]: [...existing, { name: 'late-sidecar', image: 'proxy:1' }] },
        }
        const second = planPodMutation(input(later, ctx), settings)
        // Operations on a container are on the new one only; the rest may add what it needs
        // and the pod lacks (our volume when the first call mounted none), never touch more.
        for (const operation of second.patch) {
          const onContainer = /^\/spec\/(containers|initContainers)\/(\d+)\//.exec(operation.path)
          if (onContainer)
            expect(operation.path.startsWith(`/spec/${list}/${existing.length}/`), operation.path).toBe(true)
        }
        expect((second.containers ?? []).filter((name) => name !== 'irsa-broker-configure')).toEqual(
          second.containers?.includes('late-sidecar') ? ['late-sidecar'] : [],
        )
        applyAdditions(later, second.patch)
      }),
      { numRuns: 200 },
    )
  })
})
