// Who is calling the admin API. In AWS, API Gateway's AWS_IAM authorizer has already checked
// the SigV4 signature and tells the caller's ARN; locally, a bearer admin token compared in
// constant time.
import { createHash, timingSafeEqual } from 'node:crypto'
import { UnauthorizedError } from '../core/errors.js'
import { type HttpEvent, header } from './event.js'

/** Returns the actor recorded as `updatedBy`, or throws UnauthorizedError. */
export type AdminAuthenticator = (event: HttpEvent) => string

export const iamAdminAuthenticator: AdminAuthenticator = (event) => {
  const arn = event.requestContext?.authorizer?.iam?.userArn
  if (!arn) throw new UnauthorizedError('iam_identity_missing')
  return arn
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest()

export const LOCAL_ADMIN_ACTOR = 'local-admin'

export const tokenAdminAuthenticator = (adminToken: string): AdminAuthenticator => {
  const expected = digest(adminToken)
  return (event) => {
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(header(event, 'authorization') ?? '')?.[1]
    // Hashing first makes both sides the same length, so the comparison time says nothing.
    if (!presented || !timingSafeEqual(digest(presented), expected)) throw new UnauthorizedError()
    return LOCAL_ADMIN_ACTOR
  }
}
