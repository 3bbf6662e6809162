// The Kubernetes examples in infra/kubernetes/, parsed with the yaml package and checked for
// what the broker and the AWS SDKs rely on: a projected token with the broker's audience and a
// lifetime the broker accepts, the container-provider variables pointing at that token, and
// the credential_process profiles exactly as `irsa-broker configure` writes them.
import { readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { getConfigValue, parseAwsConfig, profileSection } from '../../../cli/aws-config.js'
import { credentialProcessLine } from '../../../cli/configure.js'
import { parseEndpoint } from '../../../cli/endpoint.js'

const DIR = join(import.meta.dirname, '../../../infra/kubernetes')
/** The audience the docs register issuers with, and the broker's default maximum token lifetime. */
const AUDIENCE = 'irsa-broker'
const MAX_TOKEN_LIFETIME_SECONDS = 86400
const PROFILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const AWS_SECRET_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
]

// biome-ignore lint/suspicious/noExplicitAny: manifests are arbitrary YAML, checked field by field below.
type Manifest = Record<string, any>

const files = readdirSync(DIR).filter((name) => name.endsWith('.yaml'))

const load = (name: string): Manifest[] => {
  const documents = parseAllDocuments(readFileSync(join(DIR, name), 'utf8'), { uniqueKeys: true })
  expect(documents.length).toBeGreaterThan(0)
  return [...documents].map((document) => {
    expect(document.errors, `${name}: YAML errors`).toEqual([])
    return document.toJS() as Manifest
  })
}

const workloadsOf = (manifests: Manifest[]) =>
  manifests.filter((m) => ['Deployment', 'StatefulSet', 'Job', 'Pod'].includes(m.kind))

const podSpec = (workload: Manifest): Manifest =>
  workload.kind === 'Pod'
    ? workload.spec
    : workload.kind === 'Job'
      ? workload.spec.template.spec
      : workload.spec.template.spec

const envOf = (container: Manifest): Record<string, string> =>
  Object.fromEntries((container.env ?? []).map((entry: Manifest) => [entry.name, entry.value]))

/** The mounted path of a file a container reads, resolved through its volumeMounts to the volume and item. */
const volumeFor = (spec: Manifest, container: Manifest, path: string) => {
  const mount = (container.volumeMounts ?? []).find((m: Manifest) => m.mountPath === dirname(path))
  expect(mount, `a volumeMount at ${dirname(path)}`).toBeDefined()
  const volume = (spec.volumes ?? []).find((v: Manifest) => v.name === mount.name)
  expect(volume, `volume ${mount.name}`).toBeDefined()
  return { volume, item: basename(path) }
}

/** Asserts the file is a projected service-account token the broker accepts, and returns its source. */
const expectProjectedToken = (spec: Manifest, container: Manifest, path: string) => {
  const { volume, item } = volumeFor(spec, container, path)
  const source = volume.projected?.sources?.find((s: Manifest) => s.serviceAccountToken)?.serviceAccountToken
  expect(source, `${path} comes from a projected serviceAccountToken`).toBeDefined()
  expect(source.path).toBe(item)
  expect(source.audience).toBe(AUDIENCE)
  expect(source.expirationSeconds).toBe(3600)
  // Kubernetes' minimum, and the broker's default maximum lifetime.
  expect(source.expirationSeconds).toBeGreaterThanOrEqual(600)
  expect(source.expirationSeconds).toBeLessThanOrEqual(MAX_TOKEN_LIFETIME_SECONDS)
}

