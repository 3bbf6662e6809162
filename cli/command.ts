// The shape of one CLI command: its flags, its help, and what it does.
import type { OptionSpec, Parsed } from './args.js'
import type { CliContext } from './context.js'

export interface Command {
  /** As typed: `configure`, `bindings put`. */
  name: string
  summary: string
  help: string
  options: OptionSpec
  run(parsed: Parsed, context: CliContext): Promise<void>
}
