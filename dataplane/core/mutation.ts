// The pure heart of `irsa-broker webhook`: from a pod as the API server sent it (untrusted
// JSON), its ServiceAccount's annotations, the rules and the settings, the JSON Patch that
// wires it (docs/data-planes.md, "Wire workloads"). Only `add` operations at the leaves: the pod is
// never rebuilt from a typed model and no array is replaced, so fields no model knows survive.
// Whatever is already there is left alone, so the patched pod, sent again, gets no patch, and a
// container another webhook adds later gets only its own wiring (reinvocationPolicy: IfNeeded).
import { readNameList, shown, unknownNamesWarning, warning } from './annotations.js'
import {
  add,
  appendAll,
  isRecord,
  type JsonPatchAdd,
  type JsonRecord,
  member,
  pointer,
  stringMember,
} from './json.js'
import {
  ANNOTATIONS,
  CONFIG_FILE_VARIABLE,
  CONFIG_VARIABLES,
  CONFIGURE_CONTAINER,
  CREDENTIAL_VARIABLES,
  DEFAULT_AGENT_EXECUTABLE,
  FULL_URI,
  INJECT_LABEL,
  INJECTED_ANNOTATION,
  MIRROR_POD_ANNOTATION,
  OPT_OUT_VALUE,
  PROFILES_CONFIG_FILE,
  PROFILES_EXECUTABLE,
  PROFILES_MOUNT_PATH,
  PROFILES_VOLUME,
  REGION_VARIABLES,
  SYSTEM_NAMESPACES,
  TOKEN_DEFAULT_MODE,
  TOKEN_FILE,
  TOKEN_FILE_NAME,
  TOKEN_FILE_VARIABLE,
  TOKEN_MOUNT_PATH,
  TOKEN_VOLUME,
} from './names.js'
import type { WebhookRule } from './rules.js'
import { decideWiring, type SelectedBy } from './selection.js'
import type { WebhookSettings } from './settings.js'

export interface GroupVersionKind {
  group: string
  version: string
  kind: string
}

export interface PodMutationInput {
  /** `request.object`: anything at all. */
  pod: unknown
  /** `request.namespace` (a controller's pod arrives without metadata.namespace). */
  namespace: string
  /** `request.operation`: only CREATE is wired. */
  operation: string
  /** `request.dryRun`: the answer is the same (the webhook has no side effects). */
  dryRun: boolean
  /** The pod's ServiceAccount; undefined when it could not be found. */
  serviceAccount: { name: string; annotations: Record<string, string> } | undefined
  /** True on the path of the webhook entry that selects labelled namespaces (`/mutate/namespace`). */
  namespaceInjection: boolean
  rules: readonly WebhookRule[]
  /** `request.kind`; when given and not core/v1 Pod, the request is skipped. */
  kind?: GroupVersionKind | undefined
  /** `request.subResource`; pods/ephemeralcontainers, pods/binding … are skipped. */
  subResource?: string | undefined
}

export type MutationOutcome = 'mutated' | 'unchanged' | 'not-selected' | 'skipped'

/** A fixed set, so that it can label a metric. */
export type MutationReason =
  /** mutated */
  | 'wired'
  /** unchanged: every selected container already has everything */
  | 'already-wired'
  /** unchanged: the object does not have the shape of a pod (the API server would refuse it) */
  | 'malformed-pod'
  /** not-selected: the pod label irsa-broker.io/inject is "false" */
  | 'opted-out'
  /** not-selected: no annotation, rule or namespace label asks for wiring */
  | 'not-requested'
  /** not-selected: the containers lists leave no container to wire */
  | 'no-container'
  /** skipped: an UPDATE, DELETE or CONNECT */
  | 'not-create'
  /** skipped: another kind of object, or a subresource */
  | 'not-a-pod'
  /** skipped: kube-system */
  | 'system-namespace'
  /** skipped: the webhook's own namespace */
  | 'own-namespace'
  /** skipped: a static pod's mirror, which the API server refuses with a token volume */
  | 'mirror-pod'

export interface PodMutationResult {
  /** Empty unless the outcome is `mutated`. */
  patch: JsonPatchAdd[]
  /** For the AdmissionReview `warnings`: each at most 120 characters. */
  warnings: string[]
  outcome: MutationOutcome
  reason: MutationReason
  /** The default role put into FULL_URI (`?role=`); absent when the broker chooses. */
  role?: string
  profiles: boolean
  tokenExpirationSeconds?: number
  selectedBy?: SelectedBy
  /** The position of the rule that matched, when one did. */
  ruleIndex?: number
  /** The containers and init containers this patch wires. */
  containers?: string[]
}

