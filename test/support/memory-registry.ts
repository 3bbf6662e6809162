// An in-memory Registry for unit tests with the DynamoDB adapter's write conditions: no
// `expectedVersion` means create-only, otherwise the stored version must equal it, and a
// failed condition is a ConflictError. Objects are copied in and out, like a real store.
import { ConflictError } from '../../shared/core/errors.js'
import type { Binding, Issuer } from '../../shared/core/model.js'
import { pageOf } from '../../shared/core/pagination.js'
import type { AdminRegistry } from '../../shared/core/ports.js'

export type RegistryOperation = keyof AdminRegistry

export interface MemoryRegistry extends AdminRegistry {
  /** Every call made through the port, in order, e.g. `findIssuersByIss:https://…`. */
  readonly calls: string[]
  /** How many calls `operation` received. */
  count(operation: RegistryOperation): number
  /** Makes the next call of `operation` reject with `error` (once). */
  failNext(operation: RegistryOperation, error: unknown): void
  /** Stores objects as they are, bypassing conditions (test setup). */
  seed(objects: { issuers?: Issuer[]; bindings?: Binding[] }): void
}

/** The order DynamoDB keeps keys in (ids are ASCII), which pageOf positions by. */
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

const bindingKey = (issuerId: string, bindingId: string) => `${issuerId}\u0000${bindingId}`

export const createMemoryRegistry = (): MemoryRegistry => {
  const issuers = new Map<string, Issuer>()
  const bindings = new Map<string, Binding>()
  const calls: string[] = []
  const failures = new Map<RegistryOperation, unknown>()

  const enter = (operation: RegistryOperation, argument: string) => {
    calls.push(`${operation}:${argument}`)
    if (failures.has(operation)) {
      const error = failures.get(operation)
      failures.delete(operation)
      throw error
    }
  }

  /** The condition of a conditional write, as DynamoDB evaluates it. */
  const checkVersion = (
    what: string,
    stored: { version: number } | undefined,
    expected: number | undefined,
  ) => {
    if (expected === undefined) {
      if (stored) throw new ConflictError(`${what} exists already.`)
      return
    }
    if (stored?.version !== expected) throw new ConflictError(`${what} changed meanwhile.`)
  }

  const byId = <T extends { issuerId: string }>(a: T, b: T) => a.issuerId.localeCompare(b.issuerId)

  return {
    calls,
    count: (operation) => calls.filter((call) => call.startsWith(`${operation}:`)).length,
    failNext: (operation, error) => {
      failures.set(operation, error)
    },
    seed({ issuers: newIssuers = [], bindings: newBindings = [] }) {
      for (const issuer of newIssuers) issuers.set(issuer.issuerId, structuredClone(issuer))
      for (const binding of newBindings)
        bindings.set(bindingKey(binding.issuerId, binding.bindingId), structuredClone(binding))
    },

    async findIssuersByIss(iss) {
      enter('findIssuersByIss', iss)
      return [...issuers.values()]
        .filter((issuer) => issuer.issuer === iss)
        .sort(byId)
        .map((issuer) => structuredClone(issuer))
    },
    async listBindings(issuerId) {
      enter('listBindings', issuerId)
      return [...bindings.values()]
        .filter((binding) => binding.issuerId === issuerId)
        .sort((a, b) => a.bindingId.localeCompare(b.bindingId))
        .map((binding) => structuredClone(binding))
    },
    async getIssuer(issuerId) {
      enter('getIssuer', issuerId)
      const issuer = issuers.get(issuerId)
      return issuer && structuredClone(issuer)
    },
    async listIssuers() {
      enter('listIssuers', '')
      return [...issuers.values()].sort(byId).map((issuer) => structuredClone(issuer))
    },
    async listIssuersPage(request) {
      enter('listIssuersPage', request.after?.issuerId ?? '')
      const all = [...issuers.values()]
        .sort((a, b) => byCodeUnits(a.issuerId, b.issuerId))
        .map((issuer) => structuredClone(issuer))
      return pageOf(all, request, (issuer) => issuer.issuerId, 'issuerId')
    },
    async listBindingsPage(issuerId, request) {
      enter('listBindingsPage', `${issuerId}/${request.after?.bindingId ?? ''}`)
      const all = [...bindings.values()]
        .filter((binding) => binding.issuerId === issuerId)
        .sort((a, b) => byCodeUnits(a.bindingId, b.bindingId))
        .map((binding) => structuredClone(binding))
      return pageOf(all, request, (binding) => binding.bindingId, 'bindingId')
    },
    async putIssuer(issuer, expectedVersion) {
      enter('putIssuer', issuer.issuerId)
      checkVersion(`Issuer "${issuer.issuerId}"`, issuers.get(issuer.issuerId), expectedVersion)
      issuers.set(issuer.issuerId, structuredClone(issuer))
    },
    async deleteIssuer(issuerId, expectedVersion) {
      enter('deleteIssuer', issuerId)
      if (expectedVersion !== undefined)
        checkVersion(`Issuer "${issuerId}"`, issuers.get(issuerId), expectedVersion)
      issuers.delete(issuerId)
    },
    async getBinding(issuerId, bindingId) {
      enter('getBinding', `${issuerId}/${bindingId}`)
      const binding = bindings.get(bindingKey(issuerId, bindingId))
      return binding && structuredClone(binding)
    },
    async findBindingByProfile(issuerId, profile) {
      enter('findBindingByProfile', `${issuerId}/${profile}`)
      const binding = [...bindings.values()].find(
        (candidate) => candidate.issuerId === issuerId && candidate.profile === profile,
      )
      return binding && structuredClone(binding)
    },
    async putBinding(binding, expectedVersion) {
      enter('putBinding', `${binding.issuerId}/${binding.bindingId}`)
      const key = bindingKey(binding.issuerId, binding.bindingId)
      checkVersion(`Binding "${binding.issuerId}/${binding.bindingId}"`, bindings.get(key), expectedVersion)
      bindings.set(key, structuredClone(binding))
    },
    async deleteBinding(issuerId, bindingId, expectedVersion) {
      enter('deleteBinding', `${issuerId}/${bindingId}`)
      const key = bindingKey(issuerId, bindingId)
      if (expectedVersion !== undefined)
        checkVersion(`Binding "${issuerId}/${bindingId}"`, bindings.get(key), expectedVersion)
      bindings.delete(key)
    },
  }
}
