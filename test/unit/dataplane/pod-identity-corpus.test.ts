// The public pod-identity webhook's own test pods (test/corpus/webhook-fixtures/pod-identity-webhook,
// Apache-2.0) through planPodMutation: their shapes and their behaviour, not their names. Each
// fixture's inputs (testing.* annotations, read as upstream's harness reads them) are mapped to
// irsa-broker's; upstream's expected patch is applied to the same pod, and per container the two
// results must agree on what was added: credentials, region, the token mount, the volume, a
// Windows token path, and the lifetime. Two differences are deliberate and named below.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import jsonpatch from 'fast-json-patch'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import type { WebhookRule } from '../../../dataplane/core/index.js'
import { CORPUS_DIR } from '../../support/corpus.js'
import { envOf, type Json, settingsOf, tokenExpirationOf, volumesOf, wire } from './fixtures.js'

const DIR = join(CORPUS_DIR, 'webhook-fixtures', 'pod-identity-webhook')
const TESTING = 'testing.eks.amazonaws.com/'

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? yamlFiles(join(dir, entry.name))
      : entry.name.endsWith('.pod.yaml')
        ? [join(dir, entry.name)]
        : [],
  )

interface Fixture {
  file: string
  /** The pod as upstream's harness hands it over: testing annotations out, default/default. */
  pod: Json
  testing: Record<string, string>
  podAnnotations: Record<string, string>
  expectedPatch: jsonpatch.Operation[]
}

const readFixture = (path: string): Fixture => {
  // Go's YAML takes the last of duplicate keys (rawPodWithInitContainer repeats serviceAccountName).
  const document = parse(readFileSync(path, 'utf8'), { uniqueKeys: false }) as Json
  const metadata = document.metadata as Json
  const annotations = (metadata.annotations ?? {}) as Record<string, string>
  const testing = Object.fromEntries(
    Object.entries(annotations)
      .filter(([key]) => key.startsWith(TESTING))
      .map(([key, value]) => [key.slice(TESTING.length), value]),
  )
  const podAnnotations = Object.fromEntries(
    Object.entries(annotations).filter(([key]) => !key.startsWith(TESTING)),
  )
  const { annotations: _dropped, ...rest } = metadata
  const pod = {
    ...document,
    metadata: {
      ...rest,
      ...(Object.keys(podAnnotations).length > 0 ? { annotations: podAnnotations } : {}),
      namespace: 'default',
    },
    spec: { ...(document.spec as Json), serviceAccountName: 'default' },
  }
  return {
    file: relative(DIR, path),
    pod,
    testing,
    podAnnotations,
    expectedPatch: JSON.parse(testing.expectedPatch ?? '[]'),
  }
}

const FIXTURES = yamlFiles(join(DIR, 'testdata')).sort().map(readFixture)

/** Upstream's volume names in a pod become ours; nothing else in the pod changes. */
const renameVolume = (pod: Json, from: string, to: string): Json => {
  const text = JSON.stringify(pod)
  return JSON.parse(text.replaceAll(`"name":"${from}"`, `"name":"${to}"`))
}

interface Mapped {
  pod: Json
  serviceAccount: { name: string; annotations: Record<string, string> }
  rules: WebhookRule[]
  region: string | undefined
  theirVolume: string
}