/** kubectl prints every warning; a pod with many bad names gets the first few. */
export const MAX_WARNINGS = 10

const result = (
  outcome: MutationOutcome,
  reason: MutationReason,
  warnings: readonly string[] = [],
): PodMutationResult => ({
  patch: [],
  warnings: warnings.slice(0, MAX_WARNINGS),
  outcome,
  reason,
  profiles: false,
})

// --- reading the pod -------------------------------------------------------------------

interface ContainerRef {
  list: 'initContainers' | 'containers'
  index: number
  record: JsonRecord
  name: string
}

interface PodShape {
  metadata: JsonRecord | undefined
  annotations: JsonRecord | undefined
  labels: Map<string, string>
  podAnnotations: Map<string, string>
  namespace: string | undefined
  spec: JsonRecord
  containers: ContainerRef[]
  hasInitContainers: boolean
  volumes: unknown[] | undefined
  windows: boolean
  serviceAccountName: string
}

/** A member that must be an object when present; `false` when it is present and is not. */
const optionalRecord = (parent: JsonRecord, key: string): JsonRecord | undefined | false => {
  if (!Object.hasOwn(parent, key)) return undefined
  const value = parent[key]
  return isRecord(value) ? value : false
}

const optionalArray = (parent: JsonRecord, key: string): unknown[] | undefined | false => {
  if (!Object.hasOwn(parent, key)) return undefined
  const value = parent[key]
  return Array.isArray(value) ? value : false
}

const stringMap = (record: JsonRecord | undefined): Map<string, string> => {
  const map = new Map<string, string>()
  if (record)
    for (const [key, value] of Object.entries(record)) if (typeof value === 'string') map.set(key, value)
  return map
}

const containerRefs = (list: ContainerRef['list'], items: readonly unknown[]): ContainerRef[] =>
  items.flatMap((item, index) => {
    if (!isRecord(item)) return []
    const name = stringMember(item, 'name')
    return name ? [{ list, index, record: item, name }] : []
  })

const isWindows = (spec: JsonRecord): boolean => {
  const os = member(spec, 'os')
  if (isRecord(os) && stringMember(os, 'name') === 'windows') return true
  const nodeSelector = member(spec, 'nodeSelector')
  return (
    isRecord(nodeSelector) &&
    (stringMember(nodeSelector, 'kubernetes.io/os') === 'windows' ||
      stringMember(nodeSelector, 'beta.kubernetes.io/os') === 'windows')
  )
}

/** The parts of the pod the webhook reads or writes, or undefined when one has the wrong type. */
const readPod = (pod: unknown): PodShape | undefined => {
  if (!isRecord(pod)) return undefined
  const metadata = optionalRecord(pod, 'metadata')
  if (metadata === false) return undefined
  const labels = metadata ? optionalRecord(metadata, 'labels') : undefined
  const annotations = metadata ? optionalRecord(metadata, 'annotations') : undefined
  const spec = member(pod, 'spec')
  if (labels === false || annotations === false || !isRecord(spec)) return undefined
  const containers = member(spec, 'containers')
  const initContainers = optionalArray(spec, 'initContainers')
  const volumes = optionalArray(spec, 'volumes')
  if (!Array.isArray(containers) || initContainers === false || volumes === false) return undefined
  return {
    metadata,
    annotations,
    labels: stringMap(labels),
    podAnnotations: stringMap(annotations),
    namespace: metadata ? stringMember(metadata, 'namespace') : undefined,
    spec,
    containers: [
      ...containerRefs('initContainers', initContainers ?? []),
      ...containerRefs('containers', containers),
    ],
    hasInitContainers: initContainers !== undefined,
    volumes,
    windows: isWindows(spec),
    // The ServiceAccount admission plugin fills it in before any webhook runs; `default` otherwise.
    serviceAccountName: stringMember(spec, 'serviceAccountName') || 'default',
  }
}

// --- what a container already has ------------------------------------------------------

const normalizePath = (path: string): string => path.replace(/\/+/g, '/').replace(/(.)\/$/, '$1')

const isUnder = (path: string, parent: string): boolean => parent === '/' || path.startsWith(`${parent}/`)

/** Volumes whose mounts are always read-only, whatever `readOnly` says. */
const READ_ONLY_SOURCES = ['projected', 'secret', 'configMap', 'downwardAPI']

