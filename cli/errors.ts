// Failures of the command-line client, each with a stable `code` and the exit code the README
// gives it ("The irsa-broker CLI"): 1 denied or invalid input, 2 usage, 3 broker or network unavailable.

export const EXIT = { ok: 0, denied: 1, usage: 2, unavailable: 3 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export abstract class CliError extends Error {
  abstract readonly code: string
  abstract readonly exitCode: ExitCode
}

/** The command line itself is wrong: unknown verb or flag, a missing or malformed flag value. */
export class UsageError extends CliError {
  override readonly name = 'UsageError'
  readonly code = 'Usage'
  readonly exitCode = EXIT.usage
  constructor(
    message: string,
    /** The command whose `--help` explains it, e.g. `bindings put`. */
    readonly command = '',
  ) {
    super(message)
  }
}

/** A local input cannot be used: token file, document file, AWS config file. */
export class InputError extends CliError {
  override readonly name = 'InputError'
  readonly code: string
  readonly exitCode = EXIT.denied
  constructor(
    code: 'TokenFile' | 'DocumentFile' | 'ConfigFile' | 'NoRoles' | 'InvalidInput' | 'Conflict' | 'NotFound',
    message: string,
  ) {
    super(message)
    this.code = code
  }
}

/** The broker answered, and said no (any 4xx but 429): the wire code is kept as `code`. */
export class BrokerRefusedError extends CliError {
  override readonly name = 'BrokerRefusedError'
  readonly exitCode = EXIT.denied
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly requestId?: string,
  ) {
    super(message)
  }
}

/** The broker could not be reached or could not answer: network, timeout, 5xx, 429, a body that is not its API. */
export class BrokerUnavailableError extends CliError {
  override readonly name = 'BrokerUnavailableError'
  readonly exitCode = EXIT.unavailable
  constructor(
    readonly code: 'Network' | 'Timeout' | 'Unavailable' | 'UnexpectedAnswer',
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

export const isCliError = (error: unknown): error is CliError => error instanceof CliError
