// What counts as a leaked secret in captured log output, and the scan over a capture folder.
// The patterns are deliberately narrow so that a finding is a real leak, not noise:
//  - a JWT: three base64url segments, the first starting with `eyJ` (a JSON object header);
//  - a PEM private key block header;
//  - an AWS secret access key: exactly 40 characters of [A-Za-z0-9/+], not part of a longer
//    base64/base64url run, with upper case, lower case and a digit (SHA-1 hex ids and Kubernetes
//    key ids never qualify), or any value labelled SecretAccessKey / aws_secret_access_key;
//  - an STS session token: the prefixes real STS and moto use (`IQoJb3JpZ2lu…`, `FwoGZXIvYXdz…`,
//    `FQoGZXIvYXdz…`) followed by more token characters, or any value labelled SessionToken /
//    aws_session_token.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export type SecretKind = 'jwt' | 'private-key' | 'aws-secret-access-key' | 'aws-session-token'

export interface Finding {
  kind: SecretKind
  /** The match, shortened so that the report itself leaks nothing usable. */
  excerpt: string
}

const PATTERNS: readonly [SecretKind, RegExp][] = [
  ['jwt', /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g],
  ['private-key', /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/g],
  ['aws-secret-access-key', /(?<![A-Za-z0-9/+=_-])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=_-])/g],
  [
    'aws-secret-access-key',
    /(?:SecretAccessKey|secretAccessKey|aws_secret_access_key)\\?["']?\s*[:=]\s*\\?["']?[A-Za-z0-9/+]{16,}/g,
  ],
  ['aws-session-token', /(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=]{20,}/g],
  [
    'aws-session-token',
    /(?:SessionToken|sessionToken|aws_session_token)\\?["']?\s*[:=]\s*\\?["']?[A-Za-z0-9/+=]{16,}/g,
  ],
]

/** 40 base64 characters are a secret key only with mixed case and a digit (hex digests are not). */
const looksLikeSecretKey = (text: string): boolean =>
  /[a-z]/.test(text) && /[A-Z]/.test(text) && /[0-9]/.test(text)

const excerptOf = (match: string): string => `${match.slice(0, 4)}…(${match.length} chars)`

export const findSecrets = (text: string): Finding[] => {
  const findings: Finding[] = []
  for (const [kind, pattern] of PATTERNS) {
    for (const match of text.matchAll(pattern)) {
      const value = match[0]
      if (kind === 'aws-secret-access-key' && value.length === 40 && !looksLikeSecretKey(value)) continue
      findings.push({ kind, excerpt: excerptOf(value) })
    }
  }
  return findings
}

/** One captured write, as the capture files hold them (JSON lines). */
export interface CapturedRecord {
  /** Where it was written: `stdout`, `stderr`, `console.warn`, `sink:<name>`, `child:<command>`. */
  source: string
  /** The test file running in that worker, when known. */
  file?: string
  text: string
}

export interface LocatedFinding extends Finding {
  source: string
  file?: string | undefined
  captureFile: string
}

/** Scans every capture file of a run folder. */
export const scanCaptureFolder = (folder: string): { records: number; findings: LocatedFinding[] } => {
  let records = 0
  const findings: LocatedFinding[] = []
  for (const name of readdirSync(folder)
    .filter((entry) => entry.endsWith('.jsonl'))
    .sort()) {
    for (const line of readFileSync(join(folder, name), 'utf8').split('\n')) {
      if (line === '') continue
      records++
      let record: CapturedRecord
      try {
        record = JSON.parse(line) as CapturedRecord
      } catch {
        record = { source: 'unparsable', text: line }
      }
      for (const finding of findSecrets(record.text)) {
        findings.push({ ...finding, source: record.source, file: record.file, captureFile: name })
      }
    }
  }
  return { records, findings }
}
