// The third-party data in test/corpus is exactly what the suites read, and each file is
// accounted for in test/corpus/README.md (origin and licence): a file added without a note, or
// one no test opens any more, fails here. And no test or script finds that data anywhere else:
// a clone has nothing beside it.
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

/** Test code and scripts (not the data itself): where a reader of third-party data would be. */
const CODE = ['test', 'scripts']
  .flatMap((folder) => filesUnder(join(REPO, folder)))
  .map((file) => relative(REPO, file))
  .filter((path) => !path.startsWith(join('test', 'corpus')) && /\.(c|m)?[jt]s$|\.py$|\.sh$/.test(path))
  .filter((path) => path !== relative(REPO, import.meta.filename)) // this file names the patterns

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

  it('is reached only through CORPUS_DIR, and no test or script reads the folders beside the checkout', () => {
    expect(CODE.length).toBeGreaterThan(100) // the walk found the suites
    // `shared/corpus`, `'shared', 'corpus'`, `'..', 'shared'`, the design notes, this machine's folders.
    const outside =
      /\bshared['"]?\s*[,/]\s*['"]?(corpus|research)\b|['"]\.\.['"]\s*,\s*['"]shared['"]|DESIGN\.md|\/work\/(shared|wt)\b/
    // A path of its own to test/corpus: `'..', 'corpus'`, `'corpus', '<sub-folder>'`, or a string
    // that starts `../corpus/<sub-folder>` or `test/corpus/<sub-folder>`.
    const ownPath =
      /['"]\.\.['"]\s*,\s*['"]corpus['"]|['"]corpus['"]\s*,\s*['"](attacks|k8s-tokens|vectors|webhook-fixtures)['"]|['"`](\.\.?\/)*(test\/)?corpus\/(attacks|k8s-tokens|vectors|webhook-fixtures)\b/
    // The clean-clone test names `../shared` to check that its copy has none beside it.
    const checksAbsence = join('test', 'integration', 'clean-clone.test.ts')
    const offenders = CODE.flatMap((path) => {
      const text = readFileSync(join(REPO, path), 'utf8')
      return [
        ...(outside.test(text) && path !== checksAbsence ? [`${path}: a path outside the repository`] : []),
        ...(ownPath.test(text) && path !== join('test', 'support', 'corpus.ts')
          ? [`${path}: its own path to the corpus (use CORPUS_DIR)`]
          : []),
      ]
    })
    expect(offenders).toEqual([])
  })
})
