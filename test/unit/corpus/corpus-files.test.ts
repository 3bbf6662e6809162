// The third-party data in test/corpus is exactly what the suites read, and each file is
// accounted for in test/corpus/README.md (origin and licence): a file added without a note, or
// one no test opens any more, fails here.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { attackCorpus, CORPUS_DIR, k8sPairs } from '../../support/corpus.js'

const REPO = join(import.meta.dirname, '..', '..', '..')

/** Sub-folders this list covers (others, such as webhook-fixtures/, keep their own notes). */
const FOLDERS = ['attacks', 'k8s-tokens', 'vectors'] as const

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  )

/** What the suites open: the manifests, every file they name, the vectors and the licences. */
const READ_BY_TESTS = [
  'attacks/cases.json',
  ...new Set(Object.values(attackCorpus.targets).map((t) => join('attacks', t.jwks_file))),
  'k8s-tokens/cases.json',
  ...k8sPairs.flatMap((pair) => [
    join('k8s-tokens', pair.dir, 'token.jwt'),
    join('k8s-tokens', pair.verify_with.jwks_file),
  ]),
  'k8s-tokens/kind-v1.34/openid-configuration.json', // remote-jwks-corpus.test.ts: a private jwks_uri
  'vectors/wycheproof/testvectors_v1/json_web_signature_test.json',
  'vectors/wycheproof/testvectors_v1/json_web_key_test.json',
].map((path) => join(path)) // normalises attacks/../k8s-tokens/…

const LICENCES = ['k8s-tokens/eks-irsa-eu-west-1/LICENSE.upstream-MIT', 'vectors/wycheproof/LICENSE']

describe('test/corpus', () => {
  const present = FOLDERS.flatMap((folder) => filesUnder(join(CORPUS_DIR, folder)))
    .map((file) => relative(CORPUS_DIR, file))
    .sort()

  it('lies inside the repository', () => {
    expect(relative(REPO, CORPUS_DIR)).toBe(join('test', 'corpus'))
  })

  it('holds exactly the files the suites read, plus the upstream licences', () => {
    expect(present).toEqual([...new Set([...READ_BY_TESTS, ...LICENCES])].sort())
  })

  it('names every one of those files, or its folder, in its README with an origin and licence', () => {
    const readme = readFileSync(join(CORPUS_DIR, 'README.md'), 'utf8')
    for (const file of present) {
      const name = file.split('/').at(-1) ?? file
      expect(readme, file).toContain(name)
    }
    for (const origin of [
      'portswigger-tim/nats-k8s-oidc-callout',
      'priyankasaggu/priyankasaggu.github.io',
      'C2SP/wycheproof',
    ]) {
      expect(readme).toContain(origin)
    }
    expect(readme).toMatch(/MIT/)
    expect(readme).toMatch(/Apache-2\.0/)
  })
})
