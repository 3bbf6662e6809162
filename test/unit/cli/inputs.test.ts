// Local inputs of the CLI: token files (read fresh, trimmed, refused with a reason), admin
// documents (JSON or YAML, one object, clear parse errors), and the trust policy of a binding
// as the CLI hands it to the core builder.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseFlags } from '../../../cli/command.js'
import {
  BINDING_FLAGS,
  bindingFromFlags,
  parseDocumentText,
  readDocumentFile,
} from '../../../cli/documents.js'
import { InputError } from '../../../cli/errors.js'
import { readTokenFile } from '../../../cli/token-file.js'
import { trustPolicyForBinding } from '../../../cli/trust-policy.js'
import { buildTrustPolicy } from '../../../shared/core/trust-policy.js'
import { tempFolder } from '../../support/temp-folder.js'

const { dir, file } = tempFolder('irsa-broker-cli-inputs-')

const inputError = (action: () => unknown): InputError => {
  try {
    action()
  } catch (error) {
    expect(error).toBeInstanceOf(InputError)
    return error as InputError
  }
  throw new Error('expected an InputError')
}

const inputErrorAsync = async (action: () => Promise<unknown>): Promise<InputError> => {
  try {
    await action()
  } catch (error) {
    expect(error).toBeInstanceOf(InputError)
    return error as InputError
  }
  throw new Error('expected an InputError')
}

describe('readTokenFile', () => {
  it('returns the token without surrounding whitespace, and reads the file again on every call', () => {
    const path = file('token', '  aaa.bbb.ccc\n')
    expect(readTokenFile(path)).toBe('aaa.bbb.ccc')
    writeFileSync(path, 'ddd.eee.fff')
    expect(readTokenFile(path)).toBe('ddd.eee.fff')
  })

  it.each([
    ['missing', () => join(dir, 'nope'), 'does not exist'],
    ['a directory', () => dir, 'is a directory, not a file'],
    ['empty', () => file('empty', ''), 'is empty'],
    ['whitespace only', () => file('blank', ' \n\t\n'), 'is empty'],
    [
      'two words',
      () => file('two', 'aaa.bbb.ccc ddd.eee.fff'),
      'does not hold a single token (whitespace or control characters inside)',
    ],
    ['larger than 64 KiB', () => file('huge', 'a'.repeat(65 * 1024)), 'is larger than 65536 bytes'],
  ])(
    'refuses a token file that is %s, naming the file (code TokenFile, exit 1)',
    (_what, makePath, reason) => {
      const path = makePath()
      const error = inputError(() => readTokenFile(path))
      expect(error.code).toBe('TokenFile')
      expect(error.exitCode).toBe(1)
      expect(error.message).toBe(`token file ${path} ${reason}`)
    },
  )
})

describe('admin documents', () => {
  it('reads JSON and YAML alike into one object', async () => {
    expect(
      await readDocumentFile(file('a.json', '{"issuer": "https://x", "audiences": ["a"]}'), () => ''),
    ).toEqual({
      issuer: 'https://x',
      audiences: ['a'],
    })
    expect(
      await readDocumentFile(file('a.yaml', 'issuer: https://x\naudiences:\n  - a\n'), () => ''),
    ).toEqual({
      issuer: 'https://x',
      audiences: ['a'],
    })
    expect(await readDocumentFile('-', () => 'bindingId: b\n')).toEqual({ bindingId: 'b' })
  })

  it.each([
    [
      'a syntax error, with its line',
      'issuer: https://x\naudiences: [a\n',
      /^cannot parse doc\.yaml, line \d: /,
    ],
    ['a duplicate key', 'issuer: a\nissuer: b\n', /^cannot parse doc\.yaml, line 2: Map keys must be unique/],
    ['a list instead of an object', '- a\n- b\n', /^doc\.yaml must hold one object/],
    ['a scalar', 'just text\n', /^doc\.yaml must hold one object/],
    ['two documents', 'a: 1\n---\nb: 2\n', /^doc\.yaml holds 2 documents; put one at a time$/],
    ['nothing', '', /^doc\.yaml holds no document/],
  ])('refuses %s (code DocumentFile)', async (_what, text, message) => {
    const error = await inputErrorAsync(() => parseDocumentText(text, 'doc.yaml'))
    expect(error.code).toBe('DocumentFile')
    expect(error.message).toMatch(message)
  })

  it('names a missing document file', async () => {
    const error = await inputErrorAsync(() => readDocumentFile(join(dir, 'missing.yaml'), () => ''))
    expect(error.message).toBe(`${join(dir, 'missing.yaml')} does not exist`)
  })

  it('builds a binding from flags: repeatable subjects, claim rules grouped by pointer, tags split at the first "="', () => {
    const values = parseFlags(BINDING_FLAGS, [
      '--role-arn',
      'arn:aws:iam::111122223333:role/r',
      '--subject',
      'system:serviceaccount:ml:*',
      '--subject',
      'system:serviceaccount:ds:*',
      '--claim',
      '/kubernetes.io/namespace=ml',
      '--claim',
      '/kubernetes.io/namespace=ds',
      '--claim',
      '/groups=a=b',
      '--session-tag',
      'team={/kubernetes.io/namespace}',
      '--duration-seconds',
      '1800',
      '--disabled',
    ])
    expect(bindingFromFlags(values)).toEqual({
      roleArn: 'arn:aws:iam::111122223333:role/r',
      subjects: ['system:serviceaccount:ml:*', 'system:serviceaccount:ds:*'],
      claims: { '/kubernetes.io/namespace': ['ml', 'ds'], '/groups': ['a=b'] },
      sessionTags: { team: '{/kubernetes.io/namespace}' },
      durationSeconds: 1800,
      enabled: false,
    })
  })
})

