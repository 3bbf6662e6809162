// The table of pod shapes (research webhook-anchors.md §7, rows 2–19; row 1 is admission.test.ts)
// through planPodMutation. Every row goes through `wire`: the patch applied by fast-json-patch,
// nothing removed or changed, a second call adds nothing, and a schema-valid pod stays valid.
import { describe, expect, it } from 'vitest'
import { type JsonPatchAdd, planPodMutation } from '../../../dataplane/core/index.js'
import { applyAdditions, podSchemaProblem } from '../../support/pod-patch.js'
import {
  CREDENTIALS_FOR,
  container,
  envOf,
  initContainerNames,
  inputOf,
  type Json,
  mountsOf,
  PROFILES_MOUNT,
  podOf,
  SETTINGS,
  settingsOf,
  TOKEN_MOUNT,
  tokenExpirationOf,
  tokenProjectionOf,
  volumesOf,
  wire,
} from './fixtures.js'

const REGION = settingsOf({ region: 'eu-west-1' })
const PROFILES_SA = {
  name: 'app',
  annotations: { 'irsa-broker.io/role': 'ml-reader', 'irsa-broker.io/profiles': 'true' },
}

describe('the generic check (test/support/pod-patch.ts) itself', () => {
  it('refuses an add that replaces an existing member', () => {
    // Prepare
    const pod = podOf({ containers: [container('app')] })
    const patch: JsonPatchAdd[] = [{ op: 'add', path: '/spec/serviceAccountName', value: 'other' }]
    // Act / Assess
    expect(() => applyAdditions(pod, patch)).toThrow(/replaces an existing member/)
  })

  it('refuses an add under a parent that does not exist (the array must be created first)', () => {
    const pod = podOf({ containers: [container('app')] })
    const patch: JsonPatchAdd[] = [{ op: 'add', path: '/spec/volumes/-', value: { name: 'x', emptyDir: {} } }]
    expect(() => applyAdditions(pod, patch)).toThrow()
  })

  it('finds a pod that breaks the Kubernetes schema', () => {
    expect(podSchemaProblem(podOf({ containers: [{ name: 'app', env: [{ value: 'x' }] }] }))).toMatch(/name/)
    expect(podSchemaProblem(podOf({ containers: [container('app')] }))).toBeUndefined()
  })
})

describe('§7.2 pods from controllers', () => {
  it('wires a pod with only generateName and no metadata.namespace, taking the namespace from the request', () => {
    // Prepare
    const pod = podOf({ containers: [container('app')] }, { generateName: 'web-7d9f8-' })
    // Act
    const { result, patched } = wire(pod, { namespace: 'team-a' })
    // Assess
    expect(result.outcome).toBe('mutated')
    expect(envOf(patched, 'containers', 0)).toEqual(CREDENTIALS_FOR('ml-reader'))
  })

  it('falls back to metadata.namespace when the request has none, and refuses a pod with neither', () => {
    const pod = podOf({ containers: [container('app')] }, { name: 'web', namespace: 'team-a' })
    expect(wire(pod, { namespace: '' }).result.outcome).toBe('mutated')
    const nowhere = podOf({ containers: [container('app')] }, { name: 'web' })
    expect(wire(nowhere, { namespace: '' }).result).toMatchObject({
      outcome: 'unchanged',
      reason: 'malformed-pod',
    })
  })
})

