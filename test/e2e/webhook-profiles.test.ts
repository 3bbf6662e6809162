// The webhook's promise end to end, without a cluster: a ServiceAccount annotated
// `irsa-broker.io/role: ml-reader` and `irsa-broker.io/profiles: "true"` in the Kubernetes API,
// a pod of it sent as an AdmissionReview to the running webhook, and the AWS CLI, boto3 and the
// AWS SDK for JavaScript come out calling STS as the default role and as every role of the
// pod's profiles. Real here: `irsa-broker webhook` (the agent image's files as its Dockerfile
// builds them, no node_modules, started as its Deployment starts it), its HTTPS and TLS
// (make-certs.sh's certificate), the JSON Patch it answers (applied with fast-json-patch), the
// init container's `irsa-broker configure` and the self-contained executable it copies, the
// local broker of `npm start`, and the three AWS clients unmodified. Loopback stand-ins for what
// cannot run on this machine (no API server, kubelet, container engine or AWS):
// - the Kubernetes API: test/support/kube-api.ts (ServiceAccount list/watch/get over HTTPS with
//   a bearer token), reached through a kubeconfig instead of the in-cluster ServiceAccount;
// - the API server's admission call: an HTTPS client trusting only make-certs.sh's CA (the
//   caBundle) and checking the Service's DNS name, on the path of the configuration's entry
//   whose namespaceSelector selects the pod's namespace;
// - kubelet and the container runtime: test/support/kubelet.ts lays out the volumes in a folder
//   (the projected token minted by a stand-in issuer, test/support/workload-issuer.ts, with the
//   volume's audience and lifetime; the emptyDir; the Secret and ConfigMap keys) and builds each
//   container's command line and environment, absolute paths mapped into that folder or the
//   image's files; containers are processes of this machine, distroless's node is this node;
// - AWS: moto_server for STS and dynalite for the broker's table, both behind the local broker.
// The self-contained executable is also run alone, with no PATH at all.
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import jsonpatch from 'fast-json-patch'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { AdmissionAnswer, JsonPatchAdd } from '../../dataplane/core/index.js'
import { matchesLabelSelector } from '../../dataplane/core/label-selector.js'
import { AGENT_BUILD_TIMEOUT_MS, type AgentTree, buildAgentTree } from '../support/agent-build.js'
import { parseDockerfile } from '../support/dockerfile.js'
import {
  ACCOUNT,
  type CallerIdentity,
  type Identities,
  READER_SESSION_ARN,
  registerMlWorkload,
  sessionArn,
  WRITER_SESSION_ARN,
} from '../support/e2e-workload.js'
import { eventually } from '../support/eventually.js'
import { type KubeApiStandIn, kubeconfigFor, startKubeApiStandIn } from '../support/kube-api.js'
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
import { createTestCa, type TestCa } from '../support/test-ca.js'
import { createWebhookClient, podReview, type WebhookClient } from '../support/webhook-client.js'
import { followWebhook, type WebhookProcess } from '../support/webhook-process.js'
import type { TestIssuer } from '../support/workload-issuer.js'

const HERE = import.meta.dirname
const BOTO3_SCRIPT = join(HERE, 'boto3_identities.py')
const JS_SDK_SCRIPT = join(HERE, 'js_sdk_identities.mjs')
const AGENT = join(ROOT, 'infra/kubernetes/agent')
const API_TOKEN = 'stand-in-api-token-for-the-e2e-webhook'
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
/** The namespace's labels as the API server sets them: no irsa-broker.io/inject. */
const NAMESPACE_LABELS = { 'kubernetes.io/metadata.name': 'ml' }
const SERVICE_ACCOUNT_ANNOTATIONS = { 'irsa-broker.io/role': 'ml-reader', 'irsa-broker.io/profiles': 'true' }

const redactor = createRedactor()
const tempDirs: string[] = []
let broker: LocalBroker
let issuer: TestIssuer
let agent: AgentTree
let testCa: TestCa
let api: KubeApiStandIn
/** The webhook's image, as the Deployment names it: also the image of the init container it adds. */
let agentImage = ''

