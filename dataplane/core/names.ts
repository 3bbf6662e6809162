// The names the webhook puts on the wire (docs/data-planes.md, "Wire workloads"): annotations and
// labels it reads, the volumes, paths, container and variables it adds. One place, so the server,
// the manifests and the tests spell them the same way.

/** Annotations read on Pods and ServiceAccounts (containers lists: Pods only). */
export const ANNOTATIONS = {
  role: 'irsa-broker.io/role',
  profiles: 'irsa-broker.io/profiles',
  tokenExpiration: 'irsa-broker.io/token-expiration',
  containers: 'irsa-broker.io/containers',
  skipContainers: 'irsa-broker.io/skip-containers',
} as const

/** Added to a wired pod's annotations once (never read back as configuration). */
export const INJECTED_ANNOTATION = 'irsa-broker.io/injected'

/** Namespace label `enabled` selects a namespace; the same key on a Pod with `"false"` opts the pod out. */
export const INJECT_LABEL = 'irsa-broker.io/inject'
export const OPT_OUT_VALUE = 'false'

export const TOKEN_VOLUME = 'irsa-broker-token'
export const TOKEN_MOUNT_PATH = '/var/run/secrets/irsa-broker/serviceaccount'
export const TOKEN_FILE_NAME = 'token'
export const TOKEN_FILE = `${TOKEN_MOUNT_PATH}/${TOKEN_FILE_NAME}`
/**
 * The projected token's file mode. 0444 (everyone in the pod may read it, nobody may write) and
 * not 0440: with 0440 the file belongs to root's group unless the pod sets `fsGroup`, so a
 * non-root container could not read it. Kubernetes ignores this mode and writes 0600 (0640 with
 * `fsGroup`) when every container runs as one user or an fsGroup is set; docs/decisions.md.
 */
export const TOKEN_DEFAULT_MODE = 0o444

export const PROFILES_VOLUME = 'irsa-broker-profiles'
export const PROFILES_MOUNT_PATH = '/var/run/irsa-broker'
export const PROFILES_CONFIG_FILE = `${PROFILES_MOUNT_PATH}/config`
export const PROFILES_EXECUTABLE = `${PROFILES_MOUNT_PATH}/irsa-broker`
export const CONFIGURE_CONTAINER = 'irsa-broker-configure'
/** Where the agent image keeps the self-contained executable (infra/kubernetes/agent/Dockerfile). */
export const DEFAULT_AGENT_EXECUTABLE = '/usr/local/bin/irsa-broker'

export const FULL_URI = 'AWS_CONTAINER_CREDENTIALS_FULL_URI'
export const TOKEN_FILE_VARIABLE = 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'
export const CONFIG_FILE_VARIABLE = 'AWS_CONFIG_FILE'

/**
 * Groups of variables: when a container already names any member (a `value` or a `valueFrom`),
 * the webhook adds no member of that group (docs/decisions.md, "Webhook"). The credential group
 * holds every variable that makes an SDK take credentials from somewhere else before, or instead
 * of, the container provider: static keys and web identity come earlier in every default chain,
 * and RELATIVE_URI wins over FULL_URI. AWS_PROFILE is not a member: a profile is how a container
 * picks one of the profiles the webhook writes.
 */
export const CREDENTIAL_VARIABLES = [
  FULL_URI,
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  TOKEN_FILE_VARIABLE,
  'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
] as const
export const REGION_VARIABLES = ['AWS_REGION', 'AWS_DEFAULT_REGION'] as const
export const CONFIG_VARIABLES = [CONFIG_FILE_VARIABLE] as const

export const MIN_TOKEN_EXPIRATION_SECONDS = 600
/** The broker refuses tokens living longer than a day unless an issuer says otherwise. */
export const MAX_TOKEN_EXPIRATION_SECONDS = 86_400
export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600
export const DEFAULT_AUDIENCE = 'irsa-broker'

/**
 * The kubelet's mirror of a static pod: the API server refuses a mirror pod that uses a
 * ServiceAccount token projection, so wiring one would block the static pod's mirror.
 */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror'

/** Never wired, whatever asks: the control plane's namespace (the webhook's own comes from settings). */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system']
