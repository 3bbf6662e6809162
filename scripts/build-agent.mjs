// Builds the agent image's files (infra/kubernetes/agent/Dockerfile runs exactly this in its build
// stage and copies the folder to the image's root): the CLI bundle, which the image's node runs
// for `webhook`, `sync-keys` and `configure`, and the self-contained executable the webhook's
// init container copies into pods. No container engine is needed to check the result:
// test/unit/agent-image.test.ts runs the Dockerfile's steps through this script and checks the tree.
//
//   opt/irsa-broker/           the CLI bundle (scripts/build-cli.mjs): irsa-broker.mjs, main.mjs, chunks/, maps
//   usr/local/bin/irsa-broker  the self-contained executable (scripts/build-sea.mjs)
//
// `node scripts/build-agent.mjs --out DIR` (default dist/agent).
import { chmodSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { buildCli } from './build-cli.mjs'
import { buildSea } from './build-sea.mjs'

const ROOT = new URL('..', import.meta.url).pathname

/** Where the files go in the image; the Dockerfile's ENTRYPOINT and the webhook's init container name them. */
export const AGENT_PATHS = {
  cli: 'opt/irsa-broker',
  cliEntry: 'opt/irsa-broker/irsa-broker.mjs',
  executable: 'usr/local/bin/irsa-broker',
}

/** Folders 0755, files 0644, the two entry points 0755: readable by any user the pod runs as, writable by none. */
const setModes = (dir, executables) => {
  chmodSync(dir, 0o755)
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) setModes(path, executables)
    else chmodSync(path, executables.has(path) ? 0o755 : 0o644)
  }
}

/**
 * @param {{ root?: string, out: string }} options
 * @returns {Promise<{ out: string, cliBytes: number, executableBytes: number, nodeVersion: string }>}
 */
export const buildAgent = async ({ root = ROOT, out }) => {
  rmSync(out, { recursive: true, force: true })
  const cliDir = join(out, AGENT_PATHS.cli)
  const cli = await buildCli({ root, outdir: cliDir })
  // The list of sources bin/irsa-broker.js compares the bundle with: there are no sources in the image.
  rmSync(join(cliDir, 'inputs.json'))
  const sea = await buildSea({ root, outfile: join(out, AGENT_PATHS.executable) })
  setModes(out, new Set([join(out, AGENT_PATHS.cliEntry), join(out, AGENT_PATHS.executable)]))
  return {
    out,
    cliBytes: cli.bytes,
    executableBytes: statSync(sea.outfile).size,
    nodeVersion: sea.nodeVersion,
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } })
  const started = performance.now()
  const agent = await buildAgent({ out: values.out ?? join(ROOT, 'dist', 'agent') })
  const where = relative(process.cwd(), agent.out) || agent.out
  console.log(
    `${where}/${AGENT_PATHS.cli}/  ${(agent.cliBytes / 1024).toFixed(0)} KiB (CLI, without maps)\n` +
      `${where}/${AGENT_PATHS.executable}  ${(agent.executableBytes / 2 ** 20).toFixed(1)} MiB (node ${agent.nodeVersion} + CLI)\n` +
      `in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  )
}
