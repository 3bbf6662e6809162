// The webhook's manifests (infra/kubernetes/agent), rendered as `kubectl apply -k` would send them
// (test/support/kustomize.ts) for both install paths, and checked for what the design and the
// public webhooks' operators' scars (docs/decisions.md) ask: failurePolicy Fail only where a
// namespace asked for it, never kube-system or the webhook's own namespace, sideEffects None,
// reinvocation, a certificate for the Service's names, a hardened, highly available Deployment
// that reads only ServiceAccounts.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  type LabelSelector,
  labelSelectorSchema,
  matchesLabelSelector,
} from '../../dataplane/core/label-selector.js'
import { loadDocuments, type Manifest, readKustomization, renderKustomization } from '../support/kustomize.js'

const ROOT = join(import.meta.dirname, '../..')

/** A selector of the manifests, checked well-formed, evaluated with the API's semantics (the webhook core's). */
const selects = (selector: LabelSelector | undefined, labels: Record<string, string>) => {
  expect(() => labelSelectorSchema.parse(selector ?? {})).not.toThrow()
  return matchesLabelSelector(selector ?? {}, new Map(Object.entries(labels)))
}
const AGENT = join(ROOT, 'infra/kubernetes/agent')
const NAMESPACE = 'irsa-broker'
const INJECT = 'irsa-broker.io/inject'

const withCertManager = renderKustomization(AGENT)
const manualTls = renderKustomization(join(AGENT, 'manual-tls'))
/** The key push's CronJob, installed on its own (test/unit/kubernetes-key-sync.test.ts checks it). */
const keySync = renderKustomization(join(AGENT, 'key-sync'))

const find = (manifests: Manifest[], kind: string, name?: string): Manifest => {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name))
  expect(found.length, `${kind}${name ? `/${name}` : ''}`).toBe(1)
  return found[0] as Manifest
}

const { manifests } = withCertManager
const deployment = find(manifests, 'Deployment')
const pod = deployment.spec.template
const [container] = pod.spec.containers as Manifest[]
const args = container?.args as string[]
const argOf = (name: string) => {
  const index = args.indexOf(name)
  expect(index, `argument ${name}`).toBeGreaterThan(-1)
  return args[index + 1] as string
}
const service = find(manifests, 'Service')
const configuration = find(manifests, 'MutatingWebhookConfiguration')
const webhooks = configuration.webhooks as Manifest[]

/** Namespaces of every kind the selectors must tell apart, with the labels the API server sets. */
const namespaceLabels = (name: string, labels: Record<string, string> = {}) => ({
  'kubernetes.io/metadata.name': name,
  ...labels,
})
const NAMESPACES = {
  'kube-system': namespaceLabels('kube-system'),
  'own namespace': namespaceLabels(NAMESPACE, find(manifests, 'Namespace').metadata.labels),
  'own namespace, labelled enabled by mistake': namespaceLabels(NAMESPACE, { [INJECT]: 'enabled' }),
  'kube-system, labelled enabled by mistake': namespaceLabels('kube-system', { [INJECT]: 'enabled' }),
  'a labelled namespace': namespaceLabels('ml', { [INJECT]: 'enabled' }),
  'a plain namespace': namespaceLabels('default'),
  'a namespace labelled otherwise': namespaceLabels('batch', { [INJECT]: 'disabled' }),
}
const calledBy = (labels: Record<string, string>) =>
  webhooks.filter((webhook) => selects(webhook.namespaceSelector, labels)).map((webhook) => webhook.name)

