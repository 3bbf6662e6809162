// A binding's `sourceIdentity` template is checked like its session-name template: it must parse,
// it is kept as written, and a stored binding without one is still a binding.
import { describe, expect, it } from 'vitest'
import { InvalidParameterError } from '../../../shared/core/errors.js'
import { bindingDocumentSchema, parseInput } from '../../../shared/core/schemas.js'

const bindingDoc = (overrides: Record<string, unknown> = {}) => ({
  roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
  subjects: ['system:serviceaccount:ml:trainer'],
  ...overrides,
})

const refusal = (value: unknown): InvalidParameterError => {
  try {
    parseInput(bindingDocumentSchema, value)
  } catch (error) {
    if (error instanceof InvalidParameterError) return error
    throw error
  }
  throw new Error('expected the document to be refused')
}

describe('the binding sourceIdentity template', () => {
  it('is accepted and kept as written when it parses', () => {
    // Act
    const binding = parseInput(
      bindingDocumentSchema,
      bindingDoc({ sourceIdentity: 'team-a.{/kubernetes.io/serviceaccount/name}' }),
    )
    // Assess
    expect(binding.sourceIdentity).toBe('team-a.{/kubernetes.io/serviceaccount/name}')
  })

  it.each([
    ['{sub}', 'invalid template'],
    ['{/a', 'invalid template'],
    ['x'.repeat(257), 'sourceIdentity'],
  ])('refuses %j, naming the field', (template, message) => {
    // Act
    const error = refusal(bindingDoc({ sourceIdentity: template }))
    // Assess
    expect(error.field).toBe('sourceIdentity')
    expect(error.message).toContain(message)
  })

  it('is optional', () => {
    expect(parseInput(bindingDocumentSchema, bindingDoc()).sourceIdentity).toBeUndefined()
  })
})
