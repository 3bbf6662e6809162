// The serving certificate and key, from files that are replaced on rotation (cert-manager,
// kubelet's Secret volume). A new pair is checked — both parse, the key belongs to the
// certificate, a TLS context can be made of them — before it replaces the one in use; a pair
// that fails (half written, or the key swapped before the certificate) leaves the last good one
// serving, and is tried again when the files change again.
import { X509Certificate } from 'node:crypto'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import { pollFiles } from './file-poller.js'

export interface CertificateInfo {
  serialNumber: string
  subject: string
  subjectAltName: string
  notAfter: Date
}

export interface TlsPair {
  options: SecureContextOptions
  certificate: CertificateInfo
  /** The bytes the pair was made of (to tell a change). */
  raw: [Buffer, Buffer]
}

export class TlsFilesError extends Error {
  override readonly name = 'TlsFilesError'
  readonly code = 'TlsFilesInvalid'
}

/** TLS 1.2 at least: the API server speaks 1.3 and 1.2; nothing older is needed. */
export const TLS_MIN_VERSION = 'TLSv1.2'

/** Checks a certificate (chain) and key in PEM; throws TlsFilesError saying what is wrong. */
export const makeTlsPair = (cert: Buffer, key: Buffer): TlsPair => {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(cert)
  } catch (error) {
    throw new TlsFilesError(`the certificate is not a PEM X.509 certificate (${(error as Error).message})`)
  }
  const options: SecureContextOptions = { cert, key, minVersion: TLS_MIN_VERSION }
  try {
    // Parses the key and checks that it belongs to the certificate (OpenSSL: "key values mismatch").
    createSecureContext(options)
  } catch (error) {
    throw new TlsFilesError(`the certificate and key do not make a TLS context (${(error as Error).message})`)
  }
  return {
    options,
    certificate: {
      serialNumber: certificate.serialNumber,
      subject: certificate.subject.replace(/\n/g, ', '),
      subjectAltName: certificate.subjectAltName ?? '',
      notAfter: new Date(certificate.validTo),
    },
    raw: [cert, key],
  }
}

export interface TlsWatchOptions {
  certPath: string
  keyPath: string
  intervalMs: number
  /** The pair in use now (from `makeTlsPair` at start). */
  current: TlsPair
  onReload(pair: TlsPair): void
  onRejected(reason: string): void
  readFile?: (path: string) => Buffer
}

export const watchTlsFiles = (options: TlsWatchOptions) =>
  pollFiles({
    paths: [options.certPath, options.keyPath],
    intervalMs: options.intervalMs,
    initial: options.current.raw,
    ...(options.readFile ? { readFile: options.readFile } : {}),
    onChange: ([cert, key]) => {
      try {
        options.onReload(makeTlsPair(cert as Buffer, key as Buffer))
      } catch (error) {
        options.onRejected((error as Error).message)
      }
    },
    onReadError: (error) => options.onRejected(`cannot read the files: ${error.message}`),
  })
