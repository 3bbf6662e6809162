// The webhook's promise end to end, without a cluster: a pod of a ServiceAccount annotated
// `irsa-broker.io/role: ml-reader` and `irsa-broker.io/profiles: "true"` goes in as an
// AdmissionReview, and the AWS CLI, boto3 and the AWS SDK for JavaScript come out calling STS
// (moto_server, behind the local broker of `npm start`) as the default role and as every role
// of the pod's profiles. Between the two, what a cluster would do is done here by stand-ins
// (no API server, kubelet or container engine runs here):
// - the webhook's answer comes from its pure core (dataplane/core) with the settings of its
//   Deployment (infra/kubernetes/agent/manual-tls, rendered). INTERIM: once webhook-server's
//   HTTPS program is on main, `irsa-broker webhook` runs as that Deployment runs it, from the
//   agent image's files, and is called over HTTPS as the API server calls it;
// - its patch is applied with a real JSON Patch implementation (fast-json-patch), and the files
//   kubelet would mount laid out in a folder (test/support/kubelet.ts: the projected token minted
//   by a stand-in issuer with the volume's audience and lifetime, the emptyDir);
// - the patched init container's command runs from the agent image's files, and each AWS client
//   with exactly the patched container's environment, paths mapped into that folder.
// The self-contained executable is also run alone, with no PATH at all.
import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import jsonpatch from 'fast-json-patch'
import { beforeAll, describe, expect, test } from 'vitest'
import {
  type AdmissionAnswer,
  admissionResponse,
  type JsonPatchAdd,
  parseAdmissionReview,
  parseWebhookSettings,
  planPodMutation,
  podMutationInput,
} from '../../dataplane/core/index.js'
import { AGENT_BUILD_TIMEOUT_MS, type AgentTree, buildAgentTree } from '../support/agent-build.js'
import {
  ACCOUNT,
  type CallerIdentity,
  type Identities,
  READER_SESSION_ARN,
  registerMlWorkload,
  sessionArn,
  WRITER_SESSION_ARN,
} from '../support/e2e-workload.js'
import { type LaidOutPod, layOutPod, type PodObject } from '../support/kubelet.js'
import { renderKustomization } from '../support/kustomize.js'
import {
  adminPut,
  BROKER_START_TIMEOUT_MS,
  cleanEnv,
  createRedactor,
  describeRun,
  type LocalBroker,
  makeTempDir,
  type ProcessResult,
  ROOT,
  requireTools,
  runCli,
  runProcess,
  startLocalBroker,
  stopAfterAll,
  TEST_TIMEOUT_MS,
  writeTokenFile,
} from '../support/local-broker.js'
import type { TestIssuer } from '../support/workload-issuer.js'

