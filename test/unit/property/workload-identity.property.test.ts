// Properties of the workload's name in AWS (source identity and default session name): over
// generated issuers and subjects — Kubernetes ServiceAccounts with dashes, dots and colons where
// they could blur the boundaries, long namespaces, arbitrary Unicode — the name always meets
// STS's limits, two distinct workloads never share one, and a revocation's IAM patterns match
// the name of every workload in scope.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { matchAnyGlob } from '../../../shared/core/glob.js'
import {
  fitName,
  STS_NAME_PATTERN,
  workloadName,
  workloadNamePatterns,
} from '../../../shared/core/workload-identity.js'

const RUNS = 2000

/** Characters that sit on the boundaries of names: separators, the hash mark, STS-invalid ones. */
const boundaryText = (maxLength: number) =>
  fc.string({
    unit: fc.constantFrom('m', 'l', 'x', '-', '.', ':', '=', '_', 'é', '/', '*', '0'),
    maxLength,
  })

const issuerId = fc.oneof(
  fc.constantFrom('onprem-a', 'ml', 'a', 'a.b', 'x'.repeat(64), 'x'.repeat(42), 'x'.repeat(43)),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  fc.string({ unit: fc.constantFrom('a', '-', '.', '_'), minLength: 1, maxLength: 64 }),
)

const kubernetesSub = fc
  .tuple(
    fc.oneof(boundaryText(12), fc.stringMatching(/^[a-z0-9-]{1,63}$/), fc.constant('m'.repeat(63))),
    fc.oneof(boundaryText(12), fc.stringMatching(/^[a-z0-9.-]{1,80}$/)),
  )
  .map(([namespace, serviceAccount]) => `system:serviceaccount:${namespace}:${serviceAccount}`)

const sub = fc.oneof(kubernetesSub, boundaryText(80), fc.string({ maxLength: 100, unit: 'grapheme' }))

const workload = fc.tuple(issuerId, sub)

const SERVICE_ACCOUNT = /^system:serviceaccount:([^:]*):(.*)$/s

/** The same ServiceAccount text with the boundary between namespace and name moved by one part. */
const shiftedBoundaries = (subject: string): string[] => {
  const match = SERVICE_ACCOUNT.exec(subject)
  if (!match) return []
  const [, namespace = '', name = ''] = match
  const shifted: string[] = []
  for (const separator of ['-', '.', '_']) {
    const last = namespace.lastIndexOf(separator)
    if (last >= 0)
      shifted.push(
        `system:serviceaccount:${namespace.slice(0, last)}:${namespace.slice(last + 1)}${separator}${name}`,
      )
    const first = name.indexOf(separator)
    if (first >= 0)
      shifted.push(
        `system:serviceaccount:${namespace}${separator}${name.slice(0, first)}:${name.slice(first + 1)}`,
      )
  }
  return shifted
}

/**
 * A workload next to the given one: the boundary between namespace and name moved (`ml-x`/
 * `trainer` → `ml`/`x-trainer`), a separator swapped for another, a character added past the
 * 64th, a part moved between the issuerId and the subject.
 */
const neighbour = ([id, subject]: [string, string]) =>
  fc.oneof(
    fc.constantFrom<[string, string]>(
      ...shiftedBoundaries(subject).map((shifted): [string, string] => [id, shifted]),
      [id, subject.replaceAll('-', '.')],
      [id, subject.replaceAll('.', '-')],
      [id, subject.replaceAll(':', '.')],
      [id, `${subject}x`],
      [`${id}x`, subject],
      [`${id}.x`, subject],
      [id.replace(/\.[^.]*$/, ''), `${id.replace(/^[^.]*\.?/, '')}.${subject}`],
    ),
    fc
      .tuple(fc.constant(id), boundaryText(4))
      .map(([i, suffix]): [string, string] => [i, `${subject}${suffix}`]),
  )

