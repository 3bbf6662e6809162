// The key push's CronJob (infra/kubernetes/agent/key-sync), rendered as `kubectl apply -k` would
// send it (test/support/kustomize.ts), held to what `irsa-broker sync-keys` reads and to what
// the broker checks: the verb's flags, the projected token's audience and path, the subject the
// issuer's keySync names, and the same hardening as the webhook's Deployment.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseFlags } from '../../cli/command.js'
import { KEY_SYNC_TOKEN_FILE, syncKeysFlags } from '../../cli/commands/sync-keys.js'
import { KEY_SYNC_AUDIENCE } from '../../shared/core/model.js'
import { type Manifest, renderKustomization } from '../support/kustomize.js'

const KEY_SYNC = join(import.meta.dirname, '../../infra/kubernetes/agent/key-sync')
const { manifests } = renderKustomization(KEY_SYNC)
const one = (kind: string): Manifest => {
  const found = manifests.filter((manifest) => manifest.kind === kind)
  expect(found).toHaveLength(1)
  return found[0] as Manifest
}
const cronJob = one('CronJob')
const pod = cronJob.spec.jobTemplate.spec.template.spec
const container = pod.containers[0]

describe('key-sync CronJob', () => {
  it('holds a ServiceAccount, its settings and the CronJob, all in irsa-broker, and no RBAC (issuer discovery is granted to every ServiceAccount)', () => {
    expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ConfigMap/irsa-broker-key-sync-settings',
      'CronJob/irsa-broker-key-sync',
      'ServiceAccount/key-sync',
    ])
    for (const manifest of manifests) expect(manifest.metadata.namespace).toBe('irsa-broker')
  })

  it('every 5 minutes, one run at a time, bounded in time and retries, never wired by the webhook', () => {
    expect(cronJob.spec).toMatchObject({ schedule: '*/5 * * * *', concurrencyPolicy: 'Forbid' })
    expect(cronJob.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 120 })
    expect(pod.restartPolicy).toBe('Never')
    expect(cronJob.spec.jobTemplate.spec.template.metadata.labels['irsa-broker.io/inject']).toBe('false')
  })

  it('runs sync-keys with flags the verb takes, the issuer id and broker URL from the settings, the token where it is projected', () => {
    // Prepare
    const env = Object.fromEntries(
      container.env.map((variable: Manifest) => [variable.name, variable.valueFrom.configMapKeyRef.key]),
    )
    const [verb, ...argv] = container.args as string[]

    // Act
    const flags = parseFlags(
      syncKeysFlags,
      argv.map((arg) =>
        arg
          .replace('$(IRSA_BROKER_URL)', 'https://irsa-broker.example.com')
          .replace('$(IRSA_BROKER_ISSUER_ID)', 'onprem-a'),
      ),
    )

    // Assess
    expect(verb).toBe('sync-keys')
    expect(container.command).toBeUndefined()
    expect(env).toEqual({ IRSA_BROKER_URL: 'broker-url', IRSA_BROKER_ISSUER_ID: 'issuer-id' })
    expect(Object.keys(one('ConfigMap').data).sort()).toEqual(['broker-url', 'issuer-id'])
    expect(flags['issuer-id']).toBe('onprem-a')
    expect(flags['token-file']).toBe(KEY_SYNC_TOKEN_FILE)
    expect(flags.interval).toBeUndefined()
  })

  it('pushes with a projected token of audience irsa-broker-key-sync of its own ServiceAccount, mounted where --token-file reads it', () => {
    // Prepare
    const [volume] = pod.volumes
    const [mount] = container.volumeMounts

    // Act
    const token = volume.projected.sources[0].serviceAccountToken

    // Assess
    expect(pod.serviceAccountName).toBe(one('ServiceAccount').metadata.name)
    expect(`system:serviceaccount:irsa-broker:${pod.serviceAccountName}`).toBe(
      'system:serviceaccount:irsa-broker:key-sync',
    )
    expect(token).toEqual({ audience: KEY_SYNC_AUDIENCE, expirationSeconds: 600, path: 'token' })
    expect(mount).toEqual({
      name: volume.name,
      mountPath: '/var/run/secrets/irsa-broker/key-sync',
      readOnly: true,
    })
    expect(`${mount.mountPath}/${token.path}`).toBe(KEY_SYNC_TOKEN_FILE)
  })

  it("the agent's image, set by the images transformer; non-root, read-only, no capabilities (Pod Security restricted)", () => {
    expect(container.image).toBe('registry.example.com/irsa-broker/agent:0.1.0')
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    })
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    })
    expect(container.resources.limits.memory).toEqual(expect.any(String))
  })
})
