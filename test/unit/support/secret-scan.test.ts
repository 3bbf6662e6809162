// The rule the end-of-run secret scan applies (test/support/secret-scan.ts): what it finds, what
// it must not mistake for a secret, and that captured output from this very worker reaches it.
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CAPTURE_DIR_VARIABLE, isBrokerCommand } from '../../support/log-capture.js'
import { findSecrets, scanCaptureFolder } from '../../support/secret-scan.js'
import { createTestIssuer } from '../../support/workload-issuer.js'

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
/** Like moto's secret access keys: 40 random letters and digits (fixed to hold all three classes). */
const secretAccessKey = () =>
  `aB3${Array.from(randomBytes(37), (byte) => ALPHANUMERIC[byte % ALPHANUMERIC.length]).join('')}`
/** Like moto's session tokens: its fixed prefix, then base64. */
const sessionToken = () => `FQoGZXIvYXdzEBYaD${randomBytes(266).toString('base64').slice(17)}`

const kinds = (text: string) => findSecrets(text).map((finding) => finding.kind)

describe('findSecrets', () => {
  it('finds a signed JWT inside a JSON log line', async () => {
    // Prepare
    const token = await (await createTestIssuer()).mint()
    // Act / Assess
    expect(kinds(JSON.stringify({ level: 'INFO', message: 'audit', detail: `Bearer ${token}` }))).toEqual([
      'jwt',
    ])
  })

  it('finds a PEM private key, RSA and PKCS#8', () => {
    // Prepare
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const pkcs1 = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
    // Act / Assess
    expect(kinds(pkcs8)).toEqual(['private-key'])
    expect(kinds(pkcs1)).toEqual(['private-key'])
  })

  it('finds a bare 40-character secret access key and a labelled one', () => {
    // Act / Assess
    expect(kinds(`key ${secretAccessKey()} end`)).toEqual(['aws-secret-access-key'])
    expect(kinds(`{"SecretAccessKey":"${secretAccessKey().slice(0, 30)}"}`)).toEqual([
      'aws-secret-access-key',
    ])
  })

  it('finds a session token by its STS prefix and a labelled one', () => {
    // Act / Assess
    expect(kinds(`token=${sessionToken()}`)).toContain('aws-session-token')
    expect(kinds(`aws_session_token = ${randomBytes(45).toString('base64')}`)).toEqual(['aws-session-token'])
  })

  it('finds nothing in what the broker legitimately logs: ids, digests, key ids, URLs', () => {
    // Prepare
    const sha1 = createHash('sha1').update('x').digest('hex')
    const line = JSON.stringify({
      level: 'INFO',
      message: 'audit',
      requestId: randomUUID(),
      iss: 'https://oidc.eks.eu-west-1.amazonaws.com/id/B88E7287E54DB073AC9CDC2FD1BE0969',
      kid: 'w0cqiqxodkuHYFzSPkQpzqLrjhxAdV-Lr1Xq6ULHw_Y',
      eksKid: 'e3b1d185e0d794058a6346c32b2575ac0efb622e',
      digest: sha1,
      adminToken: randomBytes(32).toString('base64url'),
      roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
      sessionName: 'system-serviceaccount-ml-trainer',
      accessKeyId: 'ASIA1234567890ABCDEF',
    })
    // Act / Assess
    expect(findSecrets(line)).toEqual([])
  })

  it('reports an excerpt too short to be used', () => {
    // Prepare
    const key = secretAccessKey()
    // Act
    const [finding] = findSecrets(key)
    // Assess
    expect(finding?.excerpt).toBe(`${key.slice(0, 4)}…(40 chars)`)
  })
})

describe('scanCaptureFolder', () => {
  it('locates each finding by source and test file', () => {
    // Prepare
    const folder = mkdtempSync(join(tmpdir(), 'secret-scan-test-'))
    const records = [
      { source: 'stdout', file: 'test/a.test.ts', text: '{"level":"INFO","message":"ok"}\n' },
      { source: 'sink:stack', file: 'test/b.test.ts', text: `leak ${secretAccessKey()}` },
    ]
    writeFileSync(join(folder, 'worker-1.jsonl'), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`)
    // Act
    const result = scanCaptureFolder(folder)
    rmSync(folder, { recursive: true, force: true })
    // Assess
    expect(result.records).toBe(2)
    expect(result.findings).toEqual([
      expect.objectContaining({
        kind: 'aws-secret-access-key',
        source: 'sink:stack',
        file: 'test/b.test.ts',
        captureFile: 'worker-1.jsonl',
      }),
    ])
  })

  it('receives what this worker writes to stdout, with the test file that wrote it', () => {
    // Prepare
    const folder = process.env[CAPTURE_DIR_VARIABLE]
    expect(folder).toBeDefined()
    const marker = `capture-marker-${randomUUID()}`
    // Act
    process.stdout.write(`${marker}\n`)
    // Assess
    const captured = readdirSync(folder as string)
      .map((name) => readFileSync(join(folder as string, name), 'utf8'))
      .join('')
      .split('\n')
      .filter((line) => line.includes(marker))
      .map((line) => JSON.parse(line) as { source: string; file?: string })
    expect(captured).toEqual([
      { source: 'stdout', file: 'test/unit/support/secret-scan.test.ts', text: `${marker}\n` },
    ])
  })
})

describe('isBrokerCommand', () => {
  it.each([
    ['node_modules/.bin/tsx', ['infra/local/main.ts'], true],
    ['npm', ['start'], true],
    ['aws', ['sts', 'get-caller-identity'], false],
    ['node', ['bin/irsa-broker.js', 'credential-process'], false],
    ['moto_server', ['-p', '5000'], false],
  ])('%s %j is a broker process: %s', (command, args, broker) => {
    expect(isBrokerCommand(command, args)).toBe(broker)
  })
})