type MountState =
  /** A mount of our volume already exists: left alone; the file is under its path. */
  | { kind: 'ours'; directory: string }
  /** Another volume is mounted exactly at our path: the user supplies the files there. */
  | { kind: 'supplied' }
  /** Our path is inside a read-only mount, or another mount is inside our path: cannot mount. */
  | { kind: 'blocked'; by: string }
  | { kind: 'free' }

const mountState = (
  mounts: readonly unknown[],
  volumeName: string,
  mountPath: string,
  readOnlyVolumes: ReadonlySet<string>,
): MountState => {
  const records = mounts.filter(isRecord)
  const own = records.find((mount) => stringMember(mount, 'name') === volumeName)
  if (own) {
    const path = stringMember(own, 'mountPath')
    const whole = !stringMember(own, 'subPath') && !stringMember(own, 'subPathExpr')
    return { kind: 'ours', directory: path && whole ? normalizePath(path) : mountPath }
  }
  for (const mount of records) {
    const raw = stringMember(mount, 'mountPath')
    if (!raw?.startsWith('/')) continue
    const path = normalizePath(raw)
    if (path === mountPath) return { kind: 'supplied' }
    const name = stringMember(mount, 'name') ?? ''
    const readOnly = member(mount, 'readOnly') === true || readOnlyVolumes.has(name)
    if (isUnder(path, mountPath) || (isUnder(mountPath, path) && readOnly))
      return { kind: 'blocked', by: path }
  }
  return { kind: 'free' }
}

const envNames = (env: readonly unknown[]): Set<string> => {
  const names = new Set<string>()
  for (const entry of env) {
    if (!isRecord(entry)) continue
    const name = stringMember(entry, 'name')
    if (name !== undefined) names.add(name)
  }
  return names
}

const filePath = (directory: string, file: string, windows: boolean): string =>
  windows ? `C:${directory.replaceAll('/', '\\')}\\${file}` : `${directory}/${file}`

const volumeNames = (volumes: readonly unknown[]): Set<string> => {
  const names = new Set<string>()
  for (const volume of volumes) {
    const name = isRecord(volume) ? stringMember(volume, 'name') : undefined
    if (name !== undefined) names.add(name)
  }
  return names
}

const readOnlyVolumeNames = (volumes: readonly unknown[]): Set<string> => {
  const names = new Set<string>()
  for (const volume of volumes) {
    if (!isRecord(volume)) continue
    const name = stringMember(volume, 'name')
    if (name !== undefined && READ_ONLY_SOURCES.some((source) => Object.hasOwn(volume, source)))
      names.add(name)
  }
  return names
}

// --- what the webhook adds -------------------------------------------------------------

export const fullUri = (brokerUrl: string, role: string | undefined): string =>
  `${brokerUrl.replace(/\/+$/, '')}/v1/credentials${role === undefined ? '' : `?role=${encodeURIComponent(role)}`}`

const tokenVolume = (settings: WebhookSettings, expirationSeconds: number) => ({
  name: TOKEN_VOLUME,
  projected: {
    defaultMode: TOKEN_DEFAULT_MODE,
    sources: [
      { serviceAccountToken: { audience: settings.audience, expirationSeconds, path: TOKEN_FILE_NAME } },
    ],
  },
})

// No sizeLimit: the self-contained executable alone is about 100 MB, and a pod over its limit is evicted.
const profilesVolume = () => ({ name: PROFILES_VOLUME, emptyDir: {} })

/**
 * The init container that writes the profiles: first among the init containers, so that the
 * config exists before native sidecars start; a plain init container (not a sidecar), so that it
 * has finished before anything reads the file. Restricted-profile security settings; no
 * `runAsUser`, so that platforms assigning user ids (OpenShift) can, and the image's numeric
 * USER applies otherwise.
 */
export const configureContainer = (settings: WebhookSettings) => ({
  name: CONFIGURE_CONTAINER,
  image: settings.agentImage,
  command: [
    settings.agentExecutable ?? DEFAULT_AGENT_EXECUTABLE,
    'configure',
    '--endpoint',
    settings.brokerUrl,
    '--token-file',
    TOKEN_FILE,
    '--config-file',
    PROFILES_CONFIG_FILE,
    '--install-executable',
    PROFILES_EXECUTABLE,
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
    { name: TOKEN_VOLUME, mountPath: TOKEN_MOUNT_PATH, readOnly: true },
    { name: PROFILES_VOLUME, mountPath: PROFILES_MOUNT_PATH },
  ],
})

interface Plan {
  role: string | undefined
  profiles: boolean
  windows: boolean
  settings: WebhookSettings
  readOnlyVolumes: ReadonlySet<string>
}

interface ContainerPatch {
  ops: JsonPatchAdd[]
  mountsToken: boolean
  mountsProfiles: boolean
  warnings: string[]
}