describe('§7.3 the ServiceAccount', () => {
  const pod = podOf({ containers: [container('app')] })

  it('leaves a pod alone whose ServiceAccount has no irsa-broker annotation (and nothing else asks)', () => {
    const { result } = wire(pod, { serviceAccount: { name: 'app', annotations: { 'other.io/x': 'y' } } })
    expect(result).toMatchObject({ outcome: 'not-selected', reason: 'not-requested', patch: [] })
  })

  it('leaves a pod alone whose ServiceAccount was not found, when nothing else asks', () => {
    expect(wire(pod, { serviceAccount: undefined }).result.reason).toBe('not-requested')
  })

  it('still wires a pod whose ServiceAccount was not found when its namespace is labelled (the broker chooses the role)', () => {
    const { result, patched } = wire(pod, { serviceAccount: undefined, namespaceInjection: true })
    expect(result).toMatchObject({ outcome: 'mutated', selectedBy: 'namespace' })
    expect(result.role).toBeUndefined()
    expect(envOf(patched, 'containers', 0)).toEqual(CREDENTIALS_FOR())
  })

  it('wires a role the identity may not be bound to, and names it in the result (the broker decides)', () => {
    const role = 'arn:aws:iam::111122223333:role/not-bound-anywhere'
    const { result, patched } = wire(pod, {
      serviceAccount: { name: 'app', annotations: { 'irsa-broker.io/role': role } },
    })
    expect(result).toMatchObject({ outcome: 'mutated', role, warnings: [] })
    expect(envOf(patched, 'containers', 0).AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe(
      'https://broker.example.com/v1/credentials?role=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fnot-bound-anywhere',
    )
  })

  it('wires without a role, and warns, when the role annotation is neither a profile nor an ARN', () => {
    const { result, patched } = wire(pod, {
      serviceAccount: { name: 'app', annotations: { 'irsa-broker.io/role': 'not a role!' } },
    })
    expect(result.outcome).toBe('mutated')
    expect(result.role).toBeUndefined()
    expect(result.warnings).toEqual([
      'ServiceAccount irsa-broker.io/role "not a role!" is not a profile name or role ARN; ignored',
    ])
    expect(envOf(patched, 'containers', 0)).toEqual(CREDENTIALS_FOR())
  })
})

describe('§7.4 missing parents', () => {
  it('creates /spec/volumes, env and volumeMounts and /metadata/annotations when absent', () => {
    const pod = podOf({ containers: [container('app')] })
    const { result, patched } = wire(pod)
    expect(result.patch.map((op) => op.path)).toEqual([
      '/spec/volumes',
      '/spec/containers/0/env',
      '/spec/containers/0/volumeMounts',
      '/metadata/annotations',
    ])
    expect((patched.metadata as Json).annotations).toEqual({ 'irsa-broker.io/injected': 'true' })
  })

  it('appends with /- to every array that exists, never replacing it', () => {
    const pod = podOf(
      {
        containers: [
          container('app', {
            env: [{ name: 'LOG_LEVEL', value: 'debug' }],
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          }),
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
      { generateName: 'app-', labels: { app: 'web' }, annotations: { team: 'a' } },
    )
    const { result } = wire(pod)
    expect(result.patch.map((op) => op.path)).toEqual([
      '/spec/volumes/-',
      '/spec/containers/0/env/-',
      '/spec/containers/0/env/-',
      '/spec/containers/0/volumeMounts/-',
      '/metadata/annotations/irsa-broker.io~1injected',
    ])
  })

  it('creates /metadata itself for an object without metadata', () => {
    const { result, patched } = wire({ kind: 'Pod', spec: { containers: [container('app')] } })
    expect(result.patch.at(-1)).toEqual({
      op: 'add',
      path: '/metadata',
      value: { annotations: { 'irsa-broker.io/injected': 'true' } },
    })
    expect(envOf(patched, 'containers', 0)).toEqual(CREDENTIALS_FOR('ml-reader'))
  })

  it('adds the projected token volume with audience, lifetime, path and an explicit 0444 mode', () => {
    const { patched } = wire(podOf({ containers: [container('app')] }))
    expect(volumesOf(patched)).toEqual([
      {
        name: 'irsa-broker-token',
        projected: {
          defaultMode: 0o444,
          sources: [
            { serviceAccountToken: { audience: 'irsa-broker', expirationSeconds: 3600, path: 'token' } },
          ],
        },
      },
    ])
  })
})

describe('§7.5 our names and paths already taken', () => {
  it('leaves a volume of our name alone, whatever its type, and mounts it', () => {
    const pod = podOf({
      containers: [container('app')],
      volumes: [{ name: 'irsa-broker-token', hostPath: { path: '/etc/token' } }],
    })
    const { result, patched } = wire(pod)
    expect(result.patch.some((op) => op.path.startsWith('/spec/volumes'))).toBe(false)
    expect(volumesOf(patched)).toEqual([{ name: 'irsa-broker-token', hostPath: { path: '/etc/token' } }])
    expect(mountsOf(patched, 'containers', 0)).toEqual([TOKEN_MOUNT])
  })

  it('leaves a mount of our volume at another path alone and points the token variable into it', () => {
    // The hand-written recipe of infra/kubernetes/ mounts irsa-broker-token at /var/run/secrets/irsa-broker.
    const pod = podOf({
      containers: [
        container('app', {
          volumeMounts: [{ name: 'irsa-broker-token', mountPath: '/var/run/secrets/irsa-broker' }],
        }),
      ],
      volumes: [
        { name: 'irsa-broker-token', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
      ],
    })
    const { result, patched } = wire(pod)
    expect(mountsOf(patched, 'containers', 0)).toEqual([
      { name: 'irsa-broker-token', mountPath: '/var/run/secrets/irsa-broker' },
    ])
    expect(envOf(patched, 'containers', 0).AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).toBe(
      '/var/run/secrets/irsa-broker/token',
    )
    expect(result.warnings).toEqual([])
  })

  it('adds no mount when another volume is mounted exactly at our path (the user supplies the token there)', () => {
    const pod = podOf({
      containers: [
        container('app', {
          volumeMounts: [{ name: 'own-token', mountPath: '/var/run/secrets/irsa-broker/serviceaccount/' }],
        }),
      ],
      volumes: [{ name: 'own-token', secret: { secretName: 'token' } }],
    })
    const { result, patched } = wire(pod)
    expect(mountsOf(patched, 'containers', 0)).toEqual([
      { name: 'own-token', mountPath: '/var/run/secrets/irsa-broker/serviceaccount/' },
    ])
    expect(volumesOf(patched).map((v) => v.name)).toEqual(['own-token'])
    expect(envOf(patched, 'containers', 0)).toEqual(CREDENTIALS_FOR('ml-reader'))
    expect(result.warnings).toEqual([])
  })

  it('adds no mount inside a read-only mount (a nested mount point cannot be created) and warns', () => {
    const pod = podOf({
      containers: [container('app', { volumeMounts: [{ name: 'certs', mountPath: '/var/run/secrets' }] })],
      volumes: [{ name: 'certs', configMap: { name: 'certs' } }],
    })
    const { result, patched } = wire(pod)
    expect(mountsOf(patched, 'containers', 0)).toEqual([{ name: 'certs', mountPath: '/var/run/secrets' }])
    expect(result.warnings).toEqual([
      'container "app": a mount at "/var/run/secrets" leaves no room for irsa-broker\'s',
    ])
  })

  it('mounts inside a writable emptyDir mount (as Kubernetes nests its own token under /var/run)', () => {
    const pod = podOf({
      containers: [container('app', { volumeMounts: [{ name: 'run', mountPath: '/var/run' }] })],
      volumes: [{ name: 'run', emptyDir: {} }],
    })
    const { result, patched } = wire(pod)
    expect(mountsOf(patched, 'containers', 0)).toEqual([{ name: 'run', mountPath: '/var/run' }, TOKEN_MOUNT])
    expect(result.warnings).toEqual([])
  })

  it('adds no mount over another mount inside our path, and warns', () => {
    const pod = podOf({
      containers: [
        container('app', {
          volumeMounts: [{ name: 'extra', mountPath: '/var/run/secrets/irsa-broker/serviceaccount/extra' }],
        }),
      ],
      volumes: [{ name: 'extra', emptyDir: {} }],
    })
    const { result } = wire(pod)
    expect(result.patch.some((op) => op.path.includes('volumeMounts'))).toBe(false)
    expect(result.warnings).toHaveLength(1)
  })
})

describe('§7.6–7.7 variables the user already set', () => {
  const credentialVariables = [
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    'AWS_CONTAINER_AUTHORIZATION_TOKEN',
    'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
    'AWS_ROLE_ARN',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
  ]

  it.each(credentialVariables)(
    'leaves the whole credential group to a container that sets %s, and still mounts the token',
    (name) => {
      const pod = podOf({ containers: [container('app', { env: [{ name, value: 'users-own' }] })] })
      const { patched } = wire(pod, {}, REGION)
      expect(envOf(patched, 'containers', 0)).toEqual({
        [name]: 'users-own',
        AWS_REGION: 'eu-west-1',
        AWS_DEFAULT_REGION: 'eu-west-1',
      })
      expect(mountsOf(patched, 'containers', 0)).toEqual([TOKEN_MOUNT])
    },
  )

  it('counts a variable set with valueFrom (secretKeyRef) as set, and never overwrites it', () => {
    const env = [{ name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'aws', key: 'id' } } }]
    const { patched } = wire(podOf({ containers: [container('app', { env })] }))
    expect(envOf(patched, 'containers', 0)).toEqual({ AWS_ACCESS_KEY_ID: 'valueFrom' })
  })

  it("counts a region variable set with valueFrom (fieldRef) as the user's region group", () => {
    const env = [
      { name: 'AWS_DEFAULT_REGION', valueFrom: { fieldRef: { fieldPath: "metadata.labels['region']" } } },
    ]
    const { patched } = wire(podOf({ containers: [container('app', { env })] }), {}, REGION)
    expect(envOf(patched, 'containers', 0)).toEqual({
      AWS_DEFAULT_REGION: 'valueFrom',
      ...CREDENTIALS_FOR('ml-reader'),
    })
  })

  it('wires a container that sets AWS_PROFILE (a profile is how a container picks one of ours)', () => {
    const env = [{ name: 'AWS_PROFILE', value: 'ml-writer' }]
    const { patched } = wire(podOf({ containers: [container('app', { env })] }), {
      serviceAccount: PROFILES_SA,
    })
    expect(envOf(patched, 'containers', 0)).toEqual({
      AWS_PROFILE: 'ml-writer',
      ...CREDENTIALS_FOR('ml-reader'),
      AWS_CONFIG_FILE: '/var/run/irsa-broker/config',
    })
  })

  it('leaves AWS_CONFIG_FILE to a container that sets it, with profiles on', () => {
    const env = [{ name: 'AWS_CONFIG_FILE', value: '/home/app/.aws/config' }]
    const { patched } = wire(podOf({ containers: [container('app', { env })] }), {
      serviceAccount: PROFILES_SA,
    })
    expect(envOf(patched, 'containers', 0)).toEqual({
      AWS_CONFIG_FILE: '/home/app/.aws/config',
      ...CREDENTIALS_FOR('ml-reader'),
    })
  })

  it('cannot see variables from envFrom, and wires such a container (documented)', () => {
    const envFrom = [{ secretRef: { name: 'aws-keys' } }]
    const { patched } = wire(podOf({ containers: [container('app', { envFrom })] }))
    expect(envOf(patched, 'containers', 0)).toEqual(CREDENTIALS_FOR('ml-reader'))
  })

  it('decides per container: one with its own keys keeps them, its neighbour is wired', () => {
    const pod = podOf({
      containers: [
        container('legacy', { env: [{ name: 'AWS_ACCESS_KEY_ID', value: 'AKIA' }] }),
        container('app'),
      ],
    })
    const { patched } = wire(pod)
    expect(envOf(patched, 'containers', 0)).toEqual({ AWS_ACCESS_KEY_ID: 'AKIA' })
    expect(envOf(patched, 'containers', 1)).toEqual(CREDENTIALS_FOR('ml-reader'))
  })
})

describe('§7.8 escaping', () => {
  it('escapes / and ~ in the marker path and keeps annotations with ~ in their keys and values', () => {
    const pod = podOf(
      { containers: [container('app')] },
      { generateName: 'a-', annotations: { 'example.com/a~b': 'x~y/z', 'irsa-broker.io/role': 'ml-reader' } },
    )
    const { result, patched } = wire(pod)
    expect(result.patch.at(-1)?.path).toBe('/metadata/annotations/irsa-broker.io~1injected')
    expect((patched.metadata as Json).annotations).toEqual({
      'example.com/a~b': 'x~y/z',
      'irsa-broker.io/role': 'ml-reader',
      'irsa-broker.io/injected': 'true',
    })
  })

  it('URL-encodes a role ARN with a path in ?role=', () => {
    const role = 'arn:aws:iam::111122223333:role/team-a/reader+audit@x'
    const pod = podOf(
      { containers: [container('app')] },
      { generateName: 'a-', annotations: { 'irsa-broker.io/role': role } },
    )
    const { patched } = wire(pod)
    expect(envOf(patched, 'containers', 0).AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe(
      `https://broker.example.com/v1/credentials?role=${encodeURIComponent(role)}`,
    )
    expect(
      new URL(envOf(patched, 'containers', 0).AWS_CONTAINER_CREDENTIALS_FULL_URI ?? '').searchParams.get(
        'role',
      ),
    ).toBe(role)
  })
})

describe('§7.9 fields newer than any typed model survive', () => {
  it('keeps native sidecars, probes, resizePolicy, grpc service null, seccomp, AppArmor, hostUsers, resource claims, x-future', () => {
    const sidecar = container('proxy', {
      restartPolicy: 'Always',
      startupProbe: { grpc: { port: 9090, service: null } },
      readinessProbe: { httpGet: { path: '/ready', port: 15021 } },
      lifecycle: { preStop: { sleep: { seconds: 5 } } },
      'x-future-field': { nested: [1, 'two', null] },
    })
    const app = container('app', {
      resizePolicy: [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }],
      resources: { claims: [{ name: 'gpu' }], requests: { cpu: '100m' } },
      securityContext: {
        seccompProfile: { type: 'RuntimeDefault' },
        appArmorProfile: { type: 'RuntimeDefault' },
      },
      readinessProbe: { grpc: { port: 8080, service: null } },
    })
    const pod = podOf({
      initContainers: [sidecar],
      containers: [app],
      hostUsers: false,
      resourceClaims: [{ name: 'gpu', resourceClaimTemplateName: 'gpu' }],
      'x-future-spec': true,
    })
    const { patched } = wire(pod)
    const spec = patched.spec as Json
    expect((spec.initContainers as Json[])[0]).toMatchObject({ ...sidecar, env: expect.any(Array) })
    expect((spec.containers as Json[])[0]).toMatchObject(app)
    expect(spec).toMatchObject({ hostUsers: false, 'x-future-spec': true })
  })
})

describe('§7.10 container sets', () => {
  const mixed = () =>
    podOf({
      initContainers: [container('migrate'), container('proxy', { restartPolicy: 'Always' })],
      containers: [container('app'), container('worker')],
    })

  it('wires plain init containers, native sidecars and every app container', () => {
    const { result, patched } = wire(mixed())
    expect(result.containers).toEqual(['migrate', 'proxy', 'app', 'worker'])
    for (const [list, index] of [
      ['initContainers', 0],
      ['initContainers', 1],
      ['containers', 0],
      ['containers', 1],
    ] as const)
      expect(envOf(patched, list, index)).toEqual(CREDENTIALS_FOR('ml-reader'))
  })

  it('wires a pod whose include list names only init containers', () => {
    const pod = {
      ...mixed(),
      metadata: { generateName: 'a-', annotations: { 'irsa-broker.io/containers': 'migrate' } },
    }
    const { result } = wire(pod)
    expect(result.containers).toEqual(['migrate'])
  })

  it('skips the containers of a comma-separated skip list with spaces around names', () => {
    const pod = {
      ...mixed(),
      metadata: { generateName: 'a-', annotations: { 'irsa-broker.io/skip-containers': ' proxy , worker,' } },
    }
    const { result, patched } = wire(pod)
    expect(result.containers).toEqual(['migrate', 'app'])
    expect(envOf(patched, 'initContainers', 1)).toEqual({})
    expect(envOf(patched, 'containers', 1)).toEqual({})
    expect(result.warnings).toEqual([])
  })

  it('wires only the containers of an include list', () => {
    const pod = {
      ...mixed(),
      metadata: { generateName: 'a-', annotations: { 'irsa-broker.io/containers': 'app,proxy' } },
    }
    expect(wire(pod).result.containers).toEqual(['proxy', 'app'])
  })

  it('takes the include list minus the skip list when both are given', () => {
    const annotations = {
      'irsa-broker.io/containers': 'app, worker, proxy',
      'irsa-broker.io/skip-containers': 'worker',
    }
    const pod = { ...mixed(), metadata: { generateName: 'a-', annotations } }
    expect(wire(pod).result.containers).toEqual(['proxy', 'app'])
  })

  it('warns about names no container has, echoing only a bounded part, and wires the rest', () => {
    const long = `ghost-${'x'.repeat(5000)}`
    const annotations = { 'irsa-broker.io/skip-containers': `worker, ${long}, phantom` }
    const pod = { ...mixed(), metadata: { generateName: 'a-', annotations } }
    const { result } = wire(pod)
    expect(result.containers).toEqual(['migrate', 'proxy', 'app'])
    expect(result.warnings).toEqual([
      'Pod irsa-broker.io/skip-containers names no container of this pod: "ghost-xxxxxxxxxxxxxxxxxx..." and 1 more',
    ])
  })

  it('wires nothing when the skip list names every container', () => {
    const pod = {
      ...mixed(),
      metadata: {
        generateName: 'a-',
        annotations: { 'irsa-broker.io/skip-containers': 'migrate,proxy,app,worker' },
      },
    }
    expect(wire(pod).result).toMatchObject({ outcome: 'not-selected', reason: 'no-container', patch: [] })
  })

  it('ignores an empty include list, with a warning, instead of wiring nothing', () => {
    const pod = {
      ...mixed(),
      metadata: { generateName: 'a-', annotations: { 'irsa-broker.io/containers': ' , ' } },
    }
    const { result } = wire(pod)
    expect(result.containers).toEqual(['migrate', 'proxy', 'app', 'worker'])
    expect(result.warnings).toEqual(['Pod irsa-broker.io/containers is empty; ignored'])
  })
})

describe('§7.11 ephemeral containers', () => {
  it('leaves ephemeral containers untouched', () => {
    const ephemeral = [{ name: 'debug', image: 'busybox', targetContainerName: 'app' }]
    const { result, patched } = wire(
      podOf({ containers: [container('app')], ephemeralContainers: ephemeral }),
    )
    expect((patched.spec as Json).ephemeralContainers).toEqual(ephemeral)
    expect(result.patch.some((op) => op.path.includes('ephemeral'))).toBe(false)
  })
})

describe('§7.12 reinvocation after another webhook', () => {
  it('wires only a sidecar added after the first call (istio-proxy appended, vault-agent prepended)', () => {
    // Prepare: the first call, with profiles (so there is an init container of ours too)
    const first = wire(podOf({ initContainers: [container('migrate')], containers: [container('app')] }), {
      serviceAccount: PROFILES_SA,
    }).patched
    const spec = first.spec as Json
    const later = {
      ...first,
      spec: {
        ...spec,
        initContainers: [container('vault-agent-init'), ...(spec.initContainers as Json[])],
        containers: [...(spec.containers as Json[]), container('istio-proxy')],
      },
    }
    // Act
    const { result, patched } = wire(later, { serviceAccount: PROFILES_SA })
    // Assess
    expect(result.containers).toEqual(['vault-agent-init', 'istio-proxy'])
    expect(result.patch.map((op) => op.path)).toEqual([
      '/spec/initContainers/0/env',
      '/spec/initContainers/0/volumeMounts',
      '/spec/containers/1/env',
      '/spec/containers/1/volumeMounts',
    ])
    expect(initContainerNames(patched)).toEqual(['vault-agent-init', 'irsa-broker-configure', 'migrate'])
  })

  it('answers no patch for its own output, also when the output is sent as a fresh copy', () => {
    const { patched } = wire(podOf({ containers: [container('app')] }), {}, REGION)
    const again = planPodMutation(inputOf(JSON.parse(JSON.stringify(patched))), REGION)
    expect(again).toMatchObject({ outcome: 'unchanged', reason: 'already-wired', patch: [] })
  })
})

describe('§7.13 automountServiceAccountToken: false', () => {
  it('adds our projected token anyway (it is not the API credential)', () => {
    const { patched } = wire(podOf({ automountServiceAccountToken: false, containers: [container('app')] }))
    expect(volumesOf(patched).map((v) => v.name)).toEqual(['irsa-broker-token'])
    expect((patched.spec as Json).automountServiceAccountToken).toBe(false)
  })
})

describe('§7.14 token lifetime', () => {
  const lifetime = (annotations: Record<string, string>, sa: Record<string, string> = {}) => {
    const pod = podOf({ containers: [container('app')] }, { generateName: 'a-', annotations })
    const { result, patched } = wire(pod, {
      serviceAccount: { name: 'app', annotations: { 'irsa-broker.io/role': 'ml-reader', ...sa } },
    })
    return {
      seconds: tokenExpirationOf(patched),
      warnings: result.warnings,
    }
  }

  it.each([
    ['the default', {}, {}, 3600, []],
    ['a Pod annotation', { 'irsa-broker.io/token-expiration': '7200' }, {}, 7200, []],
    ['a ServiceAccount annotation', {}, { 'irsa-broker.io/token-expiration': '1800' }, 1800, []],
    ['the minimum', { 'irsa-broker.io/token-expiration': '600' }, {}, 600, []],
    ['the maximum', { 'irsa-broker.io/token-expiration': '86400' }, {}, 86400, []],
    [
      '599 (ignored)',
      { 'irsa-broker.io/token-expiration': '599' },
      {},
      3600,
      ['Pod irsa-broker.io/token-expiration "599" is below 600; ignored'],
    ],
    [
      'a word (ignored)',
      { 'irsa-broker.io/token-expiration': '1h' },
      {},
      3600,
      ['Pod irsa-broker.io/token-expiration "1h" is not a whole number of seconds; ignored'],
    ],
    [
      '86401 (ignored)',
      { 'irsa-broker.io/token-expiration': '86401' },
      {},
      3600,
      ['Pod irsa-broker.io/token-expiration "86401" is above 86400; ignored'],
    ],
    [
      'a bad Pod value over a good SA value',
      { 'irsa-broker.io/token-expiration': '-5' },
      { 'irsa-broker.io/token-expiration': '900' },
      900,
      ['Pod irsa-broker.io/token-expiration "-5" is not a whole number of seconds; ignored'],
    ],
  ])('sets expirationSeconds from %s', (_name, annotations, sa, seconds, warnings) => {
    expect(lifetime(annotations, sa)).toEqual({ seconds, warnings })
  })
})

describe('§7.15 non-root and Windows', () => {
  it('never changes securityContext or fsGroup, and sets the token mode to 0444 for non-root readers', () => {
    const securityContext = { runAsNonRoot: true, runAsUser: 1000 }
    const pod = podOf({
      securityContext,
      containers: [container('app', { securityContext: { runAsUser: 1001 } })],
    })
    const { result, patched } = wire(pod)
    expect((patched.spec as Json).securityContext).toEqual(securityContext)
    expect(result.patch.some((op) => op.path.includes('securityContext'))).toBe(false)
    expect(tokenProjectionOf(patched).defaultMode).toBe(0o444)
  })

  it('keeps a pod fsGroup as it is', () => {
    const pod = podOf({ securityContext: { fsGroup: 2000 }, containers: [container('app')] })
    expect((wire(pod).patched.spec as Json).securityContext).toEqual({ fsGroup: 2000 })
  })

  it.each([
    ['nodeSelector kubernetes.io/os', { nodeSelector: { 'kubernetes.io/os': 'windows' } }],
    ['nodeSelector beta.kubernetes.io/os', { nodeSelector: { 'beta.kubernetes.io/os': 'windows' } }],
    ['spec.os.name', { os: { name: 'windows' } }],
  ])('writes a Windows token path for a pod selected by %s, and no profiles', (_name, spec) => {
    const pod = podOf({ ...spec, containers: [container('app')] })
    const { result, patched } = wire(pod, { serviceAccount: PROFILES_SA })
    expect(envOf(patched, 'containers', 0).AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).toBe(
      'C:\\var\\run\\secrets\\irsa-broker\\serviceaccount\\token',
    )
    expect(mountsOf(patched, 'containers', 0)).toEqual([TOKEN_MOUNT])
    expect(initContainerNames(patched)).toEqual([])
    expect(result.profiles).toBe(false)
    expect(result.warnings).toEqual([
      'irsa-broker.io/profiles: the agent image runs on Linux only; no profiles on this Windows pod',
    ])
  })
})

describe('§7.16 several roles: profiles', () => {
  it('adds the configure init container first, the emptyDir, AWS_CONFIG_FILE and the read-only mount', () => {
    const pod = podOf({
      initContainers: [container('proxy', { restartPolicy: 'Always' })],
      containers: [container('app')],
    })
    const { result, patched } = wire(pod, { serviceAccount: PROFILES_SA })
    expect(result).toMatchObject({ outcome: 'mutated', profiles: true, role: 'ml-reader' })
    expect(initContainerNames(patched)).toEqual(['irsa-broker-configure', 'proxy'])
    expect(volumesOf(patched).map((v) => v.name)).toEqual(['irsa-broker-token', 'irsa-broker-profiles'])
    expect(volumesOf(patched)[1]).toEqual({ name: 'irsa-broker-profiles', emptyDir: {} })
    for (const [list, index] of [
      ['initContainers', 1],
      ['containers', 0],
    ] as const) {
      expect(envOf(patched, list, index)).toEqual({
        ...CREDENTIALS_FOR('ml-reader'),
        AWS_CONFIG_FILE: '/var/run/irsa-broker/config',
      })
      expect(mountsOf(patched, list, index)).toEqual([TOKEN_MOUNT, PROFILES_MOUNT])
    }
  })

  it('runs `irsa-broker configure` from the agent image with the pod token, non-root, read-only, no escalation', () => {
    const { patched } = wire(podOf({ containers: [container('app')] }), { serviceAccount: PROFILES_SA })
    const configure = ((patched.spec as Json).initContainers as Json[])[0]
    expect(configure).toEqual({
      name: 'irsa-broker-configure',
      image: 'registry.example.com/irsa-broker-agent:1.0.0',
      command: [
        '/usr/local/bin/irsa-broker',
        'configure',
        '--endpoint',
        'https://broker.example.com',
        '--token-file',
        '/var/run/secrets/irsa-broker/serviceaccount/token',
        '--config-file',
        '/var/run/irsa-broker/config',
        '--install-executable',
        '/var/run/irsa-broker/irsa-broker',
      ],
      resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
      securityContext: {
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      },
      terminationMessagePolicy: 'FallbackToLogsOnError',
      volumeMounts: [
        {
          name: 'irsa-broker-token',
          mountPath: '/var/run/secrets/irsa-broker/serviceaccount',
          readOnly: true,
        },
        { name: 'irsa-broker-profiles', mountPath: '/var/run/irsa-broker' },
      ],
    })
  })

  it('picks the default role from the Pod annotation over the ServiceAccount one', () => {
    const pod = podOf(
      { containers: [container('app')] },
      { generateName: 'a-', annotations: { 'irsa-broker.io/role': 'ml-writer' } },
    )
    const { result, patched } = wire(pod, { serviceAccount: PROFILES_SA })
    expect(result.role).toBe('ml-writer')
    expect(envOf(patched, 'containers', 0).AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe(
      'https://broker.example.com/v1/credentials?role=ml-writer',
    )
  })

  it('does not add a second configure container when one is there', () => {
    const pod = podOf({
      initContainers: [container('irsa-broker-configure')],
      containers: [container('app')],
    })
    const { patched } = wire(pod, { serviceAccount: PROFILES_SA })
    expect(initContainerNames(patched)).toEqual(['irsa-broker-configure'])
    expect(envOf(patched, 'initContainers', 0)).toEqual({})
  })
})

describe('§7.17 pods of every controller', () => {
  it.each([
    [
      'a Deployment',
      {
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8', uid: 'u', controller: true },
        ],
      },
      {},
    ],
    [
      'a Job with a native sidecar',
      { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'etl', uid: 'u' }] },
      { restartPolicy: 'Never', initContainers: [container('log-shipper', { restartPolicy: 'Always' })] },
    ],
    [
      'a StatefulSet',
      {
        name: 'db-0',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'u' }],
      },
      { hostname: 'db-0', subdomain: 'db' },
    ],
    [
      'a DaemonSet on the host network',
      { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'u' }] },
      { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' },
    ],
  ])('wires a pod of %s', (_name, metadata, spec) => {
    const pod = podOf({ containers: [container('app')], ...spec }, { generateName: 'x-', ...metadata })
    const { result, patched } = wire(pod)
    expect(result.outcome).toBe('mutated')
    expect(envOf(patched, 'containers', 0)).toEqual(CREDENTIALS_FOR('ml-reader'))
  })

  it('never wires the mirror of a static pod (the API server refuses a token volume there)', () => {
    const pod = podOf(
      { containers: [container('etcd')], nodeName: 'node-1' },
      {
        name: 'etcd-node-1',
        annotations: { 'kubernetes.io/config.mirror': 'abc', 'irsa-broker.io/role': 'ml-reader' },
      },
    )
    expect(wire(pod, { namespaceInjection: true }).result).toMatchObject({
      outcome: 'skipped',
      reason: 'mirror-pod',
    })
  })
})