interface RunningWebhook {
  process: WebhookProcess
  /** The API server's side: trusts make-certs.sh's CA only (the caBundle), checks the Service's name. */
  client: WebhookClient
  /** The path of the configuration's entry that selects namespace ml. */
  path: string
}
let webhook: RunningWebhook | undefined

/** The webhook's answer to a review, on the path the API server would call for namespace ml. */
const webhookAnswer = async (review: unknown): Promise<AdmissionAnswer> => {
  const running = webhook as RunningWebhook
  const answer = await running.client.post(running.path, review)
  expect(answer.status, answer.body).toBe(200)
  return JSON.parse(answer.body) as AdmissionAnswer
}

const reviewOf = (pod: Record<string, unknown>) => podReview(pod, { namespace: 'ml', uid: randomUUID() })

const patchOf = (answer: AdmissionAnswer) =>
  JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')) as JsonPatchAdd[]

/** The pod as the API server stores it after the patch (fast-json-patch, every operation validated). */
const applied = (pod: unknown, patch: JsonPatchAdd[]) =>
  jsonpatch.applyPatch(structuredClone(pod), patch, true, false).newDocument as PodObject

/**
 * Starts `irsa-broker webhook` as the Deployment of infra/kubernetes/agent/manual-tls runs it:
 * the image's ENTRYPOINT (Dockerfile) with the container's arguments and environment (and
 * nothing else of this machine's: no PATH, no HOME), its TLS Secret from make-certs.sh, the
 * settings ConfigMap with the broker's URL and the arguments with a region (as an admin's
 * overlay sets them), no rules ConfigMap (it is optional). Only these differ from a cluster:
 * ports 0 instead of 9443 and 9090, bound to 127.0.0.1, and the Kubernetes API from a
 * kubeconfig (the stand-in) instead of the in-cluster ServiceAccount.
 */