const wireContainer = (container: ContainerRef, plan: Plan): ContainerPatch | undefined => {
  const env = optionalArray(container.record, 'env')
  const mounts = optionalArray(container.record, 'volumeMounts')
  // A container whose env or mounts are not lists is not a container the API server accepts.
  if (env === false || mounts === false) return undefined
  const names = envNames(env ?? [])
  const has = (group: readonly string[]) => group.some((name) => names.has(name))
  const path = [`spec`, container.list, container.index]
  const warnings: string[] = []

  const token = mountState(mounts ?? [], TOKEN_VOLUME, TOKEN_MOUNT_PATH, plan.readOnlyVolumes)
  const profiles = plan.profiles
    ? mountState(mounts ?? [], PROFILES_VOLUME, PROFILES_MOUNT_PATH, plan.readOnlyVolumes)
    : undefined
  for (const state of [token, profiles])
    if (state?.kind === 'blocked')
      warnings.push(
        warning(
          `container ${shown(container.name)}: a mount at ${shown(state.by)} leaves no room for irsa-broker's`,
        ),
      )

  const variables: { name: string; value: string }[] = []
  if (!has(CREDENTIAL_VARIABLES)) {
    const directory = token.kind === 'ours' ? token.directory : TOKEN_MOUNT_PATH
    variables.push(
      { name: FULL_URI, value: fullUri(plan.settings.brokerUrl, plan.role) },
      { name: TOKEN_FILE_VARIABLE, value: filePath(directory, TOKEN_FILE_NAME, plan.windows) },
    )
  }
  if (plan.settings.region !== undefined && !has(REGION_VARIABLES))
    variables.push(
      { name: 'AWS_REGION', value: plan.settings.region },
      { name: 'AWS_DEFAULT_REGION', value: plan.settings.region },
    )
  if (profiles && !has(CONFIG_VARIABLES)) {
    const directory = profiles.kind === 'ours' ? profiles.directory : PROFILES_MOUNT_PATH
    variables.push({ name: CONFIG_FILE_VARIABLE, value: `${directory}/config` })
  }

  const newMounts: JsonRecord[] = []
  if (token.kind === 'free')
    newMounts.push({ name: TOKEN_VOLUME, mountPath: TOKEN_MOUNT_PATH, readOnly: true })
  if (profiles?.kind === 'free')
    newMounts.push({ name: PROFILES_VOLUME, mountPath: PROFILES_MOUNT_PATH, readOnly: true })

  return {
    ops: [
      ...appendAll(container.record, 'env', path, variables),
      ...appendAll(container.record, 'volumeMounts', path, newMounts),
    ],
    mountsToken: token.kind === 'free',
    mountsProfiles: profiles?.kind === 'free',
    warnings,
  }
}

/** The containers the lists select: an include list (if any) minus the skip list; never ours. */
const selectContainers = (shape: PodShape, warnings: string[]): ContainerRef[] => {
  const known = new Set(shape.containers.map((container) => container.name))
  let include = readNameList(shape.podAnnotations, ANNOTATIONS.containers)
  const skip = readNameList(shape.podAnnotations, ANNOTATIONS.skipContainers)
  if (include?.size === 0) {
    warnings.push(warning(`Pod ${ANNOTATIONS.containers} is empty; ignored`))
    include = undefined
  }
  for (const [key, listed] of [
    [ANNOTATIONS.containers, include],
    [ANNOTATIONS.skipContainers, skip],
  ] as const) {
    const unknown = unknownNamesWarning(key, listed, known)
    if (unknown) warnings.push(unknown)
  }
  return shape.containers.filter(
    (container) =>
      !(container.list === 'initContainers' && container.name === CONFIGURE_CONTAINER) &&
      (include === undefined || include.has(container.name)) &&
      !skip?.has(container.name),
  )
}

/** Adds the marker annotation when absent; nothing when metadata has no room for it. */
const markerOps = (shape: PodShape): JsonPatchAdd[] => {
  if (!shape.metadata) return [add('/metadata', { annotations: { [INJECTED_ANNOTATION]: 'true' } })]
  if (!shape.annotations) return [add('/metadata/annotations', { [INJECTED_ANNOTATION]: 'true' })]
  if (Object.hasOwn(shape.annotations, INJECTED_ANNOTATION)) return []
  return [add(pointer('metadata', 'annotations', INJECTED_ANNOTATION), 'true')]
}

