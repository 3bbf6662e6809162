// Every command of the CLI, in the order the overview lists them. A command is one module that
// exports a `defineCommand(...)` (its flags, help and run); adding one is that module and its
// line here. Keep these modules light: what only one command needs is imported inside its run.
import type { Command } from '../command.js'
import { BINDING_COMMANDS, ISSUER_COMMANDS } from './admin-objects.js'
import { explainCommand } from './explain.js'
import { historyCommand } from './history.js'
import { REVOCATION_COMMANDS } from './revocations.js'
import { revokeCommand } from './revoke.js'
import { syncKeysCommand } from './sync-keys.js'
import { exportCommand, importCommand } from './transfer.js'
import { trustPolicyCommand } from './trust-policy.js'
import { webhookCommand } from './webhook.js'
import { configureCommand, credentialProcessCommand } from './workload.js'

export const COMMANDS: readonly Command[] = [
  credentialProcessCommand,
  configureCommand,
  ...ISSUER_COMMANDS,
  ...BINDING_COMMANDS,
  explainCommand,
  historyCommand,
  trustPolicyCommand,
  revokeCommand,
  ...REVOCATION_COMMANDS,
  exportCommand,
  importCommand,
  webhookCommand,
  syncKeysCommand,
]
