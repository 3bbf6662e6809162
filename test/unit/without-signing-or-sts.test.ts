// shared/without-signing-or-sts.ts: what the roles and admin functions are wired with in place of a signer and
// an STS client they never call (in AWS and in the local stack alike).
import { describe, expect, it } from 'vitest'
import { withoutSigningOrSts } from '../../shared/without-signing-or-sts.js'

describe('withoutSigningOrSts', () => {
  it('answers every signer and STS call with an internal error naming the port, never a result', async () => {
    // Act
    const failures = await Promise.all(
      [
        () =>
          withoutSigningOrSts.sts.assumeRoleWithWebIdentity({
            roleArn: 'arn:aws:iam::111122223333:role/r',
            sessionName: 's',
            webIdentityToken: 't',
            durationSeconds: 900,
          }),
        () => withoutSigningOrSts.signer.keyId(),
        () => withoutSigningOrSts.signer.sign(new Uint8Array([1])),
        () => withoutSigningOrSts.signer.publicJwks(),
      ].map((call) =>
        call().then(
          () => undefined,
          (error: unknown) => error,
        ),
      ),
    )

    // Assess
    expect(failures).toMatchObject([
      { code: 'InternalError', reason: 'sts_not_wired' },
      { code: 'InternalError', reason: 'signer_not_wired' },
      { code: 'InternalError', reason: 'signer_not_wired' },
      { code: 'InternalError', reason: 'signer_not_wired' },
    ])
  })
})