describe('trustPolicyForBinding (the CLI side of shared/core/trust-policy.ts)', () => {
  const base = {
    issuerUrl: 'https://irsa-broker.example.com',
    issuerUrlFrom: 'flag' as const,
    issuerId: 'onprem-a',
    bindingId: 'ml-reader',
    binding: {
      bindingId: 'ml-reader',
      roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
      subjects: ['system:serviceaccount:ml:*'],
      version: 3,
    } as Record<string, unknown>,
    allowAnyWorkloadOfIssuer: false,
  }

  it("hands the binding as the admin API returns it to the core's builder and returns its policy unchanged", () => {
    // The policy's statement itself is the core's (test/unit/core/trust-policy.test.ts).
    expect(trustPolicyForBinding(base)).toEqual(
      buildTrustPolicy({
        issuerUrl: base.issuerUrl,
        binding: {
          issuerId: 'onprem-a',
          bindingId: 'ml-reader',
          roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
          subjects: ['system:serviceaccount:ml:*'],
        },
        allowAnyWorkloadOfIssuer: false,
      }),
    )
  })

  it('a binding without subjects is refused (exit 1) unless every workload of the issuer is allowed explicitly', () => {
    const claimsOnly = { ...base, binding: { roleArn: base.binding.roleArn, claims: { '/groups': ['ml'] } } }
    expect(inputError(() => trustPolicyForBinding(claimsOnly)).message).toMatch(
      /cannot express .+ with --allow-any-workload-of-issuer$/,
    )
    expect(
      trustPolicyForBinding({ ...claimsOnly, allowAnyWorkloadOfIssuer: true }).Statement[0].Condition
        .StringLike,
    ).toEqual({ 'irsa-broker.example.com:sub': ['onprem-a:*'] })
  })

  it.each([
    ['an http issuer URL (the local broker)', { issuerUrl: 'http://127.0.0.1:8787' }, /https/],
    ['a binding without roleArn', { binding: { subjects: ['a'] } }, /^the binding has no "roleArn"$/],
    [
      'subjects that are not strings',
      { binding: { roleArn: base.binding.roleArn, subjects: [1] } },
      /not a list of strings/,
    ],
    [
      'a roleArn that is no role',
      { binding: { roleArn: 'arn:aws:iam::111122223333:user/x', subjects: ['a'] } },
      /not an IAM role ARN/,
    ],
  ])('refuses %s as invalid input', (_what, override, message) => {
    const error = inputError(() => trustPolicyForBinding({ ...base, ...override }))
    expect(error.exitCode).toBe(1)
    expect(error.message).toMatch(message)
  })

  it('an http issuer URL names the flag to give: --issuer-url itself, or, read from a local broker, the https one to pass', () => {
    const fromFlag = { ...base, issuerUrl: 'http://127.0.0.1:8787' }
    expect(inputError(() => trustPolicyForBinding(fromFlag)).message).toBe(
      '--issuer-url: IAM OIDC providers need an https URL',
    )
    const discovered = { ...fromFlag, issuerUrlFrom: 'discovery' as const }
    expect(inputError(() => trustPolicyForBinding(discovered)).message).toBe(
      "the broker's issuer URL http://127.0.0.1:8787 (from its discovery document) cannot be an IAM OIDC provider (IAM OIDC providers need an https URL); a local broker's never can: give the deployed broker's with --issuer-url https://...",
    )
  })
})
