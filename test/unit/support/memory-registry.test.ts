import { describe, expect, it } from 'vitest'
import { ConflictError, NotFoundError } from '../../../shared/core/errors.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { makeBinding, makeIssuer } from '../fixtures.js'

// The fake must keep the DynamoDB adapter's write conditions, or the admin tests prove nothing.
describe('createMemoryRegistry', () => {
  it('creates an object only when none exists (no expected version)', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    await registry.putIssuer(makeIssuer({ version: 1 }), undefined)
    // Act
    const second = registry.putIssuer(makeIssuer({ version: 1, description: 'again' }), undefined)
    // Assess
    await expect(second).rejects.toBeInstanceOf(ConflictError)
    expect((await registry.getIssuer('onprem-a'))?.description).toBeUndefined()
  })

  it('updates only when the stored version equals the expected one', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    await registry.putIssuer(makeIssuer({ version: 1 }), undefined)
    await registry.putBinding(makeBinding({ version: 1 }), undefined)
    // Act
    await registry.putBinding(makeBinding({ version: 2 }), 1)
    const stale = registry.putBinding(makeBinding({ version: 3 }), 1)
    // Assess
    await expect(stale).rejects.toBeInstanceOf(ConflictError)
    expect((await registry.getBinding('onprem-a', 'ml-readers'))?.version).toBe(2)
  })

  it('refuses an update of an object that does not exist', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    // Act
    const update = registry.putIssuer(makeIssuer({ version: 2 }), 1)
    // Assess
    await expect(update).rejects.toBeInstanceOf(ConflictError)
  })

  it('deletes conditionally with a version and unconditionally without', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    registry.seed({ issuers: [makeIssuer({ version: 2 })], bindings: [makeBinding({ version: 1 })] })
    // Act
    const stale = registry.deleteIssuer('onprem-a', 1)
    await expect(stale).rejects.toBeInstanceOf(ConflictError)
    await registry.deleteBinding('onprem-a', 'ml-readers', undefined)
    await registry.deleteIssuer('onprem-a', 2)
    // Assess
    expect(await registry.getIssuer('onprem-a')).toBeUndefined()
    expect(await registry.getBinding('onprem-a', 'ml-readers')).toBeUndefined()
  })

  it('hands out copies, so a caller cannot change what is stored', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    registry.seed({ issuers: [makeIssuer()] })
    // Act
    const read = await registry.getIssuer('onprem-a')
    if (read) read.audiences.push('mutated')
    // Assess
    expect((await registry.getIssuer('onprem-a'))?.audiences).toEqual(['irsa-broker'])
  })

  it('finds issuers by exact iss and counts the calls', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    registry.seed({
      issuers: [
        makeIssuer({ issuerId: 'b' }),
        makeIssuer({ issuerId: 'a' }),
        makeIssuer({ issuerId: 'c', issuer: 'https://other' }),
      ],
    })
    // Act
    const found = await registry.findIssuersByIss('https://kubernetes.default.svc.cluster.local')
    // Assess
    expect(found.map((i) => i.issuerId)).toEqual(['a', 'b'])
    expect(registry.count('findIssuersByIss')).toBe(1)
  })

  it('fails the next call of an operation once when told to', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    registry.failNext('listIssuers', new Error('down'))
    // Act
    const failed = registry.listIssuers()
    // Assess
    await expect(failed).rejects.toThrow('down')
    await expect(registry.listIssuers()).resolves.toEqual([])
  })

  it('keeps a binding written under an issuer away from the issuer re-created under its id', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    await registry.putIssuer(makeIssuer({ version: 1 }), undefined)
    await registry.putBinding(makeBinding({ version: 1 }), undefined)
    await registry.deleteIssuer('onprem-a', undefined)
    // Act
    await registry.putIssuer(makeIssuer({ version: 1 }), undefined)
    // Assess
    expect(await registry.listBindings('onprem-a')).toEqual([])
    expect(await registry.getBinding('onprem-a', 'ml-readers')).toBeUndefined()
    await registry.putBinding(makeBinding({ version: 1 }), undefined)
    expect((await registry.listBindings('onprem-a')).map((binding) => binding.bindingId)).toEqual([
      'ml-readers',
    ])
  })

  it('refuses a binding whose issuer does not exist', async () => {
    // Prepare
    const registry = createMemoryRegistry()
    // Act
    const put = registry.putBinding(makeBinding({ version: 1 }), undefined)
    // Assess
    await expect(put).rejects.toBeInstanceOf(NotFoundError)
  })
})
