// The signer and STS stand-ins of the functions whose core never signs a broker token nor calls
// STS (roles, admin), in AWS and in the local stack alike. A module of its own: the credentials
// bundle, which has both for real, does not carry them.
import { InternalError } from './core/errors.js'
import type { Adapters } from './wiring.js'

const notWired = (port: string) => () =>
  Promise.reject(new InternalError(`${port}_not_wired`, { cause: new Error(`no ${port} in this function`) }))

/**
 * For the functions whose core never signs a broker token nor calls STS (roles: `listRoles`;
 * admin: the registry and `explain`, which returns the trace without calling STS). They get
 * no KMS or STS client (nor, in AWS, the permission to call either); reaching one of these is a
 * wiring bug, answered as a 500 with the reason in the log.
 */
export const withoutSigningOrSts: Pick<Adapters, 'sts' | 'signer'> = {
  sts: { assumeRoleWithWebIdentity: notWired('sts') },
  signer: {
    algorithm: 'RS256',
    keyId: notWired('signer'),
    sign: notWired('signer'),
    publicJwks: notWired('signer'),
  },
}