describe('workloadName', () => {
  it('is always 2-64 characters of [\\w+=,.@-] (STS RoleSessionName and SourceIdentity)', () => {
    fc.assert(
      fc.property(workload, ([id, subject]) => {
        expect(workloadName(id, subject)).toMatch(STS_NAME_PATTERN)
      }),
      { numRuns: RUNS },
    )
  })

  it('gives two distinct workloads two distinct names (generated neighbours across every boundary)', () => {
    fc.assert(
      fc.property(
        workload.chain((first) => fc.tuple(fc.constant(first), neighbour(first))),
        ([[id1, sub1], [id2, sub2]]) => {
          fc.pre(id1 !== id2 || sub1 !== sub2)
          expect(workloadName(id1, sub1)).not.toBe(workloadName(id2, sub2))
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('gives every workload of a generated set its own name', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(workload, { minLength: 2, maxLength: 40, selector: (pair) => JSON.stringify(pair) }),
        (workloads) => {
          const names = new Set(workloads.map(([id, subject]) => workloadName(id, subject)))
          expect(names.size).toBe(workloads.length)
        },
      ),
      { numRuns: RUNS / 4 },
    )
  })

  it('reads <issuerId>.<namespace>.<serviceaccount> for a ServiceAccount whose name fits', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,15}$/),
        fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/),
        fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,18}[a-z0-9])?$/),
        (id, namespace, serviceAccount) => {
          expect(workloadName(id, `system:serviceaccount:${namespace}:${serviceAccount}`)).toBe(
            `${id}.${namespace}.${serviceAccount}`,
          )
        },
      ),
      { numRuns: RUNS },
    )
  })
})

describe('fitName', () => {
  it('is always a valid STS name, the text itself when it is one, and distinct for distinct texts', () => {
    fc.assert(
      fc.property(
        fc.oneof(boundaryText(80), fc.string({ maxLength: 100, unit: 'grapheme' })),
        fc.oneof(boundaryText(80), fc.string({ maxLength: 100 })),
        (a, b) => {
          expect(fitName(a)).toMatch(STS_NAME_PATTERN)
          if (STS_NAME_PATTERN.test(a) && !/=[\w-]{20}$/.test(a)) expect(fitName(a)).toBe(a)
          if (a !== b) expect(fitName(a)).not.toBe(fitName(b))
        },
      ),
      { numRuns: RUNS },
    )
  })
})

/** A subject glob: `*` anywhere, often after the ServiceAccount prefix, a namespace or a name. */
const subjectGlob = fc.oneof(
  fc
    .tuple(boundaryText(10), boundaryText(10))
    .map(([namespace, serviceAccount]) => `system:serviceaccount:${namespace}:${serviceAccount}`),
  fc
    .tuple(boundaryText(6), fc.constantFrom('', '*'))
    .map(([start, star]) => `system:serviceaccount:${start}${star}`),
  boundaryText(20),
  fc.string({ unit: fc.constantFrom('*', 's', 'y', 't', 'e', 'm', ':', 'a', '-'), maxLength: 30 }),
)

/** A `sub` that matches the glob: each `*` replaced by some text. */
const matchingSub = (glob: string) =>
  fc
    .array(fc.oneof(boundaryText(70), fc.string({ maxLength: 8 })), {
      minLength: glob.split('*').length - 1,
      maxLength: glob.split('*').length - 1,
    })
    .map((fills) => glob.split('*').reduce((text, part, index) => `${text}${fills[index - 1] ?? ''}${part}`))

describe('workloadNamePatterns', () => {
  it('matches the name of every workload whose sub matches the revoked subject glob', () => {
    fc.assert(
      fc.property(
        issuerId,
        subjectGlob.chain((glob) => fc.tuple(fc.constant(glob), matchingSub(glob))),
        (id, [glob, subject]) => {
          const patterns = workloadNamePatterns(id, glob)
          expect(matchAnyGlob(patterns, workloadName(id, subject))).toBe(true)
          // IAM's StringLike reads `?` as a wildcard and `${` as a variable: never in a pattern.
          for (const pattern of patterns) expect(pattern).not.toMatch(/[?$]/)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('matches the name of every workload of the issuer when no subject is given', () => {
    fc.assert(
      fc.property(workload, ([id, subject]) => {
        expect(matchAnyGlob(workloadNamePatterns(id), workloadName(id, subject))).toBe(true)
      }),
      { numRuns: RUNS },
    )
  })
})
