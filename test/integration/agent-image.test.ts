// The agent image (infra/kubernetes/agent/Dockerfile) without a container engine: the Dockerfile
// is parsed, its build stage is replayed step by step on a folder that stands for the build
// container (its COPY lines copy exactly what they name from the repository, `npm ci` is stood
// in for by this checkout's node_modules, installed from the same lockfile, and its RUN lines run
// as written), and the tree the runtime stage copies is checked: its files and modes, and that
// its ENTRYPOINT and the self-contained executable run from it with no node_modules and no PATH.
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AGENT_PATHS } from '../../scripts/build-agent.mjs'
import { AGENT_BUILD_TIMEOUT_MS, type AgentTree, agentTree } from '../support/agent-build.js'
import { copyOf, type Instruction, parseDockerfile } from '../support/dockerfile.js'
import { layOutPod, type PodObject } from '../support/kubelet.js'
import { renderKustomization } from '../support/kustomize.js'
import { makeTempDir, ROOT, removeTempDirs } from '../support/local-broker.js'

const AGENT_DIR = join(ROOT, 'infra/kubernetes/agent')
const dockerfile = parseDockerfile(readFileSync(join(AGENT_DIR, 'Dockerfile'), 'utf8'))
const [buildStage, runtimeStage] = dockerfile.stages
const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string

const tempDirs: string[] = []
/** The folder standing for the build container's filesystem root. */
let buildRoot = ''
/** The folder standing for the image's root, as the runtime stage's COPY --from=build fills it. */
let image: AgentTree
let emptyDir = ''

const of = (stage: typeof buildStage, keyword: string): Instruction[] =>
  (stage?.instructions ?? []).filter((instruction) => instruction.keyword === keyword)

/** An absolute path of the build container, in the folder standing for it. */
const inBuild = (path: string) => join(buildRoot, path)