describe('§7.18 namespaces', () => {
  const pod = podOf(
    { containers: [container('app')] },
    { generateName: 'a-', annotations: { 'irsa-broker.io/role': 'ml-reader' } },
  )

  it('never wires kube-system, whatever asks', () => {
    expect(wire(pod, { namespace: 'kube-system', namespaceInjection: true }).result).toMatchObject({
      outcome: 'skipped',
      reason: 'system-namespace',
    })
  })

  it("never wires the webhook's own namespace (no bootstrap deadlock)", () => {
    expect(wire(pod, { namespace: 'irsa-broker', namespaceInjection: true }).result).toMatchObject({
      outcome: 'skipped',
      reason: 'own-namespace',
    })
  })

  it('does not wire a pod of an unlabelled namespace that nothing else asks for', () => {
    const plain = podOf({ containers: [container('app')] })
    expect(wire(plain, { serviceAccount: { name: 'app', annotations: {} } }).result.reason).toBe(
      'not-requested',
    )
  })
})

describe('§7.19 large pods', () => {
  it('wires 300 containers, 300 init containers and 1000 volumes in one valid patch', () => {
    const pod = podOf({
      initContainers: Array.from({ length: 300 }, (_, i) => container(`init-${i}`)),
      containers: Array.from({ length: 300 }, (_, i) =>
        container(`app-${i}`, { env: Array.from({ length: 20 }, (_, j) => ({ name: `V${j}`, value: 'x' })) }),
      ),
      volumes: Array.from({ length: 1000 }, (_, i) => ({ name: `v-${i}`, emptyDir: {} })),
    })
    const { result } = wire(pod)
    expect(result.containers).toHaveLength(600)
  })
})

