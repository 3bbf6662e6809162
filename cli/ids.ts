// Ids from the command line, checked with the broker's own rule (shared/core/patterns.ts)
// before they go into a URL path.
import { ID_PATTERN } from '../shared/core/patterns.js'
import { UsageError } from './errors.js'

export const checkId = (value: string | undefined, what: 'issuer id' | 'binding id'): string => {
  if (value === undefined || value === '') throw new UsageError(`the ${what} is required`)
  if (!ID_PATTERN.test(value))
    throw new UsageError(`"${value}" is not a valid ${what} (1-64 letters, digits, ".", "_", "-")`)
  return value
}

export interface BindingRef {
  issuerId: string
  bindingId: string
}

/** `ISSUER/BINDING` or `ISSUER BINDING`; undefined when nothing is given. */
export const bindingRef = (args: readonly string[]): BindingRef | undefined => {
  if (args.length === 0) return undefined
  const [first = '', second] = args
  if (second === undefined && !first.includes('/'))
    throw new UsageError(`name the binding as <issuerId>/<bindingId>, got "${first}"`)
  const [issuerId, bindingId] = second === undefined ? first.split('/', 2) : [first, second]
  return { issuerId: checkId(issuerId, 'issuer id'), bindingId: checkId(bindingId, 'binding id') }
}

export const requiredBindingRef = (args: readonly string[]): BindingRef => {
  const ref = bindingRef(args)
  if (!ref) throw new UsageError('the binding is required, as <issuerId>/<bindingId>')
  return ref
}