const startWebhook = async (): Promise<RunningWebhook> => {
  const certs = makeTempDir(tempDirs, 'irsa-broker-e2e-certs-')
  const made = spawnSync(join(AGENT, 'manual-tls/make-certs.sh'), [certs], { encoding: 'utf8' })
  expect(made.status, made.stderr).toBe(0)
  const { manifests } = renderKustomization(join(AGENT, 'manual-tls'))
  const deployment = manifests.find((m) => m.kind === 'Deployment') as PodObject
  const settings = structuredClone(manifests.find((m) => m.kind === 'ConfigMap') as PodObject)
  settings.data['broker-url'] = broker.url
  const base64 = (name: string) => readFileSync(join(certs, name)).toString('base64')
  const template = deployment.spec.template
  const secret = {
    kind: 'Secret',
    metadata: { name: template.spec.volumes.find((v: PodObject) => v.secret).secret.secretName },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': base64('tls.crt'), 'tls.key': base64('tls.key') },
  }
  const runtime = parseDockerfile(readFileSync(join(AGENT, 'Dockerfile'), 'utf8')).stages.at(-1)
  const entrypoint = runtime?.instructions.find((i) => i.keyword === 'ENTRYPOINT')?.args
  const container = template.spec.containers[0] as PodObject
  // The region, as the overlay of docs/data-planes.md adds it: the AWS CLI and boto3 need one.
  container.args.push('--region', 'us-east-1')
  agentImage = container.image
  const pod = await layOutPod({
    pod: template,
    namespace: deployment.metadata.namespace,
    root: makeTempDir(tempDirs, 'irsa-broker-e2e-webhook-pod-'),
    // The tree build-agent.mjs makes is what the runtime stage copies to /; distroless's node is this node.
    images: {
      [agentImage]: { root: agent.root, entrypoint, programs: { '/nodejs/bin/node': process.execPath } },
    },
    objects: [settings, secret],
  })
  // Ephemeral ports (the webhook logs the ones it got) instead of the Deployment's fixed ones.
  const line = pod
    .commandLine(container)
    .map((arg, index, all) =>
      all[index - 1] === '--port' || all[index - 1] === '--metrics-port' ? '0' : arg,
    )
  const kubeconfig = join(certs, 'kubeconfig')
  writeFileSync(kubeconfig, kubeconfigFor(api, testCa.cert, API_TOKEN))
  const running = followWebhook(
    spawn(line[0] as string, [...line.slice(1), '--address', '127.0.0.1'], {
      env: { ...pod.env(container), KUBECONFIG: kubeconfig },
      cwd: makeTempDir(tempDirs, 'irsa-broker-e2e-webhook-cwd-'),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  // The entry the API server calls for a pod of namespace ml, and the name it gives the Service.
  const configuration = manifests.find((m) => m.kind === 'MutatingWebhookConfiguration') as PodObject
  const entries = configuration.webhooks.filter((w: PodObject) =>
    matchesLabelSelector(w.namespaceSelector, new Map(Object.entries(NAMESPACE_LABELS))),
  )
  expect(entries.map((w: PodObject) => w.name)).toEqual(['annotated.webhook.irsa-broker.io'])
  const service = entries[0].clientConfig.service
  const started = await running.line('webhook started', 60_000)
  const client = createWebhookClient({
    port: Number(started.port),
    ca: readFileSync(join(certs, 'ca.crt')),
    servername: `${service.name}.${service.namespace}.svc`,
  })
  // Ready once its ServiceAccount view has synced, as the readiness probe sees it.
  await running.line('webhook ready', 60_000)
  const ready = await client.send('GET', container.readinessProbe.httpGet.path)
  expect(ready.status, ready.body).toBe(200)
  return { process: running, client, path: service.path }
}

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
  const patch = patchOf(answer)
  const patched = applied(POD, patch)
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
    // Each function has its own registry cache, as in AWS: with no TTL a binding change reaches
    // the roles and credentials functions at the next request (the tests below change bindings).
    broker = await startLocalBroker({
      adminToken,
      redactor,
      tempDirs,
      env: { IRSA_BROKER_CACHE_TTL_SECONDS: '0', IRSA_BROKER_CACHE_STALE_SECONDS: '0' },
    })
    issuer = await registerMlWorkload(broker, redactor)
    testCa = createTestCa()
    const apiCert = testCa.issue(['kubernetes.default.svc'])
    api = await startKubeApiStandIn({ cert: apiCert.cert, key: apiCert.key, token: API_TOKEN })
    api.apply('ml', 'trainer', SERVICE_ACCOUNT_ANNOTATIONS)
    webhook = await startWebhook()
    first = await startPod()
  },
  AGENT_BUILD_TIMEOUT_MS + BROKER_START_TIMEOUT_MS + TEST_TIMEOUT_MS,
)

stopAfterAll(() => broker, tempDirs)

afterAll(async () => {
  if (webhook) {
    webhook.client.close()
    webhook.process.child.kill('SIGTERM')
    expect(await webhook.process.exited, `the webhook stops on SIGTERM: ${webhook.process.stderr()}`).toBe(0)
  }
  await api?.stop()
  testCa?.remove()
}, 30_000)

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

  test(
    'the annotations are read from the Kubernetes API: a pod of a ServiceAccount without them passes unchanged; annotated later, the next pod is wired (the watch updates the view)',
    async () => {
      api.apply('ml', 'builder')
      const pod = { ...POD, spec: { ...POD.spec, serviceAccountName: 'builder' } }
      const plain = await webhookAnswer(reviewOf(pod))
      expect(plain.response.allowed).toBe(true)
      expect(plain.response.patch).toBeUndefined()
      api.apply('ml', 'builder', { 'irsa-broker.io/role': 'ml-writer' })
      await eventually(async () => {
        const answer = await webhookAnswer(reviewOf(pod))
        expect(answer.response.patchType).toBe('JSONPatch')
        const app = applied(pod, patchOf(answer)).spec.containers[0]
        expect(app.env).toContainEqual({
          name: 'AWS_CONTAINER_CREDENTIALS_FULL_URI',
          value: `${broker.url}/v1/credentials?role=ml-writer`,
        })
      }, 10_000)
    },
    TEST_TIMEOUT_MS,
  )

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
