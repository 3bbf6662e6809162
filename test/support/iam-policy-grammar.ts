// The IAM JSON policy grammar (docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)
// as a checker for identity-based policies: the elements a statement may hold, one of Action/
// NotAction and one of Resource/NotResource, no Principal, condition operators from IAM's list
// with the value type their family takes, and the global keys' types. It returns every problem,
// so a test shows what is wrong rather than only that something is.

const STATEMENT_ELEMENTS = new Set([
  'Sid',
  'Effect',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
])
const STRING_OPERATORS = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
]
const DATE_OPERATORS = [
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
]
const NUMERIC_OPERATORS = [
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
]
const OTHER_OPERATORS = [
  'Bool',
  'BinaryEquals',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'Null',
]

/** Global condition keys a revocation uses, with their type (reference_policies_condition-keys.html). */
const KEY_TYPES: Record<string, 'String' | 'Date'> = {
  'aws:SourceIdentity': 'String',
  'aws:TokenIssueTime': 'Date',
  'aws:userid': 'String',
}

const operatorFamily = (operator: string): string | undefined => {
  const base = operator.replace(/^(ForAnyValue|ForAllValues):/, '').replace(/IfExists$/, '')
  if (STRING_OPERATORS.includes(base)) return 'String'
  if (DATE_OPERATORS.includes(base)) return 'Date'
  if (NUMERIC_OPERATORS.includes(base)) return 'Numeric'
  if (base === 'Null') return 'Null'
  return OTHER_OPERATORS.includes(base) ? base : undefined
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const stringList = (value: unknown): value is string | string[] =>
  typeof value === 'string' ||
  (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string'))

const ACTION = /^(\*|[a-z0-9-]+:[A-Za-z0-9*?]+)$/
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

/** The problems of `text` as an identity-based policy; none when it is one. */
export const identityPolicyProblems = (text: string): string[] => {
  const problems: string[] = []
  let policy: unknown
  try {
    policy = JSON.parse(text)
  } catch {
    return ['not JSON']
  }
  if (text.replace(/\s/g, '').length > 10_240)
    problems.push("over 10,240 characters (a role's inline policies together)")
  if (!isObject(policy)) return [...problems, 'not an object']
  for (const key of Object.keys(policy))
    if (!['Version', 'Id', 'Statement'].includes(key)) problems.push(`unknown element ${key}`)
  if (policy.Version !== '2012-10-17') problems.push('Version is not 2012-10-17')
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]
  for (const [index, statement] of (statements as unknown[]).entries()) {
    const at = `Statement[${index}]`
    if (!isObject(statement)) {
      problems.push(`${at} is not an object`)
      continue
    }
    for (const key of Object.keys(statement))
      if (!STATEMENT_ELEMENTS.has(key))
        problems.push(`${at}: ${key} does not belong in an identity-based policy`)
    if (
      statement.Sid !== undefined &&
      !(typeof statement.Sid === 'string' && /^[A-Za-z0-9]*$/.test(statement.Sid))
    )
      problems.push(`${at}: Sid must be letters and digits`)
    if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny')
      problems.push(`${at}: Effect is not Allow or Deny`)
    const actions = ['Action', 'NotAction'].filter((k) => k in statement)
    if (actions.length !== 1) problems.push(`${at}: needs exactly one of Action and NotAction`)
    for (const key of actions) {
      const value = statement[key]
      if (!stringList(value) || [value].flat().some((a) => !ACTION.test(a)))
        problems.push(`${at}: ${key} is not a list of actions`)
    }
    const resources = ['Resource', 'NotResource'].filter((k) => k in statement)
    if (resources.length !== 1) problems.push(`${at}: needs exactly one of Resource and NotResource`)
    for (const key of resources)
      if (
        !stringList(statement[key]) ||
        [statement[key]].flat().some((r) => r !== '*' && !String(r).startsWith('arn:'))
      )
        problems.push(`${at}: ${key} is not * or ARNs`)
    if (statement.Condition === undefined) continue
    if (!isObject(statement.Condition)) {
      problems.push(`${at}: Condition is not an object`)
      continue
    }
    for (const [operator, block] of Object.entries(statement.Condition)) {
      const family = operatorFamily(operator)
      if (family === undefined) problems.push(`${at}: unknown condition operator ${operator}`)
      if (!isObject(block)) {
        problems.push(`${at}: ${operator} is not an object of keys`)
        continue
      }
      for (const [key, value] of Object.entries(block)) {
        const values = [value].flat()
        if (values.length === 0 || values.some((v) => !['string', 'boolean', 'number'].includes(typeof v)))
          problems.push(`${at}: ${operator} ${key} has no scalar values`)
        const type = KEY_TYPES[key]
        if (family === 'Null') {
          if (values.some((v) => String(v) !== 'true' && String(v) !== 'false'))
            problems.push(`${at}: Null ${key} takes "true" or "false"`)
        } else if (type !== undefined && family !== undefined && type !== family) {
          problems.push(`${at}: ${key} is a ${type} key, ${operator} compares ${family}`)
        }
        if (family === 'Date' && values.some((v) => typeof v !== 'string' || !ISO_DATE.test(v)))
          problems.push(`${at}: ${operator} ${key} is not an ISO 8601 UTC time`)
        if (family === 'String' && operator.includes('Like') && values.some((v) => /[?$]/.test(String(v))))
          problems.push(`${at}: ${operator} ${key} holds ? or $, a wildcard or variable to IAM`)
      }
    }
  }
  return problems
}
