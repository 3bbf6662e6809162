// The third-party security corpus in test/corpus (its origins and licences: test/corpus/README.md):
// the attack tokens with their targets, the real Kubernetes tokens, and the broker's pinned
// choice for every `policy` case (docs/security.md), shared by the core and the end-to-end runs.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JSONWebKeySet } from 'jose'
import type { SigningAlgorithm } from '../../shared/core/model.js'

export const CORPUS_DIR = join(import.meta.dirname, '..', 'corpus')

export type Expectation = 'accept' | 'reject' | 'reject-recommended' | 'policy' | 'accept-if-ES256-allowed'

export interface AttackTarget {
  issuer: string
  audience: string
  jwks_file: string
  allowed_algs: SigningAlgorithm[]
  frozen_clock_unix: number
}

export interface AttackCase {
  id: string
  target: string
  expect: Expectation
  description: string
  token: string
}

export const attackCorpus = JSON.parse(readFileSync(join(CORPUS_DIR, 'attacks', 'cases.json'), 'utf8')) as {
  targets: Record<string, AttackTarget>
  cases: AttackCase[]
}

export const targetJwks = (target: AttackTarget): JSONWebKeySet =>
  JSON.parse(readFileSync(join(CORPUS_DIR, 'attacks', target.jwks_file), 'utf8')) as JSONWebKeySet

/** The broker's choice for every `policy` case (docs/security.md, "Attack corpus choices"). */
export const POLICY: Record<string, 'accept' | 'reject'> = {
  P03: 'accept', // exp 30 s ago, inside the default 60 s skew
  P21: 'accept', // no kubernetes.io claim: GKE/AKS/OIDC issuers have none
  P34: 'accept', // b64:false without crit is not honoured: an ordinary JWS
  P35: 'accept', // cty ignored, never unwrapped
  P36: 'accept', // typ not required (kubeadm tokens carry none)
  P37: 'accept', // zip ignored on a JWS, never decompressed
  P38: 'accept', // jku ignored, never fetched; the registered key verifies
  P41: 'accept', // no kid: the single matching registered key is tried
  P60: 'accept', // duplicate alg: last wins (RS256), never treated as none
  P61: 'accept', // duplicate sub: the identity used is the verified (last) one
  P62: 'accept', // duplicate namespace: likewise
  P63: 'reject', // UTF-8 BOM before the payload JSON is not JSON
}

/** Whether the broker must accept a case: the corpus pass rules with the policy choices above. */
export const brokerAccepts = (attack: AttackCase): boolean => {
  switch (attack.expect) {
    case 'accept':
    case 'accept-if-ES256-allowed': // both targets that use these allow ES256
      return true
    case 'reject':
    case 'reject-recommended': // the broker refuses every one of them
      return false
    case 'policy':
      return POLICY[attack.id] === 'accept'
  }
}

/** Cases whose header names a key location (jku, x5u, x5c): the broker must fetch none of them. */
export const KEY_URL_CASES = ['K070', 'K071', 'K072', 'K073', 'K074', 'K080', 'P38'] as const

export interface K8sPair {
  dir: string
  freeze_clock_unix: number
  verify_with: { issuer: string; audience: string; algorithms: SigningAlgorithm[]; jwks_file: string }
  times: { iat: number; exp: number; lifetime_s: number }
}

export const k8sPairs = (
  JSON.parse(readFileSync(join(CORPUS_DIR, 'k8s-tokens', 'cases.json'), 'utf8')) as { pairs: K8sPair[] }
).pairs

export const k8sJwks = (pair: K8sPair): JSONWebKeySet =>
  JSON.parse(
    readFileSync(join(CORPUS_DIR, 'k8s-tokens', pair.verify_with.jwks_file), 'utf8'),
  ) as JSONWebKeySet

/** The token as kubelet projects it: the files end in a newline, as saved by hand; kubelet's do not. */
export const k8sToken = (pair: K8sPair): string =>
  readFileSync(join(CORPUS_DIR, 'k8s-tokens', pair.dir, 'token.jwt'), 'utf8').trimEnd()

/** The token's `sub`, read without verification (to write a binding that admits it). */
export const unverifiedSub = (token: string): string =>
  String(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).sub)