/** Upstream's inputs in irsa-broker's words (README of the corpus folder). */
const mapInputs = (fixture: Fixture): Mapped => {
  const t = fixture.testing
  const sa: Record<string, string> = {}
  if (t['serviceAccount/roleArn']) sa['irsa-broker.io/role'] = t['serviceAccount/roleArn']
  const expiration = t['serviceAccount/token-expiration'] ?? t['handler/expiration']
  if (expiration) sa['irsa-broker.io/token-expiration'] = expiration
  const containerCredentials = t['containercredentials/uri'] !== undefined
  const theirVolume = containerCredentials ? (t['containercredentials/volumeName'] ?? '') : 'aws-iam-token'
  const annotations = Object.fromEntries(
    Object.entries(fixture.podAnnotations).map(([key, value]) => [
      key.replace('eks.amazonaws.com/', 'irsa-broker.io/'),
      value,
    ]),
  )
  const pod = renameVolume(fixture.pod, theirVolume, 'irsa-broker-token')
  ;(pod.metadata as Json).annotations = Object.keys(annotations).length > 0 ? annotations : undefined
  if ((pod.metadata as Json).annotations === undefined) delete (pod.metadata as Json).annotations
  return {
    pod,
    serviceAccount: { name: 'default', annotations: sa },
    // Container-credentials mode lists default/default in a file: a rule says the same here.
    rules: containerCredentials ? [{ namespaces: ['default'], serviceAccounts: ['default'] }] : [],
    region: t['handler/region'],
    theirVolume,
  }
}

const THEIR_CREDENTIALS = [
  'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
]
const OUR_CREDENTIALS = ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE']
const REGION = ['AWS_REGION', 'AWS_DEFAULT_REGION']

const containersOf = (pod: Json): { list: 'initContainers' | 'containers'; index: number; name: string }[] =>
  (['initContainers', 'containers'] as const).flatMap((list) =>
    (((pod.spec as Json)[list] as Json[] | undefined) ?? []).map((c, index) => ({
      list,
      index,
      name: c.name as string,
    })),
  )

const added = (before: Record<string, string>, after: Record<string, string>) =>
  Object.keys(after).filter((name) => !(name in before))

const mountNames = (pod: Json, list: 'initContainers' | 'containers', index: number): string[] =>
  ((((pod.spec as Json)[list] as Json[])[index] as Json).volumeMounts as Json[] | undefined)?.map(
    (m) => m.name as string,
  ) ?? []

/** Upstream returns before adding the mount when every group is already set (its quirk). */
const THEIR_EARLY_RETURN = new Set(['testdata/rawPodHasAll.pod.yaml'])

