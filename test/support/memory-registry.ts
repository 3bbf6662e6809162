// An in-memory Registry for unit tests with the DynamoDB adapter's write conditions: no
// `expectedVersion` means create-only, otherwise the stored version must equal it, and a
// failed condition is a ConflictError. Objects are copied in and out, like a real store.
// Issuer generations as the DynamoDB adapter keeps them: a create starts one, a binding is written
// under its issuer's current one and counts only under it (seeded objects share generation "").

import { exactSubjectsOf } from '../../shared/core/binding-index.js'
import { ConflictError, NotFoundError } from '../../shared/core/errors.js'
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
  const generations = new Map<string, string>()
  const bindingGenerations = new Map<string, string>()
  let nextGeneration = 0
  /** The binding under `key` if it belongs to its issuer's current generation. */
  const live = (key: string, binding: Binding | undefined): Binding | undefined =>
    binding &&
    generations.has(binding.issuerId) &&
    (bindingGenerations.get(key) ?? '') === generations.get(binding.issuerId)
      ? binding
      : undefined
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

  /** The issuer's bindings of its current generation, in bindingId order, copied. */
  const liveOf = (issuerId: string): Binding[] =>
    [...bindings.entries()]
      .filter(([key, binding]) => binding.issuerId === issuerId && live(key, binding))
      .map(([, binding]) => structuredClone(binding))
      .sort((a, b) => (a.bindingId < b.bindingId ? -1 : a.bindingId > b.bindingId ? 1 : 0))

  const byId = <T extends { issuerId: string }>(a: T, b: T) => a.issuerId.localeCompare(b.issuerId)

  return {
    calls,
    count: (operation) => calls.filter((call) => call.startsWith(`${operation}:`)).length,
    failNext: (operation, error) => {
      failures.set(operation, error)
    },
    seed({ issuers: newIssuers = [], bindings: newBindings = [] }) {
      for (const issuer of newIssuers) {
        issuers.set(issuer.issuerId, structuredClone(issuer))
        generations.set(issuer.issuerId, '')
      }
      for (const binding of newBindings) {
        const key = bindingKey(binding.issuerId, binding.bindingId)
        bindings.set(key, structuredClone(binding))
        bindingGenerations.set(key, '')
      }
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
      return [...bindings.entries()]
        .filter(([key, binding]) => binding.issuerId === issuerId && live(key, binding))
        .map(([, binding]) => binding)
        .sort((a, b) => a.bindingId.localeCompare(b.bindingId))
        .map((binding) => structuredClone(binding))
    },
    async bindingsForSubject(issuerId, subject) {
      enter('bindingsForSubject', `${issuerId}/${subject}`)
      return liveOf(issuerId).filter((binding) => exactSubjectsOf(binding)?.includes(subject))
    },
    async patternBindings(issuerId) {
      enter('patternBindings', issuerId)
      return liveOf(issuerId).filter((binding) => !exactSubjectsOf(binding))
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
      if (expectedVersion === undefined) generations.set(issuer.issuerId, `g${++nextGeneration}`)
    },
    async deleteIssuer(issuerId, expectedVersion) {
      enter('deleteIssuer', issuerId)
      if (expectedVersion !== undefined)
        checkVersion(`Issuer "${issuerId}"`, issuers.get(issuerId), expectedVersion)
      issuers.delete(issuerId)
      generations.delete(issuerId)
    },
    async getBinding(issuerId, bindingId) {
      enter('getBinding', `${issuerId}/${bindingId}`)
      const key = bindingKey(issuerId, bindingId)
      const binding = live(key, bindings.get(key))
      return binding && structuredClone(binding)
    },
    async findBindingByProfile(issuerId, profile) {
      enter('findBindingByProfile', `${issuerId}/${profile}`)
      const binding = [...bindings.entries()].find(
        ([key, candidate]) =>
          candidate.issuerId === issuerId && candidate.profile === profile && live(key, candidate),
      )?.[1]
      return binding && structuredClone(binding)
    },
    async putBinding(binding, expectedVersion) {
      enter('putBinding', `${binding.issuerId}/${binding.bindingId}`)
      const key = bindingKey(binding.issuerId, binding.bindingId)
      const generation = generations.get(binding.issuerId)
      if (generation === undefined) throw new NotFoundError(`Issuer "${binding.issuerId}" does not exist.`)
      checkVersion(
        `Binding "${binding.issuerId}/${binding.bindingId}"`,
        live(key, bindings.get(key)),
        expectedVersion,
      )
      bindings.set(key, structuredClone(binding))
      bindingGenerations.set(key, generation)
    },
    async sweepBindings(issuerId, _budgetMs) {
      enter('sweepBindings', issuerId)
      let deleted = 0
      for (const [key, binding] of [...bindings.entries()]) {
        if (binding.issuerId !== issuerId || live(key, binding)) continue
        bindings.delete(key)
        bindingGenerations.delete(key)
        deleted++
      }
      return { deleted, done: true }
    },
    async deleteBinding(issuerId, bindingId, expectedVersion) {
      enter('deleteBinding', `${issuerId}/${bindingId}`)
      const key = bindingKey(issuerId, bindingId)
      if (expectedVersion !== undefined)
        checkVersion(`Binding "${issuerId}/${bindingId}"`, bindings.get(key), expectedVersion)
      bindings.delete(key)
      bindingGenerations.delete(key)
    },
  }
}
