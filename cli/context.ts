// What a command may touch of the world, handed in rather than read from globals: the
// environment, the clock, fetch, the two output streams, and the executable that runs the
// CLI (for the credential_process lines `configure` writes). Unit tests build their own.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'

export interface CliContext {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  readonly homedir: string
  readonly fetch: typeof fetch
  readonly now: () => Date
  readonly sleep: (ms: number) => Promise<void>
  /** Data: what a script reads. */
  readonly stdout: (text: string) => void
  /** Messages: everything written here passes the redactor first. */
  readonly stderr: (text: string) => void
  /**
   * What runs this CLI: the node binary and the script, or, for the self-contained executable
   * (node with the CLI inside, scripts/build-sea.mjs), that executable alone (`script` absent).
   */
  readonly self: CliSelf
  /** Registers a secret (a token) that must never reach stderr. */
  readonly addSecret: (secret: string) => void
  /** All of standard input (`--file -`). */
  readonly readStdin: () => string
  /** AWS credentials for SigV4 (admin calls against AWS); the AWS SDK's default chain unless injected. */
  readonly awsCredentials?: AwsCredentialsSource | undefined
}

export interface CliSelf {
  node: string
  script?: string | undefined
}

/** For a profile name (or the default): a function resolving to AWS credentials. */
export type AwsCredentialsSource = (
  profile: string | undefined,
) => () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>

export interface ContextOptions {
  env?: Readonly<Record<string, string | undefined>>
  cwd?: string
  homedir?: string
  fetch?: typeof fetch
  now?: () => Date
  sleep?: (ms: number) => Promise<void>
  stdout?: (text: string) => void
  stderr?: (text: string) => void
  self?: CliSelf
  readStdin?: () => string
  awsCredentials?: AwsCredentialsSource
}

const MIN_SECRET_LENGTH = 8

export const redactor = () => {
  const secrets = new Set<string>()
  return {
    add(secret: string) {
      // Short strings would blank out ordinary words; real tokens are far longer.
      if (secret.length >= MIN_SECRET_LENGTH) secrets.add(secret)
    },
    redact(text: string): string {
      let out = text
      for (const secret of secrets) out = out.split(secret).join('<redacted>')
      return out
    },
  }
}

export const createContext = (options: ContextOptions = {}): CliContext => {
  const secrets = redactor()
  const writeErr = options.stderr ?? ((text: string) => process.stderr.write(text))
  return {
    env: options.env ?? process.env,
    cwd: options.cwd ?? process.cwd(),
    homedir: options.homedir ?? homedir(),
    fetch: options.fetch ?? globalThis.fetch,
    now: options.now ?? (() => new Date()),
    sleep: options.sleep ?? ((ms) => new Promise((done) => setTimeout(done, ms))),
    stdout: options.stdout ?? ((text) => process.stdout.write(text)),
    stderr: (text) => writeErr(secrets.redact(text)),
    self: options.self ?? { node: process.execPath, script: process.argv[1] ?? '' },
    addSecret: secrets.add,
    readStdin: options.readStdin ?? (() => readFileSync(0, 'utf8')),
    awsCredentials: options.awsCredentials,
  }
}