const HERE = import.meta.dirname
const BOTO3_SCRIPT = join(HERE, 'boto3_identities.py')
const JS_SDK_SCRIPT = join(HERE, 'js_sdk_identities.mjs')
const AGENT = join(ROOT, 'infra/kubernetes/agent')
const BATCH_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/ml-s3-batch`
const BATCH_SESSION_ARN = sessionArn('ml-s3-batch', 'ml.trainer')

/** The pod a ReplicaSet of namespace ml would create: an app container and a native sidecar. */
const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'trainer-7d9c-', namespace: 'ml', labels: { app: 'trainer' } },
  spec: {
    serviceAccountName: 'trainer',
    initContainers: [
      { name: 'log-shipper', image: 'registry.example.com/log-shipper:2', restartPolicy: 'Always' },
    ],
    containers: [
      {
        name: 'app',
        image: 'registry.example.com/ml/trainer:1.0.0',
        env: [{ name: 'MODEL', value: 'resnet' }],
        resources: { requests: { cpu: '1' } },
      },
    ],
  },
}
const SERVICE_ACCOUNT_ANNOTATIONS = { 'irsa-broker.io/role': 'ml-reader', 'irsa-broker.io/profiles': 'true' }

const redactor = createRedactor()
const tempDirs: string[] = []
let broker: LocalBroker
let issuer: TestIssuer
let agent: AgentTree
/** The webhook's image, as the Deployment names it: also the image of the init container it adds. */
let agentImage = ''

/**
 * The webhook's answer to a review, from the pure core (dataplane/core) with the settings the
 * Deployment of infra/kubernetes/agent/manual-tls gives it (image, audience, token lifetime from
 * its ConfigMap) and the broker's URL and a region as an admin's overlay sets them.
 * INTERIM, until webhook-server's HTTPS program is on main: then the same review goes over HTTPS
 * to `irsa-broker webhook` run as that Deployment runs it (see the report of the agent-image branch).
 */
const webhookAnswer = async (review: unknown): Promise<AdmissionAnswer> => {
  const { manifests } = renderKustomization(join(AGENT, 'manual-tls'))
  const deployment = manifests.find((m) => m.kind === 'Deployment') as PodObject
  const configMap = manifests.find((m) => m.kind === 'ConfigMap') as PodObject
  agentImage = deployment.spec.template.spec.containers[0].image
  const settings = parseWebhookSettings({
    brokerUrl: broker.url,
    audience: configMap.data.audience,
    tokenExpirationSeconds: Number(configMap.data['token-expiration']),
    region: 'us-east-1',
    agentImage,
    ownNamespace: deployment.metadata.namespace,
  })
  if (!settings.ok) throw new Error(settings.message)
  const parsed = parseAdmissionReview(review)
  if (!parsed.ok) throw new Error(parsed.message)
  const result = planPodMutation(
    podMutationInput(parsed.review, {
      serviceAccount: { name: 'trainer', annotations: SERVICE_ACCOUNT_ANNOTATIONS },
      namespaceInjection: false,
      rules: [],
    }),
    settings.settings,
  )
  return JSON.parse(JSON.stringify(admissionResponse(parsed.review, result))) as AdmissionAnswer
}

const reviewOf = (pod: unknown) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: randomBytes(16).toString('hex'),
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'ml',
    operation: 'CREATE',
    userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
    object: pod,
    oldObject: null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
  },
})

interface StartedPod {
  patched: PodObject
  patch: JsonPatchAdd[]
  files: LaidOutPod
  root: string
  configure: ProcessResult
}

/**
 * What happens when a pod starts: the webhook's patch applied (fast-json-patch, every operation
 * validated), the volumes laid out, and the patched init container's command run from the agent
 * image's files with the init container's own environment (none: no PATH, no HOME).
 */
const startPod = async (root = makeTempDir(tempDirs, 'irsa-broker-e2e-pod-')): Promise<StartedPod> => {
  const answer = await webhookAnswer(reviewOf(POD))
  expect(answer.response).toMatchObject({ allowed: true, patchType: 'JSONPatch' })
  const patch = JSON.parse(
    Buffer.from(answer.response.patch as string, 'base64').toString('utf8'),
  ) as JsonPatchAdd[]
  const patched = jsonpatch.applyPatch(structuredClone(POD), patch, true, false).newDocument as PodObject
  const files = await layOutPod({
    pod: patched,
    namespace: 'ml',
    root,
    images: { [agentImage]: { root: agent.root } },
    mintToken: async ({ audience, expirationSeconds, namespace, serviceAccount }) => {
      const token = await issuer.mint({
        aud: [audience],
        lifetimeSeconds: expirationSeconds,
        namespace,
        serviceAccount,
      })
      redactor.add(token)
      return token
    },
  })
  const init = files.container('irsa-broker-configure')
  const [command, ...args] = files.commandLine(init)
  const configure = await runProcess(command as string, args, {
    env: files.env(init),
    cwd: makeTempDir(tempDirs, 'irsa-broker-e2e-cwd-'),
    redactor,
  })
  return { patched, patch, files, root, configure }
}

/** The app container's environment: exactly the patched container's variables (paths mapped). */
const appEnv = (pod: StartedPod, extra: Record<string, string> = {}) =>
  cleanEnv({
    ...pod.files.env(pod.files.container('app')),
    // The container's own HOME: no ~/.aws of this machine.
    HOME: makeTempDir(tempDirs, 'irsa-broker-e2e-home-'),
    // Not from the patch: should a client's chain ever fall through, it fails instead of
    // probing the instance metadata address (this machine reaches only loopback).
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  })

const ok = <T>(what: string, result: ProcessResult): T => {
  expect(result.code, describeRun(what, result, redactor)).toBe(0)
  return JSON.parse(result.stdout) as T
}

const awsCli = (env: NodeJS.ProcessEnv, ...profile: string[]) =>
  runProcess(
    'aws',
    ['sts', 'get-caller-identity', '--endpoint-url', broker.stsEndpoint, '--output', 'json', ...profile],
    { env, redactor },
  )

const profilesIn = (config: string) => [...config.matchAll(/^\[profile ([^\]]+)\]$/gm)].map((m) => m[1])

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

let first: StartedPod

beforeAll(
  async () => {
    requireTools(['aws', 'python3', 'moto_server'])
    agent = buildAgentTree(join(makeTempDir(tempDirs, 'irsa-broker-e2e-agent-'), 'image'))
    const adminToken = randomBytes(32).toString('hex')
    redactor.add(adminToken)
    broker = await startLocalBroker({ adminToken, redactor, tempDirs })
    issuer = await registerMlWorkload(broker, redactor)
    first = await startPod()
  },
  AGENT_BUILD_TIMEOUT_MS + BROKER_START_TIMEOUT_MS + TEST_TIMEOUT_MS,
)

stopAfterAll(() => broker, tempDirs)

describe('a pod of an annotated ServiceAccount, from AdmissionReview to a started pod', () => {
  test('the webhook adds the token volume, the profiles emptyDir and the configure init container; every container is wired', () => {
    const { patched } = first
    expect(patched.spec.volumes.map((v: PodObject) => v.name)).toEqual([
      'irsa-broker-token',
      'irsa-broker-profiles',
    ])
    expect(patched.spec.initContainers.map((c: PodObject) => c.name)).toEqual([
      'irsa-broker-configure',
      'log-shipper',
    ])
    expect(patched.spec.initContainers[0].image).toBe(agentImage)
    for (const name of ['app', 'log-shipper']) {
      const env = first.files.env(first.files.container(name))
      expect(Object.keys(env).sort(), name).toEqual(
        expect.arrayContaining([
          'AWS_CONFIG_FILE',
          'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
          'AWS_CONTAINER_CREDENTIALS_FULL_URI',
          'AWS_DEFAULT_REGION',
          'AWS_REGION',
        ]),
      )
      expect(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe(`${broker.url}/v1/credentials?role=ml-reader`)
    }
    // What was there stays as it was.
    expect(patched.spec.containers[0].env[0]).toEqual({ name: 'MODEL', value: 'resnet' })
    expect(patched.spec.initContainers[1].restartPolicy).toBe('Always')
  })

  test("kubelet's token: the pod's identity, with the volume's audience and lifetime, readable by every user (0444)", () => {
    const volume = first.patched.spec.volumes.find((v: PodObject) => v.name === 'irsa-broker-token')
    const source = volume.projected.sources[0].serviceAccountToken
    const tokenFile = join(first.files.volumeDir('irsa-broker-token'), source.path)
    const [, payload] = readFileSync(tokenFile, 'utf8').split('.')
    const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString('utf8'))
    expect(claims.sub).toBe('system:serviceaccount:ml:trainer')
    expect(claims.aud).toEqual([source.audience])
    expect(claims.exp - claims.iat).toBe(source.expirationSeconds)
    expect(statSync(tokenFile).mode & 0o777).toBe(0o444)
  })

  test("the init container (the agent image's executable, no PATH) writes one profile per bound role and copies itself into the emptyDir", () => {
    expect(first.configure.code, describeRun('irsa-broker-configure', first.configure, redactor)).toBe(0)
    const emptyDir = first.files.volumeDir('irsa-broker-profiles')
    expect(readdirSync(emptyDir).sort()).toEqual(['config', 'irsa-broker'])
    const executable = join(emptyDir, 'irsa-broker')
    expect(sha256(executable)).toBe(sha256(agent.executable))
    expect(statSync(executable).mode & 0o777).toBe(0o755)
    expect(statSync(join(emptyDir, 'config')).mode & 0o777).toBe(0o644)
    const config = readFileSync(join(emptyDir, 'config'), 'utf8')
    expect(profilesIn(config)).toEqual(['ml-reader', 'ml-writer'])
    const tokenFile = first.files.hostPath(
      first.files.container('app'),
      '/var/run/secrets/irsa-broker/serviceaccount/token',
    )
    for (const profile of ['ml-reader', 'ml-writer'])
      expect(config).toContain(
        `credential_process = ${executable} credential-process --endpoint ${broker.url} --token-file ${tokenFile} --role ${profile}\n`,
      )
    // The app container points at the same file.
    expect(first.files.env(first.files.container('app')).AWS_CONFIG_FILE).toBe(join(emptyDir, 'config'))
  })
})

describe('unmodified AWS clients in the app container, with exactly its environment', () => {
  test(
    'AWS CLI: the default role through the container provider, ml-writer through its profile (the executable in the emptyDir)',
    async () => {
      const env = appEnv(first)
      const [reader, writer] = await Promise.all([awsCli(env), awsCli(env, '--profile', 'ml-writer')])
      expect(ok<CallerIdentity>('aws (default)', reader).Arn).toBe(READER_SESSION_ARN)
      expect(ok<CallerIdentity>('aws --profile ml-writer', writer).Arn).toBe(WRITER_SESSION_ARN)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'boto3: the default chain takes the container provider (ml-reader); Session(profile_name="ml-writer") runs credential_process',
    async () => {
      const env = appEnv(first)
      const [defaults] = ok<Identities[]>(
        'boto3 default',
        await runProcess('python3', [BOTO3_SCRIPT, broker.stsEndpoint], { env, redactor }),
      )
      expect([defaults?.credentialMethod, defaults?.calls.map((c) => c.Arn)]).toEqual([
        'container-role',
        [READER_SESSION_ARN],
      ])
      const [writer] = ok<Identities[]>(
        'boto3 ml-writer',
        await runProcess('python3', [BOTO3_SCRIPT, broker.stsEndpoint, '--profile', 'ml-writer'], {
          env,
          redactor,
        }),
      )
      expect([writer?.credentialMethod, writer?.calls.map((c) => c.Arn)]).toEqual([
        'custom-process',
        [WRITER_SESSION_ARN],
      ])
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'AWS SDK for JavaScript v3: the default chain (ml-reader), AWS_PROFILE=ml-writer, and fromProcess({ profile: "ml-reader" })',
    async () => {
      const sdk = (extra: Record<string, string>, ...args: string[]) =>
        runProcess('node', [JS_SDK_SCRIPT, '--sts', broker.stsEndpoint, ...args], {
          env: appEnv(first, extra),
          redactor,
        })
      const [chain, profile, process] = await Promise.all([
        sdk({}, '--provider', 'chain'),
        sdk({ AWS_PROFILE: 'ml-writer' }, '--provider', 'chain'),
        sdk({}, '--provider', 'process', '--profile', 'ml-reader'),
      ])
      expect(ok<Identities>('js chain', chain).calls.map((c) => c.Arn)).toEqual([READER_SESSION_ARN])
      expect(ok<Identities>('js AWS_PROFILE=ml-writer', profile).calls.map((c) => c.Arn)).toEqual([
        WRITER_SESSION_ARN,
      ])
      expect(ok<Identities>('js fromProcess ml-reader', process).calls.map((c) => c.Arn)).toEqual([
        READER_SESSION_ARN,
      ])
    },
    TEST_TIMEOUT_MS,
  )
})

describe('bindings change: the next pod start follows', () => {
  test(
    "a role bound later appears in the next pod's profiles and works; a role unbound is gone from the next pod, and refused to the old one",
    async () => {
      await adminPut(
        broker,
        '/v1/admin/issuers/onprem-a/bindings/ml-batch',
        {
          roleArn: BATCH_ROLE_ARN,
          profile: 'ml-batch',
          subjects: ['system:serviceaccount:ml:*'],
          sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
        },
        redactor,
      )
      const second = await startPod()
      expect(second.configure.code, describeRun('configure (second pod)', second.configure, redactor)).toBe(0)
      const secondConfig = readFileSync(
        join(second.files.volumeDir('irsa-broker-profiles'), 'config'),
        'utf8',
      )
      expect(profilesIn(secondConfig)).toEqual(['ml-batch', 'ml-reader', 'ml-writer'])
      expect(
        ok<CallerIdentity>('aws --profile ml-batch', await awsCli(appEnv(second), '--profile', 'ml-batch'))
          .Arn,
      ).toBe(BATCH_SESSION_ARN)

      const deleted = await runCli(['bindings', 'delete', 'onprem-a/ml-writer', '--endpoint', broker.url], {
        redactor,
        env: { IRSA_BROKER_ADMIN_TOKEN: broker.adminToken },
      })
      expect(deleted.code, describeRun('bindings delete', deleted, redactor)).toBe(0)
      const third = await startPod()
      expect(third.configure.code, describeRun('configure (third pod)', third.configure, redactor)).toBe(0)
      const thirdConfig = readFileSync(join(third.files.volumeDir('irsa-broker-profiles'), 'config'), 'utf8')
      expect(profilesIn(thirdConfig)).toEqual(['ml-batch', 'ml-reader'])
      // The first pod still has the profile; the broker refuses it.
      const refused = await awsCli(appEnv(first), '--profile', 'ml-writer')
      expect(
        refused.code,
        describeRun('aws --profile ml-writer after unbinding', refused, redactor),
      ).not.toBe(0)
      expect(refused.stderr).toMatch(/AccessDenied/)
    },
    TEST_TIMEOUT_MS * 3,
  )
  test(
    'the first pod restarted (its emptyDir kept, the init container run again): the profile of the unbound role is taken back, the new one added',
    async () => {
      const init = first.files.container('irsa-broker-configure')
      const [command, ...args] = first.files.commandLine(init)
      const again = await runProcess(command as string, args, {
        env: first.files.env(init),
        cwd: makeTempDir(tempDirs, 'irsa-broker-e2e-cwd-'),
        redactor,
      })
      expect(again.code, describeRun('configure (restart)', again, redactor)).toBe(0)
      const config = readFileSync(join(first.files.volumeDir('irsa-broker-profiles'), 'config'), 'utf8')
      expect(profilesIn(config).sort()).toEqual(['ml-batch', 'ml-reader'])
      expect(statSync(join(first.files.volumeDir('irsa-broker-profiles'), 'config')).mode & 0o777).toBe(0o644)
    },
    TEST_TIMEOUT_MS,
  )
})

describe('the self-contained executable (/usr/local/bin/irsa-broker of the agent image)', () => {
  test(
    'copied alone into an empty folder, with an empty environment (no PATH, no HOME), prints credentials for the role from the broker',
    async () => {
      const dir = makeTempDir(tempDirs, 'irsa-broker-e2e-sea-')
      const executable = join(dir, 'irsa-broker')
      copyFileSync(agent.executable, executable)
      const token = await issuer.mint({ namespace: 'ml', serviceAccount: 'trainer' })
      redactor.add(token)
      const tokenFile = writeTokenFile(dir, 'token', token)
      const result = await runProcess(
        executable,
        ['credential-process', '--endpoint', broker.url, '--token-file', tokenFile, '--role', 'ml-reader'],
        { env: {}, cwd: dir, redactor },
      )
      expect(result.code, describeRun('irsa-broker credential-process', result, redactor)).toBe(0)
      expect(result.stderr).toBe('')
      const credentials = JSON.parse(result.stdout)
      expect(credentials).toMatchObject({ Version: 1, AssumedRoleArn: READER_SESSION_ARN })
      expect(Object.keys(credentials)).toEqual(
        expect.arrayContaining(['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration']),
      )
    },
    TEST_TIMEOUT_MS,
  )
})