describe('requests that are never wired', () => {
  const pod = podOf({ containers: [container('app')] })

  it.each(['UPDATE', 'DELETE', 'CONNECT'])('answers no patch for %s', (operation) => {
    expect(wire(pod, { operation }).result).toMatchObject({
      outcome: 'skipped',
      reason: 'not-create',
      patch: [],
    })
  })

  it('answers no patch for another kind of object', () => {
    expect(wire(pod, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }).result.reason).toBe(
      'not-a-pod',
    )
    expect(wire({ ...pod, kind: 'ConfigMap' }).result.reason).toBe('not-a-pod')
    expect(wire(pod, { subResource: 'ephemeralcontainers' }).result.reason).toBe('not-a-pod')
  })

  it('gives the same answer on a dry run', () => {
    const real = planPodMutation(inputOf(pod, { dryRun: false }), SETTINGS)
    const dry = planPodMutation(inputOf(pod, { dryRun: true }), SETTINGS)
    expect(dry).toEqual(real)
  })

  it('leaves a pod that opted out with the label alone, even when its annotations ask', () => {
    const optedOut = podOf(
      { containers: [container('app')] },
      {
        generateName: 'a-',
        labels: { 'irsa-broker.io/inject': 'false' },
        annotations: { 'irsa-broker.io/role': 'ml-reader' },
      },
    )
    expect(wire(optedOut, { namespaceInjection: true }).result).toMatchObject({
      outcome: 'not-selected',
      reason: 'opted-out',
    })
  })
})