describe('the kustomizations', () => {
  it('base lists every manifest of its folder; the top adds cert-manager.yaml; manual-tls is the base alone', () => {
    const base = join(AGENT, 'base')
    const yaml = (dir: string) =>
      readdirSync(dir).filter(
        (name) => name.endsWith('.yaml') && !['kustomization.yaml', 'image-fields.yaml'].includes(name),
      )
    expect(readKustomization(base).resources.sort()).toEqual(yaml(base).sort())
    expect(readKustomization(AGENT).resources).toEqual(['base', ...yaml(AGENT)])
    expect(readKustomization(join(AGENT, 'manual-tls')).resources).toEqual(['../base'])
    expect(yaml(join(AGENT, 'manual-tls'))).toEqual([])
    // Every manifest file under infra/kubernetes/agent is read by one of the renderings.
    const all = readdirSync(AGENT, { recursive: true, encoding: 'utf8' })
      .filter((path) => path.endsWith('.yaml'))
      .map((path) => join(AGENT, path))
    const read = new Set([...withCertManager.files, ...manualTls.files, ...keySync.files])
    expect(all.filter((path) => !read.has(path)).map((path) => relative(AGENT, path))).toEqual([])
  })

  it('every object names apiVersion, kind and name; every namespaced one is in irsa-broker', () => {
    const clusterScoped = new Set([
      'Namespace',
      'ClusterRole',
      'ClusterRoleBinding',
      'MutatingWebhookConfiguration',
    ])
    for (const manifest of [...manifests, ...manualTls.manifests]) {
      expect(manifest.apiVersion).toEqual(expect.any(String))
      expect(manifest.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
      if (clusterScoped.has(manifest.kind)) expect(manifest.metadata.namespace).toBeUndefined()
      else
        expect(`${manifest.kind}/${manifest.metadata.name} ${manifest.metadata.namespace}`).toBe(
          `${manifest.kind}/${manifest.metadata.name} ${NAMESPACE}`,
        )
    }
    expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(
      [
        'Certificate/irsa-broker-webhook',
        'Certificate/irsa-broker-webhook-ca',
        'ClusterRole/irsa-broker-webhook',
        'ClusterRoleBinding/irsa-broker-webhook',
        'ConfigMap/irsa-broker-webhook-settings',
        'Deployment/irsa-broker-webhook',
        'Issuer/irsa-broker-ca',
        'Issuer/irsa-broker-selfsigned',
        'MutatingWebhookConfiguration/irsa-broker',
        'Namespace/irsa-broker',
        'PodDisruptionBudget/irsa-broker-webhook',
        'Service/irsa-broker-webhook',
        'ServiceAccount/irsa-broker-webhook',
      ].sort(),
    )
    expect(
      manualTls.manifests.map((m) => m.kind).filter((kind) => ['Issuer', 'Certificate'].includes(kind)),
    ).toEqual([])
  })

  it('one image for the webhook and the init container it adds: the images transformer sets both', () => {
    expect(container?.image).toBe('registry.example.com/irsa-broker/agent:0.1.0')
    const agentImage = container?.env.find((e: Manifest) => e.name === 'AGENT_IMAGE')
    expect(agentImage.value).toBe(container?.image)
    expect(argOf('--agent-image')).toBe('$(AGENT_IMAGE)')
  })
})

describe('MutatingWebhookConfiguration', () => {
  it('two entries, each: CREATE of v1 pods only, sideEffects None, reinvocation IfNeeded, 5 s, AdmissionReview v1, Equivalent', () => {
    expect(webhooks).toHaveLength(2)
    for (const webhook of webhooks) {
      expect(webhook.rules).toEqual([
        {
          operations: ['CREATE'],
          apiGroups: [''],
          apiVersions: ['v1'],
          resources: ['pods'],
          scope: 'Namespaced',
        },
      ])
      expect(webhook.sideEffects).toBe('None')
      expect(webhook.reinvocationPolicy).toBe('IfNeeded')
      expect(webhook.timeoutSeconds).toBe(5)
      expect(webhook.admissionReviewVersions).toEqual(['v1'])
      expect(webhook.matchPolicy).toBe('Equivalent')
      expect(webhook.name).toMatch(/^[a-z0-9-]+(\.[a-z0-9-]+){2,}$/)
    }
  })

  it('Fail only for namespaces labelled irsa-broker.io/inject=enabled (path /mutate/namespace); Ignore for the rest (path /mutate)', () => {
    const byPolicy = Object.fromEntries(webhooks.map((w) => [w.failurePolicy, w]))
    expect(Object.keys(byPolicy).sort()).toEqual(['Fail', 'Ignore'])
    expect(byPolicy.Fail.clientConfig.service.path).toBe('/mutate/namespace')
    expect(byPolicy.Ignore.clientConfig.service.path).toBe('/mutate')
    expect(selects(byPolicy.Fail.namespaceSelector, NAMESPACES['a labelled namespace'])).toBe(true)
    for (const name of ['a plain namespace', 'a namespace labelled otherwise'] as const)
      expect(selects(byPolicy.Fail.namespaceSelector, NAMESPACES[name]), name).toBe(false)
  })

  it("every namespace is called by exactly one entry, except kube-system and the webhook's own, called by none, labelled or not", () => {
    expect(
      Object.fromEntries(Object.entries(NAMESPACES).map(([name, labels]) => [name, calledBy(labels)])),
    ).toEqual({
      'kube-system': [],
      'own namespace': [],
      'own namespace, labelled enabled by mistake': [],
      'kube-system, labelled enabled by mistake': [],
      'a labelled namespace': ['labelled-namespaces.webhook.irsa-broker.io'],
      'a plain namespace': ['annotated.webhook.irsa-broker.io'],
      'a namespace labelled otherwise': ['annotated.webhook.irsa-broker.io'],
    })
    // The own namespace of the exclusions is the one the webhook runs in.
    expect(find(manifests, 'Namespace').metadata.name).toBe(deployment.metadata.namespace)
  })

  it('pods labelled irsa-broker.io/inject=false are never sent; every other pod is', () => {
    for (const webhook of webhooks) {
      expect(selects(webhook.objectSelector, { [INJECT]: 'false', app: 'x' })).toBe(false)
      expect(selects(webhook.objectSelector, { app: 'x' })).toBe(true)
      expect(selects(webhook.objectSelector, {})).toBe(true)
      expect(selects(webhook.objectSelector, { [INJECT]: 'true' })).toBe(true)
    }
    // The webhook's own pods carry the opt-out label too.
    expect(pod.metadata.labels[INJECT]).toBe('false')
  })

  it("calls the Service on 443, which forwards to the container's https port, the one the webhook listens on", () => {
    for (const webhook of webhooks) {
      expect(webhook.clientConfig.url).toBeUndefined()
      expect(webhook.clientConfig.service).toMatchObject({
        name: service.metadata.name,
        namespace: NAMESPACE,
        port: 443,
      })
    }
    const https = service.spec.ports.find((p: Manifest) => p.port === 443)
    const port = container?.ports.find((p: Manifest) => p.name === https.targetPort)
    expect(port.containerPort).toBe(9443)
    expect(argOf('--port')).toBe(String(port.containerPort))
    expect(selects({ matchLabels: service.spec.selector }, pod.metadata.labels)).toBe(true)
  })
})

describe('TLS', () => {
  const certificate = find(manifests, 'Certificate', 'irsa-broker-webhook')

  it("cert-manager: a serving certificate for the Service's names, from a CA Issuer on a self-signed root, into the Secret the Deployment mounts", () => {
    expect(certificate.spec.dnsNames).toEqual([
      `${service.metadata.name}.${NAMESPACE}.svc`,
      `${service.metadata.name}.${NAMESPACE}.svc.cluster.local`,
    ])
    const issuer = find(manifests, 'Issuer', certificate.spec.issuerRef.name)
    const root = manifests.find(
      (m) => m.kind === 'Certificate' && m.spec.secretName === issuer.spec.ca?.secretName,
    )
    expect(root?.spec.isCA).toBe(true)
    expect(find(manifests, 'Issuer', root?.spec.issuerRef.name).spec.selfSigned).toEqual({})
    expect(certificate.spec.usages).toContain('server auth')
    // Renewed well before it expires; the root outlives many renewals.
    const hours = (duration: string) => Number(/^(\d+)h$/.exec(duration)?.[1])
    expect(hours(certificate.spec.renewBefore)).toBeLessThan(hours(certificate.spec.duration))
    expect(hours(root?.spec.duration)).toBeGreaterThan(10 * hours(certificate.spec.duration))

    const tls = pod.spec.volumes.find((v: Manifest) => v.secret?.secretName === certificate.spec.secretName)
    expect(tls, "the Deployment mounts the certificate's Secret").toBeDefined()
    const mount = container?.volumeMounts.find((m: Manifest) => m.name === tls.name)
    expect(mount.readOnly).toBe(true)
    expect(argOf('--tls-cert')).toBe(`${mount.mountPath}/tls.crt`)
    expect(argOf('--tls-key')).toBe(`${mount.mountPath}/tls.key`)
  })

  it("cert-manager's CA injector is pointed at that Certificate; the manual path carries no such annotation (make-certs.sh sets caBundle)", () => {
    expect(configuration.metadata.annotations).toEqual({
      'cert-manager.io/inject-ca-from': `${certificate.metadata.namespace}/${certificate.metadata.name}`,
    })
    const manual = find(manualTls.manifests, 'MutatingWebhookConfiguration')
    expect(manual.metadata.annotations).toBeUndefined()
    for (const webhook of webhooks) expect(webhook.clientConfig.caBundle).toBeUndefined()
  })

  it('make-certs.sh makes a certificate for the same Service names and Secret, and patches as many caBundles as there are entries', () => {
    const script = readFileSync(join(AGENT, 'manual-tls/make-certs.sh'), 'utf8')
    expect(statSync(join(AGENT, 'manual-tls/make-certs.sh')).mode & 0o111).not.toBe(0)
    expect(script).toContain(`namespace=\${NAMESPACE:-${NAMESPACE}}`)
    expect(script).toContain(`service=\${SERVICE:-${service.metadata.name}}`)
    expect(script).toContain(`secret=\${SECRET:-${certificate.spec.secretName}}`)
    expect(script).toContain(`configuration=\${WEBHOOK_CONFIGURATION:-${configuration.metadata.name}}`)
    expect(script).toContain(`entries=${webhooks.length}\n`)
  })
})

describe('Deployment', () => {
  it('two replicas spread over nodes, replaced one at a time, with a PodDisruptionBudget of minAvailable 1', () => {
    expect(deployment.spec.replicas).toBe(2)
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 })
    const [term] = pod.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution
    expect(term.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname')
    expect(selects(term.podAffinityTerm.labelSelector, pod.metadata.labels)).toBe(true)
    const budget = find(manifests, 'PodDisruptionBudget')
    expect(budget.spec.minAvailable).toBe(1)
    expect(selects(budget.spec.selector, pod.metadata.labels)).toBe(true)
    expect(deployment.spec.selector).toEqual(budget.spec.selector)
  })

  it('probes over HTTPS on the webhook port: /readyz (the ServiceAccount view synced) and /healthz', () => {
    expect(container?.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' })
    expect(container?.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' })
  })

  it('requests CPU and memory and limits memory', () => {
    expect(container?.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) })
    expect(container?.resources.limits.memory).toEqual(expect.any(String))
  })

  it('non-root, read-only root filesystem, no capabilities, no privilege escalation, seccomp RuntimeDefault (Pod Security "restricted")', () => {
    expect(pod.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    })
    expect(container?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    })
    expect(find(manifests, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe(
      'restricted',
    )
    expect(pod.spec.hostNetwork).toBeUndefined()
  })

  it('the broker URL, audience and token lifetime come from the settings ConfigMap; the broker URL is https', () => {
    const settings = find(manifests, 'ConfigMap', 'irsa-broker-webhook-settings')
    const fromSettings = (flag: string) => {
      const variable = /^\$\((\w+)\)$/.exec(argOf(flag))?.[1]
      const ref = container?.env.find((e: Manifest) => e.name === variable)?.valueFrom?.configMapKeyRef
      expect(ref?.name, `${flag} from the settings ConfigMap`).toBe(settings.metadata.name)
      return settings.data[ref.key] as string
    }
    expect(new URL(fromSettings('--broker-url')).protocol).toBe('https:')
    expect(fromSettings('--audience')).toBe('irsa-broker')
    expect(Number(fromSettings('--token-expiration'))).toBeGreaterThanOrEqual(600)
  })

  it('the rules ConfigMap is optional and mounted where --rules reads it', () => {
    const rules = pod.spec.volumes.find((v: Manifest) => v.configMap?.name === 'irsa-broker-webhook-rules')
    expect(rules.configMap.optional).toBe(true)
    const mount = container?.volumeMounts.find((m: Manifest) => m.name === rules.name)
    expect(mount).toMatchObject({ readOnly: true })
    expect(dirname(argOf('--rules'))).toBe(mount.mountPath)
    expect(manifests.some((m) => m.kind === 'ConfigMap' && m.metadata.name === rules.configMap.name)).toBe(
      false,
    )
  })

  it('runs as its ServiceAccount, which may only get, list and watch ServiceAccounts', () => {
    const account = find(manifests, 'ServiceAccount')
    expect(pod.spec.serviceAccountName).toBe(account.metadata.name)
    const role = find(manifests, 'ClusterRole')
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'list', 'watch'] },
    ])
    const binding = find(manifests, 'ClusterRoleBinding')
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: role.metadata.name,
    })
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: account.metadata.name, namespace: NAMESPACE },
    ])
    expect(manifests.filter((m) => ['Role', 'RoleBinding'].includes(m.kind))).toEqual([])
  })

  it("runs `irsa-broker webhook` through the image's entry point (node and the CLI bundle)", () => {
    expect(container?.command).toBeUndefined()
    expect(args[0]).toBe('webhook')
  })
})

describe('the YAML itself', () => {
  it('has no duplicate keys in any file (a later key would silently win)', () => {
    for (const file of [...new Set([...withCertManager.files, ...manualTls.files, ...keySync.files])])
      expect(() => loadDocuments(file)).not.toThrow()
  })
})
