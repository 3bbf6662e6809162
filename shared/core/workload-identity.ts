// The name of a workload in AWS: the source identity of its sessions and their default session
// name. One injective rule: readable where the workload's name fits STS's limits
// (2-64 characters of [\w+=,.@-]), shortened with a hash where it does not, and never the same
// for two distinct workloads. A workload is its issuer and its `sub`, as the broker token's
// `sub` (`<issuerId>:<sub>`) names it; docs/decisions.md, "Source identity, session names and
// revocation policies".
import { createHash } from 'node:crypto'

/** STS's RoleSessionName and SourceIdentity: the same set, the same lengths. */
export const STS_NAME_PATTERN = /^[\w+=,.@-]{2,64}$/
export const STS_NAME_MAX = 64

const KUBERNETES_PREFIX = 'system:serviceaccount:'
/** 20 base64url characters: 120 bits of SHA-256. */
const HASH_LENGTH = 20
/** The mark before the hash. Readable names never contain it, so no readable name is a hashed one. */
const HASH_MARK = '='
/**
 * The hashed form keeps at most this much of the issuerId, then `.`, so that `<head>.` + `=` +
 * hash fits even with nothing of the workload: every name of an issuer starts with `<head>.`,
 * which is what a revocation's deny policy matches (revocation-policy.ts).
 */
export const ISSUER_HEAD_MAX = STS_NAME_MAX - 2 - HASH_LENGTH

/** A part of a readable name: no `.` (it separates the parts) and no `=` (it marks a hash). */
const READABLE_PART = /^[\w+,@-]+$/
/**
 * A ServiceAccount whose namespace is a readable part and whose name (a DNS subdomain) may also
 * hold dots: it is the last part and runs to the end.
 */
const SERVICE_ACCOUNT = /^system:serviceaccount:([\w+,@-]+):([\w+,.@-]+)$/
/** What a hashed name's readable head may hold; everything else becomes `-`. */
const HEAD_DISALLOWED = /[^\w+,.@-]/g
/** The same for a glob: `*` stays a wildcard. */
const GLOB_DISALLOWED = /[^\w+,.@*-]/g

/** The first `length` base64url characters (all valid in STS names) of the SHA-256 of `parts`. */
export const nameDigest = (parts: readonly (string | null)[], length = HASH_LENGTH): string =>
  // JSON of a list: an unambiguous encoding of several strings, whatever they hold.
  createHash('sha256').update(JSON.stringify(parts), 'utf8').digest('base64url').slice(0, length)

/** A hashed name ends like this; a readable template value that does is hashed too (fitName). */
const HASHED_SHAPE = /=[\w-]{20}$/

/**
 * How a workload reads in its name: a Kubernetes ServiceAccount `system:serviceaccount:ns:sa`
 * as `ns.sa`, any other `sub` as it is.
 */
export const workloadView = (sub: string): string =>
  sub.startsWith(KUBERNETES_PREFIX) ? sub.slice(KUBERNETES_PREFIX.length).replaceAll(':', '.') : sub

/**
 * The readable name, when there is one: `<issuerId>.<namespace>.<serviceaccount>` for a
 * ServiceAccount (two dots or more), `<issuerId>.<sub>` for another `sub` (exactly one dot).
 * The issuerId and the namespace hold no dot and the `sub` of the second form none either, so
 * the dots say where each part ends and no two workloads read the same.
 */
const readableName = (issuerId: string, sub: string): string | undefined => {
  const serviceAccount = SERVICE_ACCOUNT.exec(sub)
  const name = !READABLE_PART.test(issuerId)
    ? undefined
    : serviceAccount
      ? `${issuerId}.${serviceAccount[1]}.${serviceAccount[2]}`
      : READABLE_PART.test(sub)
        ? `${issuerId}.${sub}`
        : undefined
  return name !== undefined && name.length <= STS_NAME_MAX ? name : undefined
}

const issuerHead = (issuerId: string): string => issuerId.slice(0, ISSUER_HEAD_MAX)

/** The hashed name: `<issuerId head>.<as much of the workload as fits>=<hash of both>`. */
const hashedName = (issuerId: string, sub: string): string => {
  const head = issuerHead(issuerId)
  const room = STS_NAME_MAX - head.length - 2 - HASH_LENGTH
  const middle = workloadView(sub).replace(HEAD_DISALLOWED, '-').slice(0, room)
  return `${head}.${middle}${HASH_MARK}${nameDigest(['irsa-broker/workload', issuerId, sub])}`
}

/**
 * The default source identity and session name of the workload `sub` of issuer `issuerId`:
 * e.g. `onprem-a.ml.trainer`; `onprem-a.<namespace cut short>=<hash>` when that does not fit.
 */
export const workloadName = (issuerId: string, sub: string): string =>
  readableName(issuerId, sub) ?? hashedName(issuerId, sub)

/**
 * A value a binding's template rendered, made a valid STS name: as it is when it is one (and
 * does not look like a hashed name), else its readable part with a hash of the whole. Two
 * distinct texts never give the same name; how distinct the texts are is the template's.
 */
export const fitName = (text: string): string => {
  if (STS_NAME_PATTERN.test(text) && !HASHED_SHAPE.test(text)) return text
  const head = text.replace(HEAD_DISALLOWED, '-').slice(0, STS_NAME_MAX - 1 - HASH_LENGTH)
  return `${head}${HASH_MARK}${nameDigest(['irsa-broker/template', text])}`
}

/** Kept to its literal characters up to the first `*`. */
const literalPrefix = (glob: string): string => {
  const star = glob.indexOf('*')
  return star < 0 ? glob : glob.slice(0, star)
}

/**
 * IAM `StringLike` patterns that match the default name of every workload of `issuerId` whose
 * `sub` matches the broker glob `subject` (every workload of the issuer without one). They may
 * match more — names of long or dotted issuerIds share heads, a hashed name keeps only the start
 * of the workload — never less: a deny policy built from them misses no session in scope.
 * An exact subject (no `*`) needs no pattern: its name is `workloadName(issuerId, subject)`.
 */
export const workloadNamePatterns = (issuerId: string, subject?: string): string[] => {
  const head = issuerHead(issuerId)
  const wholeIssuer = [...new Set([`${issuerId}.*`, `${head}.*`])]
  if (subject === undefined) return wholeIssuer
  const literal = literalPrefix(subject)
  // A glob whose fixed start stops inside `system:serviceaccount:` matches ServiceAccounts and
  // other subjects alike, which read differently: only the whole issuer covers both.
  if (!literal.startsWith(KUBERNETES_PREFIX) && KUBERNETES_PREFIX.startsWith(literal)) return wholeIssuer
  // The view and the replacement of other characters work character by character, so a `sub`
  // that matches the glob reads as a name that matches the glob read the same way.
  const view = workloadView(subject).replace(GLOB_DISALLOWED, '-')
  const room = STS_NAME_MAX - head.length - 2 - HASH_LENGTH
  return [...new Set([`${issuerId}.${view}`, `${head}.${literalPrefix(view).slice(0, room)}*`])]
}
