// infra/kubernetes/agent/manual-tls/make-certs.sh, the install path without cert-manager, run for
// real with openssl: the API server's view of the result (a TLS handshake to a server holding
// the serving pair, trusting only the CA, under the Service's name), a second run (rotation: new
// pair, same CA), and what --apply hands kubectl, through a stand-in kubectl on PATH that records
// its arguments and input (no Kubernetes API here).
import { spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer, request } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { makeTempDir, ROOT, removeTempDirs } from '../support/local-broker.js'

const SCRIPT = join(ROOT, 'infra/kubernetes/agent/manual-tls/make-certs.sh')
const SERVICE_NAMES = [
  'irsa-broker-webhook.irsa-broker.svc',
  'irsa-broker-webhook.irsa-broker.svc.cluster.local',
]

const tempDirs: string[] = []
let dir = ''
let bin = ''
let log = ''

const makeCerts = (...args: string[]) => {
  const result = spawnSync(SCRIPT, args, {
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH}`, KUBECTL_LOG: log },
    timeout: 60_000,
  })
  expect(result.status, result.stderr).toBe(0)
  return result
}

const read = (name: string) => readFileSync(join(dir, name), 'utf8')

/** A TLS handshake as the API server makes it: only the CA trusted, the Service's name as server name. */
const handshake = (servername: string): Promise<'ok' | string> =>
  new Promise((done) => {
    const server = createServer({ cert: read('tls.crt'), key: read('tls.key') }, (_, response) =>
      response.end('ok'),
    )
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      const call = request(
        { host: '127.0.0.1', port, servername, ca: read('ca.crt'), path: '/' },
        (response) => {
          response.resume()
          response.on('end', () => server.close(() => done('ok')))
        },
      )
      call.on('error', (error: NodeJS.ErrnoException) =>
        server.close(() => done(error.code ?? error.message)),
      )
      call.end()
    })
  })

const openssl = (...args: string[]) => {
  const result = spawnSync('openssl', args, { encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout
}

beforeAll(() => {
  const which = spawnSync('which', ['openssl'])
  if (which.status !== 0) throw new Error('these tests need openssl on PATH (apt-get install openssl)')
  const base = makeTempDir(tempDirs, 'irsa-broker-manual-tls-')
  dir = join(base, 'certs')
  bin = join(base, 'bin')
  log = join(base, 'kubectl.log')
  spawnSync('mkdir', ['-p', bin])
  // Records each call: its arguments, one per line, and for `apply -f -` what it was sent.
  writeFileSync(
    join(bin, 'kubectl'),
    `#!/bin/sh\n{ echo '--- call'; for arg in "$@"; do printf '%s\\n' "$arg"; done; if [ "$1" = apply ]; then echo '--- input'; cat; fi; } >> "$KUBECTL_LOG"\n`,
    { mode: 0o755 },
  )
})

afterAll(() => removeTempDirs(tempDirs))

describe('make-certs.sh', () => {
  let firstCa = ''
  let firstCert = ''

  it('makes a CA and a serving pair for the Service names; the keys are 0600', () => {
    const result = makeCerts(dir)
    expect(result.stderr).toMatch(/made a CA/)
    firstCa = read('ca.crt')
    firstCert = read('tls.crt')
    expect(statSync(join(dir, 'ca.key')).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'tls.key')).mode & 0o777).toBe(0o600)
    expect(openssl('verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')).trim()).toBe(
      `${join(dir, 'tls.crt')}: OK`,
    )
    const text = openssl(
      'x509',
      '-in',
      join(dir, 'tls.crt'),
      '-noout',
      '-ext',
      'subjectAltName,basicConstraints,extendedKeyUsage',
    )
    expect(text).toContain(SERVICE_NAMES.map((name) => `DNS:${name}`).join(', '))
    expect(text).toContain('CA:FALSE')
    expect(text).toContain('TLS Web Server Authentication')
  })

  it("a server holding the pair passes the API server's check under each Service name, and no other", async () => {
    for (const name of SERVICE_NAMES) expect(await handshake(name)).toBe('ok')
    expect(await handshake('irsa-broker-webhook.default.svc')).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
  })

  it('run again (rotation): a new serving pair signed by the same CA, so the caBundle does not change', async () => {
    const result = makeCerts(dir)
    expect(result.stderr).not.toMatch(/made a CA/)
    expect(read('ca.crt')).toBe(firstCa)
    expect(read('tls.crt')).not.toBe(firstCert)
    expect(await handshake(SERVICE_NAMES[0] as string)).toBe('ok')
  })

  it('--apply: the TLS Secret the Deployment mounts, then the CA as caBundle of both webhook entries', () => {
    makeCerts('--apply', dir)
    const calls = readFileSync(log, 'utf8').split('--- call\n').slice(1)
    expect(calls).toHaveLength(2)
    const [apply, patch] = calls as [string, string]
    const [applyArgs, input] = apply.split('--- input\n') as [string, string]
    expect(applyArgs.trim().split('\n')).toEqual(['apply', '-f', '-'])
    const base64 = (name: string) => Buffer.from(read(name)).toString('base64')
    expect(parse(input)).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'irsa-broker-webhook-tls', namespace: 'irsa-broker' },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': base64('tls.crt'), 'tls.key': base64('tls.key'), 'ca.crt': base64('ca.crt') },
    })
    const [verb, kind, name, type, flag, json] = patch.trim().split('\n')
    expect([verb, kind, name, type, flag]).toEqual([
      'patch',
      'mutatingwebhookconfiguration',
      'irsa-broker',
      '--type=json',
      '-p',
    ])
    expect(JSON.parse(json as string)).toEqual(
      [0, 1].map((index) => ({
        op: 'add',
        path: `/webhooks/${index}/clientConfig/caBundle`,
        value: base64('ca.crt'),
      })),
    )
  })
})
