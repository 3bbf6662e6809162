import { describe, expect, it } from 'vitest'
import { sessionNameFor, sessionTagsFor, sourceIdentityFor } from '../../../shared/core/session.js'
import { MAX_SESSION_TAGS, TAG_VALUE_MAX } from '../../../shared/core/templates.js'
import { makeBinding, makeClaims } from '../fixtures.js'

describe('sessionNameFor', () => {
  it('names the session after the workload (workload-identity.ts) when the binding has no template', () => {
    // Act
    const name = sessionNameFor(makeBinding(), makeClaims())
    // Assess
    expect(name).toBe('onprem-a.ml.trainer')
  })

  it('gives ml-x/trainer and ml/x-trainer two session names (the sub-based name gave both one)', () => {
    // Act
    const a = sessionNameFor(makeBinding(), makeClaims({ sub: 'system:serviceaccount:ml-x:trainer' }))
    const b = sessionNameFor(makeBinding(), makeClaims({ sub: 'system:serviceaccount:ml:x-trainer' }))
    // Assess
    expect(a).not.toBe(b)
  })

  it('renders the binding template from the claims', () => {
    // Prepare
    const binding = makeBinding({
      sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
    })
    // Act
    const name = sessionNameFor(binding, makeClaims())
    // Assess
    expect(name).toBe('ml.trainer')
  })

  it('keeps a name rendered from hostile claims inside STS limits', () => {
    // Prepare
    const binding = makeBinding({ sessionName: 'x{/kubernetes.io/namespace}' })
    const claims = makeClaims({ 'kubernetes.io': { namespace: `a b/c*${'z'.repeat(100)}` } })
    // Act
    const name = sessionNameFor(binding, claims)
    // Assess
    expect(name).toMatch(/^[\w+=,.@-]{2,64}$/)
    expect(name.startsWith('xa-b-c-z')).toBe(true)
  })

  it("falls back to the workload's name when the template renders nothing", () => {
    // Prepare
    const binding = makeBinding({ sessionName: '{/missing}' })
    // Act
    const name = sessionNameFor(binding, makeClaims())
    // Assess
    expect(name).toBe('onprem-a.ml.trainer')
  })

  it('renders a stored template that no longer parses as nothing rather than failing', () => {
    // Prepare
    const binding = makeBinding({ sessionName: '{sub}' })
    // Act
    const name = sessionNameFor(binding, makeClaims())
    // Assess
    expect(name).toBe('onprem-a.ml.trainer')
  })
})

describe('sourceIdentityFor', () => {
  it("is the workload's name without a template, and the template's value made a valid STS name with one", () => {
    expect(sourceIdentityFor(makeBinding(), makeClaims())).toBe('onprem-a.ml.trainer')
    expect(
      sourceIdentityFor(makeBinding({ sourceIdentity: 'ns:{/kubernetes.io/namespace}' }), makeClaims()),
    ).toMatch(/^ns-ml=[\w-]{20}$/)
    expect(
      sourceIdentityFor(
        makeBinding({ sourceIdentity: 'ml.{/kubernetes.io/serviceaccount/name}' }),
        makeClaims(),
      ),
    ).toBe('ml.trainer')
  })
})

describe('sessionTagsFor', () => {
  it('renders each tag template and keeps literal tags', () => {
    // Prepare
    const binding = makeBinding({
      sessionTags: { namespace: '{/kubernetes.io/namespace}', 'data-plane': 'onprem-a' },
      transitiveTagKeys: ['data-plane'],
    })
    // Act
    const tags = sessionTagsFor(binding, makeClaims())
    // Assess
    expect(tags).toEqual({
      principalTags: { namespace: 'ml', 'data-plane': 'onprem-a' },
      transitiveTagKeys: ['data-plane'],
    })
  })

  it('returns no tags for a binding without sessionTags', () => {
    // Act
    const tags = sessionTagsFor(makeBinding(), makeClaims())
    // Assess
    expect(tags).toEqual({ principalTags: {}, transitiveTagKeys: [] })
  })

  it('leaves out a tag whose template renders empty, and its transitive key with it', () => {
    // Prepare
    const binding = makeBinding({
      sessionTags: { team: '{/team}', namespace: '{/kubernetes.io/namespace}' },
      transitiveTagKeys: ['team', 'namespace'],
    })
    // Act
    const tags = sessionTagsFor(binding, makeClaims())
    // Assess
    expect(tags).toEqual({ principalTags: { namespace: 'ml' }, transitiveTagKeys: ['namespace'] })
  })

  it('never keeps a transitive key that only exists on Object.prototype', () => {
    // Prepare
    const binding = makeBinding({
      sessionTags: { namespace: '{/kubernetes.io/namespace}' },
      transitiveTagKeys: ['constructor', 'toString', 'namespace'],
    })
    // Act
    const tags = sessionTagsFor(binding, makeClaims())
    // Assess
    expect(tags.transitiveTagKeys).toEqual(['namespace'])
  })

  it('sanitizes and cuts tag values rendered from claims', () => {
    // Prepare
    const binding = makeBinding({ sessionTags: { team: '{/team}' } })
    const claims = makeClaims({ team: `a,b*${'x'.repeat(400)}` })
    // Act
    const tags = sessionTagsFor(binding, claims)
    // Assess
    expect(tags.principalTags.team).toBe(`a-b-${'x'.repeat(TAG_VALUE_MAX - 4)}`)
  })

  it('renders all 50 tags a binding may hold', () => {
    // Prepare
    const sessionTags = Object.fromEntries(
      Array.from({ length: MAX_SESSION_TAGS }, (_, i) => [`k${i}`, `v${i}`]),
    )
    // Act
    const tags = sessionTagsFor(makeBinding({ sessionTags }), makeClaims())
    // Assess
    expect(Object.keys(tags.principalTags)).toHaveLength(MAX_SESSION_TAGS)
  })
})
