// Evaluates a binding condition in a process of its own: a condition that made V8 abort
// ("Fatal JavaScript invalid size error", a heap limit) would take the test runner down with it.
// Argument: JSON {mode, source, claims}; prints the outcome as JSON on stdout.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { evaluateBinding } from '../../shared/core/bindings.js'
import { compileCondition } from '../../shared/core/condition.js'
import { evaluateCompiled, evaluateCondition } from '../../shared/core/condition-run.js'
import type { WorkloadClaims } from '../../shared/core/model.js'

/**
 * `condition`: evaluateCondition, as an exchange would; `binding`: a stored binding holding it,
 * as if written to the registry directly (the exchange path: the guard, no static bound); `guard`: compiled without the static bound, so only the
 * run-time guard stands between it and V8.
 */
export type ChildMode = 'condition' | 'binding' | 'guard'

export interface ChildRun {
  /** The outcome the child printed, when it got that far. */
  outcome?: unknown
  status: number | null
  signal: NodeJS.Signals | null
  stderr: string
}

/**
 * The review's reproduction (issue 12, item 1), 744 characters: eleven nested binds, each
 * joining four copies of the previous list, 100·4¹¹ elements at the end.
 */
export const QUADRUPLING_BINDS = (() => {
  const list = `[${Array.from({ length: 100 }, (_, index) => index).join(', ')}]`
  let body = 'size(v11) > 0'
  for (let level = 11; level >= 1; level--) {
    const previous = `v${level - 1}`
    body = `cel.bind(v${level}, (${previous}+${previous})+(${previous}+${previous}), ${body})`
  }
  return `cel.bind(v0, ${list}, ${body})`
})()

const SCRIPT = fileURLToPath(import.meta.url)
const ROOT = join(import.meta.dirname, '..', '..')

/**
 * Runs `source` over `claims` in a child Node process with a small heap (so a runaway fails in
 * a second, not after a gigabyte) and a timeout. Never throws for what the child did.
 */
export const runConditionInChild = (
  request: { mode: ChildMode; source: string; claims: WorkloadClaims },
  options: { maxOldSpaceMb?: number; timeoutMs?: number } = {},
): ChildRun => {
  const run = spawnSync(
    process.execPath,
    [
      `--max-old-space-size=${options.maxOldSpaceMb ?? 192}`,
      '--import',
      'tsx',
      SCRIPT,
      JSON.stringify(request),
    ],
    { cwd: ROOT, encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, maxBuffer: 1 << 20 },
  )
  let outcome: unknown
  try {
    outcome = run.stdout ? JSON.parse(run.stdout) : undefined
  } catch {
    outcome = undefined
  }
  return { outcome, status: run.status, signal: run.signal, stderr: run.stderr ?? '' }
}

const guardOnly = (source: string, claims: WorkloadClaims) => {
  const compiled = compileCondition(source, { enforceBound: false })
  return 'position' in compiled ? compiled : evaluateCompiled(compiled, claims)
}

const main = (argument: string): void => {
  const { mode, source, claims } = JSON.parse(argument) as {
    mode: ChildMode
    source: string
    claims: WorkloadClaims
  }
  const outcome =
    mode === 'binding'
      ? (({ matched, failedRule, detail }) => ({ matched, failedRule, detail }))(
          evaluateBinding(
            {
              bindingId: 'forced',
              issuerId: 'onprem-a',
              roleArn: 'arn:aws:iam::111122223333:role/forced',
              profile: 'forced',
              condition: source,
              allowAnyWorkload: true,
              durationSeconds: 3600,
              enabled: true,
              version: 1,
              createdAt: '2031-05-04T12:00:00.000Z',
              updatedAt: '2031-05-04T12:00:00.000Z',
              updatedBy: 'test',
            },
            claims,
          ),
        )
      : mode === 'guard'
        ? guardOnly(source, claims)
        : evaluateCondition(source, claims)
  process.stdout.write(JSON.stringify(outcome))
}

if (process.argv[1] === SCRIPT && process.argv[2] !== undefined) main(process.argv[2])
