// The agent image's file tree built as its Dockerfile builds it (node scripts/build-agent.mjs),
// for the tests that run what the image holds: the CLI bundle and the self-contained executable.
// A child process, so that postject's chatter stays out of the test's own output.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { AGENT_PATHS } from '../../scripts/build-agent.mjs'
import { ROOT } from './local-broker.js'

/** Minutes, on a loaded two-core machine: esbuild, then postject rewriting a 100 MB binary. */
export const AGENT_BUILD_TIMEOUT_MS = 240_000

export interface AgentTree {
  /** The folder that stands for the image's root (/). */
  root: string
  /** /usr/local/bin/irsa-broker in it. */
  executable: string
  /** /opt/irsa-broker/irsa-broker.mjs in it. */
  cliEntry: string
}

/** Runs `node scripts/build-agent.mjs --out OUT` in `cwd` (the repository unless given); throws with its output on failure. */
export const buildAgentTree = (out: string, cwd = ROOT): AgentTree => {
  const result = spawnSync(process.execPath, ['scripts/build-agent.mjs', '--out', out], {
    cwd,
    encoding: 'utf8',
    timeout: AGENT_BUILD_TIMEOUT_MS - 10_000,
  })
  if (result.status !== 0)
    throw new Error(
      `node scripts/build-agent.mjs --out ${out} failed (${result.status ?? result.signal}):\n${result.stderr}\n${result.stdout}`,
    )
  return agentTree(out)
}

export const agentTree = (root: string): AgentTree => ({
  root,
  executable: join(root, AGENT_PATHS.executable),
  cliEntry: join(root, AGENT_PATHS.cliEntry),
})
