// The local stack for one test file: a data folder of its own (removed again when the stack
// stops), a free loopback port, and the file's own settings and options on top.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../infra/local/stack.js'
import { type Env, loadLocalConfig } from '../../shared/config.js'

export const startTestStack = async (
  name: string,
  env: Env,
  options: LocalStackOptions = {},
): Promise<LocalStack> => {
  const dataDir = mkdtempSync(join(tmpdir(), `irsa-broker-${name}-`))
  const removeDataDir = () => rmSync(dataDir, { recursive: true, force: true })
  try {
    const stack = await startLocalStack(
      loadLocalConfig({ PORT: '0', IRSA_BROKER_DATA_DIR: dataDir, ...env }),
      options,
    )
    return {
      ...stack,
      stop: async () => {
        try {
          await stack.stop()
        } finally {
          removeDataDir()
        }
      },
    }
  } catch (error) {
    removeDataDir()
    throw error
  }
}