describe('infra/kubernetes manifests', () => {
  it('are there: the container-provider example and the multi-role profiles example', () => {
    expect(files.sort()).toEqual(['workload-container-provider.yaml', 'workload-profiles.yaml'])
  })

  it.each(files)(
    '%s: every document parses and names apiVersion, kind, metadata.name and a namespace',
    (name) => {
      for (const manifest of load(name)) {
        expect(manifest.apiVersion).toEqual(expect.any(String))
        expect(manifest.kind).toEqual(expect.any(String))
        expect(manifest.metadata?.name).toEqual(expect.any(String))
        expect(manifest.metadata?.namespace).toEqual(expect.any(String))
      }
    },
  )

  it.each(files)(
    '%s: each workload runs as a ServiceAccount of the same file, without the legacy default token or static AWS keys',
    (name) => {
      const manifests = load(name)
      const workloads = workloadsOf(manifests)
      expect(workloads.length).toBeGreaterThan(0)
      for (const workload of workloads) {
        const spec = podSpec(workload)
        const account = manifests.find(
          (m) =>
            m.kind === 'ServiceAccount' &&
            m.metadata.name === spec.serviceAccountName &&
            m.metadata.namespace === workload.metadata.namespace,
        )
        expect(account, `ServiceAccount ${spec.serviceAccountName}`).toBeDefined()
        expect(spec.automountServiceAccountToken).toBe(false)
        expect(account?.automountServiceAccountToken).toBe(false)
        for (const container of spec.containers) {
          for (const variable of AWS_SECRET_VARIABLES) expect(envOf(container)).not.toHaveProperty(variable)
        }
      }
    },
  )

  it('workload-container-provider.yaml: the container variables name the broker over https and a projected token with audience irsa-broker', () => {
    const [workload] = workloadsOf(load('workload-container-provider.yaml'))
    const spec = podSpec(workload as Manifest)
    const [container] = spec.containers
    const env = envOf(container)
    const uri = new URL(env.AWS_CONTAINER_CREDENTIALS_FULL_URI as string)
    // The SDKs allow plain http only to loopback and the ECS/EKS agent addresses.
    expect(uri.protocol).toBe('https:')
    expect(uri.pathname).toBe('/v1/credentials')
    expect([...uri.searchParams.keys()]).toEqual(['role'])
    expect(uri.searchParams.get('role')).toMatch(PROFILE)
    expectProjectedToken(spec, container, env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as string)
    expect(env.AWS_REGION).toMatch(/^[a-z]{2}-[a-z]+-\d$/)
  })

  it('workload-profiles.yaml: the mounted AWS config holds one credential_process profile per role, exactly as configure writes it', () => {
    const manifests = load('workload-profiles.yaml')
    const [workload] = workloadsOf(manifests)
    const spec = podSpec(workload as Manifest)
    const [container] = spec.containers
    const env = envOf(container)

    const { volume, item } = volumeFor(spec, container, env.AWS_CONFIG_FILE as string)
    const configMap = manifests.find(
      (m) => m.kind === 'ConfigMap' && m.metadata.name === volume.configMap?.name,
    )
    expect(configMap, `ConfigMap ${volume.configMap?.name}`).toBeDefined()
    const key = volume.configMap.items.find((i: Manifest) => i.path === item).key
    const config = parseAwsConfig(configMap?.data[key], 'ConfigMap')

    const profiles = config.lines.filter((line) => line.kind === 'section').map((line) => line.section)
    expect(profiles).toEqual(['profile ml-reader', 'profile ml-writer'])
    expect(profiles).toContain(profileSection(env.AWS_PROFILE as string))
    for (const section of profiles) {
      const profile = (section as string).replace(/^profile /, '')
      const line = getConfigValue(config, section as string, 'credential_process') as string
      const tokenFile = /--token-file (\S+)/.exec(line)?.[1] as string
      expect(`credential_process = ${line}`).toBe(
        `credential_process = ${credentialProcessLine({
          node: '/usr/local/bin/node',
          script: '/opt/irsa-broker/irsa-broker.mjs',
          endpoint: parseEndpoint('https://irsa-broker.example.com', 'configure'),
          tokenFile,
          profile,
        })}`,
      )
      expectProjectedToken(spec, container, tokenFile)
    }
    expect(env.AWS_REGION).toMatch(/^[a-z]{2}-[a-z]+-\d$/)
  })
})
