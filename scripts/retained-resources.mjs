// Redeploying a stage whose table and log groups were kept by `osls remove` (DeletionPolicy
// Retain): CloudFormation cannot create a table or a log group whose name exists, so the
// rendered template must not contain them, and every reference to them must name the kept
// ones instead. These rewrite a compiled template accordingly (scripts/osls-retained-resources-plugin.mjs
// applies them at packaging time): the IAM grants stay scoped to exactly those resources.

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Replaces every node for which `replace` answers something (depth first, the template copied). */
const rewrite = (node, replace) => {
  const replaced = replace(node)
  if (replaced !== undefined) return replaced
  if (Array.isArray(node)) return node.map((item) => rewrite(item, replace))
  if (!isObject(node)) return node
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, rewrite(value, replace)]))
}

/** `Ref: id` → `value`, `GetAtt id.Arn` → `arn`, and `${id.Arn}` / `${id}` inside Fn::Sub strings. */
const replaceReferences = (template, id, { value, arn, arnInSub }) =>
  rewrite(template, (node) => {
    if (!isObject(node)) return undefined
    if (node.Ref === id && Object.keys(node).length === 1) return value
    const getAtt = node['Fn::GetAtt']
    if (Array.isArray(getAtt) && getAtt[0] === id) {
      if (getAtt[1] !== 'Arn') throw new Error(`${id}.${getAtt[1]} has no replacement`)
      return arn
    }
    if (typeof getAtt === 'string' && getAtt.startsWith(`${id}.`)) {
      if (getAtt !== `${id}.Arn`) throw new Error(`${getAtt} has no replacement`)
      return arn
    }
    const sub = node['Fn::Sub']
    const text = typeof sub === 'string' ? sub : Array.isArray(sub) ? sub[0] : undefined
    if (typeof text === 'string' && (text.includes(`\${${id}.Arn}`) || text.includes(`\${${id}}`))) {
      const replaced = text.replaceAll(`\${${id}.Arn}`, arnInSub).replaceAll(`\${${id}}`, String(value))
      return { 'Fn::Sub': typeof sub === 'string' ? replaced : [replaced, ...sub.slice(1)] }
    }
    return undefined
  })

const withoutDependency = (template, id) => ({
  ...template,
  Resources: Object.fromEntries(
    Object.entries(template.Resources).map(([name, resource]) => {
      const listed = resource.DependsOn === undefined ? [] : [resource.DependsOn].flat()
      if (!listed.includes(id)) return [name, resource]
      const dependsOn = listed.filter((dependency) => dependency !== id)
      const { DependsOn: _dropped, ...rest } = resource
      return [name, dependsOn.length === 0 ? rest : { ...rest, DependsOn: dependsOn }]
    }),
  ),
})

/** Throws if anything still refers to `id` (a reference this module does not know how to replace). */
const assertUnreferenced = (template, id) => {
  const text = JSON.stringify({ ...template, Resources: template.Resources })
  const patterns = [
    `{"Ref":"${id}"}`,
    `"Fn::GetAtt":["${id}"`,
    `"Fn::GetAtt":"${id}.`,
    `\${${id}.`,
    `\${${id}}`,
  ]
  const found = patterns.find((pattern) => text.includes(pattern))
  if (found) throw new Error(`the template still refers to ${id} (${found})`)
}

const removeResource = (template, id, replacements) => {
  if (!template.Resources?.[id]) throw new Error(`the template has no ${id} to replace`)
  const { [id]: _removed, ...resources } = template.Resources
  const result = withoutDependency(
    replaceReferences({ ...template, Resources: resources }, id, replacements),
    id,
  )
  assertUnreferenced(result, id)
  return result
}

export const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/

/** The template with the registry table `RegistryTable` replaced by the existing table `tableName`. */
export const useExistingTable = (template, tableName, tableId = 'RegistryTable') => {
  if (!TABLE_NAME.test(tableName)) {
    throw new Error(`existingTableName "${tableName}": a DynamoDB table name (3–255 of a-z A-Z 0-9 _ . -)`)
  }
  const arnInSub = `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${tableName}`
  return removeResource(template, tableId, { value: tableName, arn: { 'Fn::Sub': arnInSub }, arnInSub })
}

/** The template with every log group it would create replaced by the existing group of that name. */
export const useExistingLogGroups = (template) => {
  const groups = Object.entries(template.Resources).filter(
    ([, resource]) => resource.Type === 'AWS::Logs::LogGroup',
  )
  if (groups.length === 0) throw new Error('the template creates no log group to replace')
  return groups.reduce((current, [id, group]) => {
    const name = group.Properties?.LogGroupName
    if (typeof name !== 'string')
      throw new Error(`${id} has no literal LogGroupName, so the kept group cannot be named`)
    // The form CloudFormation's GetAtt <log group>.Arn gives, so every consumer sees the same ARN.
    const arnInSub = `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${name}:*`
    return removeResource(current, id, { value: name, arn: { 'Fn::Sub': arnInSub }, arnInSub })
  }, template)
}