/** Never throws, whatever `input.pod` is. */
export const planPodMutation = (input: PodMutationInput, settings: WebhookSettings): PodMutationResult => {
  if (input.operation !== 'CREATE') return result('skipped', 'not-create')
  const { kind } = input
  if (kind && (kind.group !== '' || kind.version !== 'v1' || kind.kind !== 'Pod'))
    return result('skipped', 'not-a-pod')
  if (input.subResource) return result('skipped', 'not-a-pod')
  if (isRecord(input.pod) && Object.hasOwn(input.pod, 'kind') && input.pod.kind !== 'Pod')
    return result('skipped', 'not-a-pod')

  const shape = readPod(input.pod)
  const namespace = input.namespace || shape?.namespace || ''
  if (SYSTEM_NAMESPACES.includes(namespace)) return result('skipped', 'system-namespace')
  if (namespace === settings.ownNamespace) return result('skipped', 'own-namespace')
  if (!shape || namespace === '') return result('unchanged', 'malformed-pod')
  if (shape.labels.get(INJECT_LABEL) === OPT_OUT_VALUE) return result('not-selected', 'opted-out')
  if (shape.podAnnotations.has(MIRROR_POD_ANNOTATION)) return result('skipped', 'mirror-pod')

  const decision = decideWiring({
    namespace,
    serviceAccountName: shape.serviceAccountName,
    podLabels: shape.labels,
    podAnnotations: shape.podAnnotations,
    serviceAccountAnnotations: input.serviceAccount
      ? stringMap(isRecord(input.serviceAccount.annotations) ? input.serviceAccount.annotations : undefined)
      : undefined,
    rules: input.rules,
    namespaceInjection: input.namespaceInjection,
    defaultTokenExpirationSeconds: settings.tokenExpirationSeconds,
  })
  const warnings = decision.warnings
  if (!decision.selected) return result('not-selected', 'not-requested', warnings)

  let profiles = decision.profiles
  if (profiles && shape.windows) {
    warnings.push(
      warning(`${ANNOTATIONS.profiles}: the agent image runs on Linux only; no profiles on this Windows pod`),
    )
    profiles = false
  }
  const described = {
    ...(decision.role === undefined ? {} : { role: decision.role }),
    profiles,
    tokenExpirationSeconds: decision.tokenExpirationSeconds,
    selectedBy: decision.selectedBy,
    ...(decision.ruleIndex === undefined ? {} : { ruleIndex: decision.ruleIndex }),
  }

  const targets = selectContainers(shape, warnings)
  if (targets.length === 0) return { ...result('not-selected', 'no-container', warnings), ...described }

  const volumes = shape.volumes ?? []
  const plan: Plan = {
    role: decision.role,
    profiles,
    windows: shape.windows,
    settings,
    readOnlyVolumes: readOnlyVolumeNames(volumes),
  }
  const ops: JsonPatchAdd[] = []
  const wired: string[] = []
  let mountsToken = false
  let mountsProfiles = false
  for (const container of targets) {
    const patch = wireContainer(container, plan)
    if (!patch) continue
    warnings.push(...patch.warnings)
    if (patch.ops.length > 0) wired.push(container.name)
    ops.push(...patch.ops)
    mountsToken ||= patch.mountsToken
    mountsProfiles ||= patch.mountsProfiles
  }

  // Inserted at index 0 after the operations on existing init containers, whose indices it shifts.
  const addsConfigure =
    profiles &&
    !shape.containers.some(
      (container) => container.list === 'initContainers' && container.name === CONFIGURE_CONTAINER,
    )
  if (addsConfigure) {
    mountsToken = true
    mountsProfiles = true
    wired.push(CONFIGURE_CONTAINER)
  }

  const existing = volumeNames(volumes)
  const newVolumes: unknown[] = []
  if (mountsToken && !existing.has(TOKEN_VOLUME))
    newVolumes.push(tokenVolume(settings, decision.tokenExpirationSeconds))
  if (mountsProfiles && !existing.has(PROFILES_VOLUME)) newVolumes.push(profilesVolume())
  const volumeOps = appendAll(shape.spec, 'volumes', ['spec'], newVolumes)
  const configureOps = addsConfigure
    ? shape.hasInitContainers
      ? [add('/spec/initContainers/0', configureContainer(settings))]
      : [add('/spec/initContainers', [configureContainer(settings)])]
    : []

  const patch = [...volumeOps, ...ops, ...configureOps]
  if (patch.length === 0) return { ...result('unchanged', 'already-wired', warnings), ...described }
  return {
    ...result('mutated', 'wired', warnings),
    ...described,
    patch: [...patch, ...markerOps(shape)],
    containers: wired,
  }
}
