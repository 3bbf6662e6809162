// The CLI run in-process against a scripted fetch (the only fake in the CLI's tests; the e2e
// suites use the real broker): what it printed, its exit code, and every request it made.
import { run } from '../../cli/main.js'

export interface SeenRequest {
  url: string
  init: RequestInit
  method: string
  /** The JSON body, parsed; undefined without one. */
  body: unknown
}

export type Step = Response | Error | ((request: SeenRequest) => Response)

/** A fetch that answers with the scripted steps in order and records what it was asked. */
export const scriptedFetch = (steps: Step[]) => {
  const calls: SeenRequest[] = []
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const request: SeenRequest = {
      url: String(input),
      init,
      method: init.method ?? 'GET',
      body: typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
    }
    calls.push(request)
    const step = steps.shift()
    if (step === undefined) throw new Error(`no more scripted answers (for ${request.method} ${request.url})`)
    if (step instanceof Error) throw step
    return typeof step === 'function' ? step(request) : step
  }) as typeof globalThis.fetch
  return { fetch, calls }
}

export const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

export const brokerError = (
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
) => jsonResponse(status, { error: { code, message, requestId: 'req-1' } }, headers)

export const networkError = (code: string) =>
  Object.assign(new TypeError('fetch failed'), { cause: { code } })

/** `irsa-broker ARGV` with the scripted answers; no sleeping between retries. */
export const runScripted = async (
  argv: string[],
  options: { steps?: Step[]; env?: Record<string, string>; cwd?: string; homedir?: string } = {},
) => {
  const out: string[] = []
  const err: string[] = []
  const { fetch, calls } = scriptedFetch(options.steps ?? [])
  const code = await run(argv, {
    env: options.env ?? {},
    fetch,
    sleep: async () => undefined,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.homedir ? { homedir: options.homedir } : {}),
    self: { node: '/usr/bin/node', script: '/opt/irsa-broker/irsa-broker.mjs' },
  })
  return { code, stdout: out.join(''), stderr: err.join(''), requests: calls }
}