/** Every file and folder under `dir`, relative, with its permission bits. */
const listTree = (dir: string): { path: string; mode: number; directory: boolean }[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((entry) => {
      const full = join(entry.parentPath, entry.name)
      return { path: relative(dir, full), mode: statSync(full).mode & 0o777, directory: entry.isDirectory() }
    })
    .sort((a, b) => a.path.localeCompare(b.path))

/** Runs a command from the image's tree with nothing of this machine's environment: no PATH, no HOME. */
const runBare = (command: string, args: string[]) =>
  spawnSync(command, args, { cwd: emptyDir, env: {}, encoding: 'utf8', timeout: 30_000 })

/**
 * The build stage replayed: WORKDIR, COPY from the repository (the build context), RUN. `npm ci`
 * is the one step not run here (it would download the registry's packages); this checkout's
 * node_modules, installed from the same package-lock.json, stands in for it, hard-linked.
 */
const replayBuildStage = () => {
  let workdir = '/'
  for (const instruction of buildStage?.instructions ?? []) {
    if (instruction.keyword === 'WORKDIR') {
      workdir = instruction.text
      mkdirSync(inBuild(workdir), { recursive: true })
    } else if (instruction.keyword === 'COPY') {
      const { sources, dest } = copyOf(instruction)
      for (const source of sources) {
        const target = join(inBuild(workdir), dest, dest.endsWith('/') && !source.endsWith('/') ? source : '')
        cpSync(join(ROOT, source), target, { recursive: true })
      }
    } else if (instruction.keyword === 'RUN') {
      const [command, ...args] = instruction.args
      if (command === 'npm' && args[0] === 'ci') {
        const linked = spawnSync('cp', [
          '-al',
          join(ROOT, 'node_modules'),
          join(inBuild(workdir), 'node_modules'),
        ])
        if (linked.status !== 0)
          cpSync(join(ROOT, 'node_modules'), join(inBuild(workdir), 'node_modules'), { recursive: true })
        continue
      }
      expect(command, `line ${instruction.line}: the build stage runs node scripts only`).toBe('node')
      const result = spawnSync(
        process.execPath,
        args.map((arg) => (arg.startsWith('/') ? inBuild(arg) : arg)),
        { cwd: inBuild(workdir), encoding: 'utf8', timeout: AGENT_BUILD_TIMEOUT_MS - 30_000 },
      )
      expect(result.status, `RUN ${instruction.text}:\n${result.stderr}\n${result.stdout}`).toBe(0)
    }
  }
}

beforeAll(() => {
  buildRoot = makeTempDir(tempDirs, 'irsa-broker-agent-build-')
  emptyDir = makeTempDir(tempDirs, 'irsa-broker-agent-cwd-')
  replayBuildStage()
  const [copy] = of(runtimeStage, 'COPY').map(copyOf)
  image = agentTree(inBuild(copy?.sources[0] ?? '/nonexistent'))
}, AGENT_BUILD_TIMEOUT_MS)

afterAll(() => removeTempDirs(tempDirs))

describe('infra/kubernetes/agent/Dockerfile', () => {
  it('has two stages: node:22-bookworm-slim builds, distroless nodejs22 (nonroot) runs', () => {
    expect(dockerfile.stages.map((stage) => [stage.image, stage.name])).toEqual([
      ['node:22-bookworm-slim', 'build'],
      ['gcr.io/distroless/nodejs22-debian12:nonroot', undefined],
    ])
  })

  it('builds only with scripts of the repository: npm ci from the lockfile, then scripts/build-agent.mjs; the runtime stage runs nothing', () => {
    expect(of(buildStage, 'RUN').map((run) => run.args)).toEqual([
      ['npm', 'ci', '--ignore-scripts', '--no-audit', '--no-fund'],
      ['node', 'scripts/build-agent.mjs', '--out', '/agent'],
    ])
    // The lockfile is in place before npm ci, which installs exactly what it pins.
    const copies = of(buildStage, 'COPY').map(copyOf)
    expect(copies[0]?.sources).toEqual(['package.json', 'package-lock.json'])
    expect((of(buildStage, 'RUN')[0]?.line ?? 0) > (of(buildStage, 'COPY')[0]?.line ?? 0)).toBe(true)
    expect(of(runtimeStage, 'RUN')).toEqual([])
    expect(of(runtimeStage, 'COPY').map(copyOf)).toEqual([{ from: 'build', sources: ['/agent/'], dest: '/' }])
  })

  it('runs as a numeric non-root user (runAsNonRoot can check it), node with source maps on the CLI bundle', () => {
    expect(of(runtimeStage, 'USER').map((user) => user.text)).toEqual(['65532:65532'])
    const [entrypoint] = of(runtimeStage, 'ENTRYPOINT')
    expect(entrypoint?.exec).toBe(true)
    expect(entrypoint?.args).toEqual(['/nodejs/bin/node', '--enable-source-maps', `/${AGENT_PATHS.cliEntry}`])
    expect(of(runtimeStage, 'CMD').map((cmd) => cmd.args)).toEqual([['--help']])
  })

  it('Dockerfile.dockerignore lets into the build context exactly what the COPY lines name', () => {
    const ignore = readFileSync(join(AGENT_DIR, 'Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
    expect(ignore[0]).toBe('**')
    const copied = of(buildStage, 'COPY')
      .map(copyOf)
      .filter((copy) => copy.from === undefined)
      .flatMap((copy) => copy.sources.map((source) => source.replace(/\/$/, '')))
    expect(ignore.slice(1).sort()).toEqual(copied.map((source) => `!${source}`).sort())
  })
})

describe('the image tree the build stage makes (node scripts/build-agent.mjs, as the Dockerfile runs it)', () => {
  it('holds the CLI bundle in /opt/irsa-broker and the executable in /usr/local/bin, nothing else: no sources, no node_modules', () => {
    const tree = listTree(image.root)
    const files = tree.filter((entry) => !entry.directory).map((entry) => entry.path)
    expect(files.filter((path) => !path.startsWith(`${AGENT_PATHS.cli}/`))).toEqual([AGENT_PATHS.executable])
    const cli = files
      .filter((path) => path.startsWith(`${AGENT_PATHS.cli}/`))
      .map((path) => relative(AGENT_PATHS.cli, path))
    expect(cli).toEqual(expect.arrayContaining(['irsa-broker.mjs', 'main.mjs', 'irsa-broker.mjs.map']))
    for (const path of cli) expect(path).toMatch(/^(chunks\/)?[\w.-]+\.mjs(\.map)?$/)
    expect(tree.some((entry) => entry.path.split('/').includes('node_modules'))).toBe(false)
  })

  it('folders 0755 and files 0644, the two entry points 0755: readable by any user, writable by none but root', () => {
    for (const entry of listTree(image.root)) {
      const expected =
        entry.directory || [AGENT_PATHS.executable, AGENT_PATHS.cliEntry].includes(entry.path) ? 0o755 : 0o644
      expect(`${entry.path} ${entry.mode.toString(8)}`).toBe(`${entry.path} ${expected.toString(8)}`)
    }
  })

  it('the ENTRYPOINT runs from the tree with no node_modules anywhere above it and an empty environment: --version, then CMD (--help)', () => {
    for (let dir = image.root; dir !== dirname(dir); dir = dirname(dir))
      expect(existsSync(join(dir, 'node_modules')), `${dir}/node_modules`).toBe(false)
    const [node, ...args] = of(runtimeStage, 'ENTRYPOINT')[0]?.args ?? []
    expect(node).toBe('/nodejs/bin/node')
    // distroless's node is the image's; this machine's node stands in for it.
    const entrypoint = args.map((arg) => (arg.startsWith('/') ? join(image.root, arg) : arg))
    const printed = runBare(process.execPath, [...entrypoint, '--version'])
    expect(printed.stderr).toBe('')
    expect([printed.status, printed.stdout]).toEqual([0, `irsa-broker ${version}\n`])
    const help = runBare(process.execPath, [...entrypoint, ...(of(runtimeStage, 'CMD')[0]?.args ?? [])])
    expect(help.status, help.stderr).toBe(0)
    expect(help.stdout).toMatch(/^usage: irsa-broker <command> \[options\]\n/)
    expect(help.stdout).toMatch(/^ {2}configure {2,}/m)
  })
})

describe("the Deployment's `irsa-broker webhook` (infra/kubernetes/agent) from the tree", () => {
  it("the ENTRYPOINT with the Deployment's arguments and environment loads the webhook program (its own chunk, loaded only by this verb) and gets as far as reading the TLS Secret", async () => {
    const { manifests } = renderKustomization(AGENT_DIR)
    const deployment = manifests.find((m) => m.kind === 'Deployment') as PodObject
    const settings = manifests.find((m) => m.kind === 'ConfigMap') as PodObject
    const template = deployment.spec.template
    const [container] = template.spec.containers as PodObject[]
    // The Secret exists but holds no certificate yet (cert-manager has not issued it): the first
    // thing the program itself does is read it, after the CLI has parsed and checked every flag.
    const secret = {
      kind: 'Secret',
      metadata: { name: template.spec.volumes.find((v: PodObject) => v.secret).secret.secretName },
      data: {},
    }
    const pod = await layOutPod({
      pod: template,
      namespace: deployment.metadata.namespace,
      root: makeTempDir(tempDirs, 'irsa-broker-agent-pod-'),
      images: {
        [container?.image]: {
          root: image.root,
          entrypoint: of(runtimeStage, 'ENTRYPOINT')[0]?.args,
          // distroless's node is the image's; this machine's node stands in for it.
          programs: { '/nodejs/bin/node': process.execPath },
        },
      },
      objects: [settings, secret],
    })
    const [node, ...args] = pod.commandLine(container as PodObject)
    expect(args.slice(2, 3)).toEqual(['webhook'])
    const started = spawnSync(node as string, args, {
      cwd: emptyDir,
      env: pod.env(container as PodObject),
      encoding: 'utf8',
      timeout: 30_000,
    })
    const certFile = pod.hostPath(container as PodObject, '/etc/irsa-broker/tls/tls.crt')
    expect([started.status, started.stdout]).toEqual([1, ''])
    expect(started.stderr).toBe(
      `irsa-broker: --tls-cert: cannot read ${certFile} (ENOENT: no such file or directory, open '${certFile}')\n`,
    )
  })
})

describe('the self-contained executable (/usr/local/bin/irsa-broker)', () => {
  it('runs alone: no node on PATH (no PATH at all), no node_modules, from an empty folder', () => {
    const printed = runBare(image.executable, ['--version'])
    expect(printed.stderr).toBe('')
    expect([printed.status, printed.stdout]).toEqual([0, `irsa-broker ${version}\n`])
    const help = runBare(image.executable, ['configure', '--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/--install-executable PATH/)
    // A usage error: one line on stderr and exit 2, as from the CLI bundle (README.md, "The
    // irsa-broker CLI").
    const wrong = runBare(image.executable, ['configure', '--no-such-flag'])
    expect([wrong.status, wrong.stdout]).toEqual([2, ''])
    expect(wrong.stderr).toMatch(/^irsa-broker: [^\n]+\(see: irsa-broker configure --help\)\n$/)
  })

  it("is this machine's node binary with the CLI inside: dynamically linked against glibc and libstdc++ only (so: glibc images, not musl)", () => {
    const ldd = spawnSync('ldd', [image.executable], { encoding: 'utf8' })
    expect(ldd.status, ldd.stderr).toBe(0)
    const libraries = [...ldd.stdout.matchAll(/^\s*(\S+)/gm)].map((match) =>
      (match[1] as string).replace(/\.so.*$/, ''),
    )
    expect(libraries).toContain('libc')
    expect(libraries).toContain('libstdc++')
    const glibc = [
      'linux-vdso',
      '/lib64/ld-linux-x86-64',
      '/lib/ld-linux-aarch64',
      'libc',
      'libm',
      'libdl',
      'libpthread',
      'librt',
      'libstdc++',
      'libgcc_s',
    ]
    expect(libraries.filter((library) => !glibc.includes(library))).toEqual([])
    // What node's own binary needs: the executable adds no library of its own.
    const node = spawnSync('ldd', [process.execPath], { encoding: 'utf8' })
    const nodeLibraries = [...node.stdout.matchAll(/^\s*(\S+)/gm)].map((match) => match[1])
    expect([...ldd.stdout.matchAll(/^\s*(\S+)/gm)].map((match) => match[1])).toEqual(nodeLibraries)
  })
})
