// A certificate authority made at test time with the `openssl` binary (node:crypto reads X.509
// but cannot issue it), and server certificates it signs: P-256 keys, a random serial each, a
// lifetime of one day. For the webhook's HTTPS tests and the Kubernetes API stand-in.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface IssuedCertificate {
  cert: Buffer
  key: Buffer
  /** Upper-case hex, as X509Certificate.serialNumber and a TLS peer certificate give it. */
  serialNumber: string
}

export interface TestCa {
  cert: Buffer
  /** A server certificate for these DNS names (and 127.0.0.1), signed by the CA. */
  issue(dnsNames: readonly string[], options?: { days?: number }): IssuedCertificate
  /** Removes the CA's working folder. */
  remove(): void
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })

/** `openssl req` options for a new P-256 key, without a passphrase, written to `keyFile`. */
const newKey = (keyFile: string) => [
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-keyout',
  keyFile,
]

export const createTestCa = (name = 'irsa-broker test CA'): TestCa => {
  const dir = mkdtempSync(join(tmpdir(), 'irsa-broker-ca-'))
  const caKey = join(dir, 'ca.key')
  const caCert = join(dir, 'ca.crt')
  openssl([
    'req',
    '-x509',
    ...newKey(caKey),
    '-out',
    caCert,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
  let issued = 0
  return {
    cert: readFileSync(caCert),
    issue(dnsNames, options = {}) {
      issued++
      const stem = join(dir, `leaf-${issued}`)
      // A positive serial whose top byte is below 0x80 (no sign padding in DER), never 00.
      const serial =
        `${(0x10 + ((randomBytes(1)[0] as number) % 0x60)).toString(16)}${randomBytes(15).toString('hex')}`.toUpperCase()
      openssl([
        'req',
        '-new',
        ...newKey(`${stem}.key`),
        '-out',
        `${stem}.csr`,
        '-subj',
        `/CN=${dnsNames[0] ?? 'localhost'}`,
      ])
      writeFileSync(
        `${stem}.ext`,
        [
          `subjectAltName=${[...dnsNames.map((dns) => `DNS:${dns}`), 'IP:127.0.0.1'].join(',')}`,
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth',
        ].join('\n'),
      )
      openssl([
        'x509',
        '-req',
        '-in',
        `${stem}.csr`,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-set_serial',
        `0x${serial}`,
        '-days',
        String(options.days ?? 1),
        '-out',
        `${stem}.crt`,
        '-extfile',
        `${stem}.ext`,
      ])
      return { cert: readFileSync(`${stem}.crt`), key: readFileSync(`${stem}.key`), serialNumber: serial }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