describe('the public pod-identity webhook fixtures', () => {
  it('are all 24 there, as upstream numbers them', () => {
    expect(FIXTURES).toHaveLength(24)
    expect(FIXTURES.every((fixture) => fixture.testing.skip === 'false')).toBe(true)
  })

  it('agree with cases.json (derived from these YAML files)', () => {
    const cases = JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8')) as {
      count: number
      cases: { file: string; inputPod: Json; expectedPatch: unknown; expectedPodAfterPatch: Json }[]
    }
    expect(cases.count).toBe(FIXTURES.length)
    for (const fixture of FIXTURES) {
      const derived = cases.cases.find((c) => c.file === fixture.file)
      expect(derived, fixture.file).toBeDefined()
      expect(derived?.inputPod, fixture.file).toEqual(fixture.pod)
      expect(derived?.expectedPatch, fixture.file).toEqual(fixture.expectedPatch)
      expect(derived?.expectedPodAfterPatch, fixture.file).toEqual(
        jsonpatch.applyPatch(structuredClone(fixture.pod), fixture.expectedPatch, true, false).newDocument,
      )
    }
  })

  describe.each(FIXTURES.map((fixture) => [fixture.file, fixture] as const))('%s', (file, fixture) => {
    const mapped = mapInputs(fixture)
    // The harness' region flag is any string ("seattle"), which the settings' parser would refuse.
    const settings = { ...settingsOf({ tokenExpirationSeconds: 86400 }), region: mapped.region }
    const theirs = jsonpatch.applyPatch(structuredClone(fixture.pod), fixture.expectedPatch, true, false)
      .newDocument as Json
    // Planned inside the first test that needs it, so that a failed check fails a test, not the file.
    let memo: ReturnType<typeof wire> | undefined
    const run = () => {
      memo ??= wire(
        mapped.pod,
        { namespace: 'default', serviceAccount: mapped.serviceAccount, rules: mapped.rules },
        settings,
      )
      return memo
    }

    it('is wired, and only by additions that leave upstream fields as they were (generic check)', () => {
      expect(run().result.outcome).toBe('mutated')
    })

    it('adds credentials, region and the token mount to the same containers as upstream', () => {
      for (const { list, index, name } of containersOf(fixture.pod)) {
        const before = envOf(fixture.pod, list, index)
        const theirAdded = added(before, envOf(theirs, list, index))
        const ourAdded = added(before, envOf(run().patched, list, index))
        expect(
          ourAdded.some((v) => OUR_CREDENTIALS.includes(v)),
          `${name}: credentials`,
        ).toBe(theirAdded.some((v) => THEIR_CREDENTIALS.includes(v)))
        if (ourAdded.some((v) => OUR_CREDENTIALS.includes(v)))
          expect(ourAdded).toEqual(expect.arrayContaining(OUR_CREDENTIALS))
        expect(ourAdded.filter((v) => REGION.includes(v)).sort(), `${name}: region`).toEqual(
          theirAdded.filter((v) => REGION.includes(v)).sort(),
        )
        const theirMount =
          mountNames(theirs, list, index).filter((n) => n === mapped.theirVolume).length >
          mountNames(fixture.pod, list, index).filter((n) => n === mapped.theirVolume).length
        const ourMount =
          mountNames(run().patched, list, index).filter((n) => n === 'irsa-broker-token').length >
          mountNames(mapped.pod, list, index).filter((n) => n === 'irsa-broker-token').length
        if (THEIR_EARLY_RETURN.has(file)) {
          expect(theirMount, `${name}: upstream's early return`).toBe(false)
          expect(ourMount, `${name}: irsa-broker mounts the token anyway`).toBe(true)
        } else {
          expect(ourMount, `${name}: mount`).toBe(theirMount)
        }
      }
    })

    it('adds the token volume exactly when upstream adds its own', () => {
      const theirAdds = volumesOf(theirs).length > volumesOf(fixture.pod).length
      const ourAdds = volumesOf(run().patched).length > volumesOf(mapped.pod).length
      expect(ourAdds).toBe(theirAdds)
    })

    it('writes a Windows token path exactly when upstream does', () => {
      for (const { list, index } of containersOf(fixture.pod)) {
        const theirPath = Object.values(envOf(theirs, list, index)).find((v) => v.endsWith('token'))
        const ourPath = envOf(run().patched, list, index).AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
        if (theirPath !== undefined && ourPath !== undefined)
          expect(ourPath.startsWith('C:\\')).toBe(theirPath.startsWith('C:\\'))
      }
    })

    // Only where upstream adds its volume (where a lifetime is set at all).
    const theirVolume = volumesOf(theirs).find((v) => v.name === mapped.theirVolume)
    const theirAddsVolume = volumesOf(theirs).length > volumesOf(fixture.pod).length
    if (theirAddsVolume)
      it('sets the lifetime upstream sets from an annotation, and warns instead of clamping below 600', () => {
        const sources = ((theirVolume as Json).projected as Json).sources as Json[]
        const theirSeconds = ((sources[0] as Json).serviceAccountToken as Json).expirationSeconds
        const ourSeconds = tokenExpirationOf(run().patched)
        if (fixture.podAnnotations['eks.amazonaws.com/token-expiration'] === '0') {
          // Deliberate difference: upstream clamps "0" to 600; irsa-broker ignores it and warns.
          expect(theirSeconds).toBe(600)
          expect(ourSeconds).toBe(86400)
          expect(run().result.warnings).toEqual([
            'Pod irsa-broker.io/token-expiration "0" is below 600; ignored',
          ])
        } else if (theirSeconds === 79200) {
          // Upstream's jitter of its 24 h default in container-credentials mode; irsa-broker has none.
          expect(ourSeconds).toBe(86400)
        } else {
          expect(ourSeconds).toBe(theirSeconds)
        }
      })
  })
})