describe('shapes the API server would refuse', () => {
  it.each([
    ['a string', 'pod'],
    ['null', null],
    ['an array', [1, 2]],
    ['spec null', { spec: null }],
    ['containers an object', { spec: { containers: { app: {} } } }],
    ['volumes null', { spec: { containers: [container('app')], volumes: null } }],
    ['initContainers a string', { spec: { containers: [container('app')], initContainers: 'x' } }],
    ['annotations an array', { metadata: { annotations: ['a'] }, spec: { containers: [container('app')] } }],
    ['labels null', { metadata: { labels: null }, spec: { containers: [container('app')] } }],
    ['metadata a number', { metadata: 3, spec: { containers: [container('app')] } }],
  ])('answers "unchanged" for %s', (_name, pod) => {
    expect(wire(pod).result).toMatchObject({ outcome: 'unchanged', reason: 'malformed-pod', patch: [] })
  })

  it('wires the containers it can and leaves the broken ones (env null, no name, not an object)', () => {
    const pod = podOf({
      containers: [
        container('app'),
        container('broken', { env: null }),
        { image: 'no-name' },
        'text',
        container('mounts', { volumeMounts: {} }),
      ],
    })
    const { result } = wire(pod)
    expect(result.containers).toEqual(['app'])
  })
})
