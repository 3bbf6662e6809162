// Redeploying a stage over the table and log groups a removed deployment kept: the rendered
// template (the one `npm run package` writes) loses those resources, every reference names the
// kept ones, and the grants stay exactly as narrow; nothing else in the template changes.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useExistingLogGroups, useExistingTable } from '../../../scripts/retained-resources.mjs'

type Template = {
  Resources: Record<string, { Type: string; DependsOn?: unknown; [key: string]: unknown }>
} & Record<string, unknown>

const TEMPLATE = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  '.serverless',
  'cloudformation-template-update-stack.json',
)
const generated = (): Template => {
  if (!existsSync(TEMPLATE))
    throw new Error('.serverless/ is missing: run `npm run package` first (`npm test` does)')
  return JSON.parse(readFileSync(TEMPLATE, 'utf8')) as Template
}

const TABLE = 'irsa-broker-prod-RegistryTable-1A2B3C4D5E6F'
const TABLE_ARN = `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${TABLE}`
const logGroupArn = (name: string) =>
  `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${name}:*`

/** Every path whose value differs between two JSON documents. */
const differences = (a: unknown, b: unknown, path = ''): string[] => {
  if (JSON.stringify(a) === JSON.stringify(b)) return []
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return [path]
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].flatMap((key) =>
    differences((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}/${key}`),
  )
}

describe('useExistingTable', () => {
  it('drops the table; the functions, grants and output name the kept table, and nothing else changes', () => {
    const before = generated()
    const after = useExistingTable(before, TABLE)
    const text = JSON.stringify(after)

    expect(after.Resources.RegistryTable).toBeUndefined()
    expect(Object.values(after.Resources).filter((r) => r.Type === 'AWS::DynamoDB::Table')).toEqual([])
    expect(text).not.toMatch(/"Ref":"RegistryTable"|"RegistryTable","Arn"|\$\{RegistryTable/)
    for (const [id, resource] of Object.entries(after.Resources).filter(
      ([, r]) => r.Type === 'AWS::Lambda::Function',
    )) {
      expect(JSON.stringify(resource), id).toContain(`"IRSA_BROKER_TABLE":"${TABLE}"`)
    }
    // The same grants, on exactly the kept table and its byIss index.
    const changed = differences(before, after)
    expect(
      changed.every((path) =>
        /^\/Resources\/(RegistryTable$|\w+(LambdaFunction|Role)\/)|^\/Outputs\/RegistryTableName\//.test(
          path,
        ),
      ),
      changed.join('\n'),
    ).toBe(true)
    expect(text).toContain(JSON.stringify({ 'Fn::Sub': TABLE_ARN }))
    expect(text).toContain(JSON.stringify({ 'Fn::Sub': `${TABLE_ARN}/index/byIss` }))
    expect(text).not.toMatch(/:table\/\*/)
    expect((after.Outputs as Record<string, { Value: unknown }>).RegistryTableName?.Value).toBe(TABLE)
  })

  it('refuses a name DynamoDB would refuse, and a template without the table', () => {
    expect(() => useExistingTable(generated(), 'no spaces')).toThrow(/a DynamoDB table name/)
    expect(() => useExistingTable(useExistingTable(generated(), TABLE), TABLE)).toThrow(
      /has no RegistryTable/,
    )
  })

  it('refuses to leave a reference it cannot rewrite', () => {
    const template = generated()
    template.Resources.Extra = {
      Type: 'AWS::SSM::Parameter',
      Properties: { Value: { 'Fn::GetAtt': ['RegistryTable', 'StreamArn'] } },
    }
    expect(() => useExistingTable(template, TABLE)).toThrow(/RegistryTable\.StreamArn has no replacement/)
  })
})

describe('useExistingLogGroups', () => {
  it('drops every log group; the roles, the functions and the access log name the kept groups', () => {
    const before = generated()
    const groups = Object.entries(before.Resources).filter(([, r]) => r.Type === 'AWS::Logs::LogGroup')
    const after = useExistingLogGroups(before)
    const text = JSON.stringify(after)

    expect(groups.map(([id]) => id).sort()).toEqual([
      'AdminLogGroup',
      'CredentialsLogGroup',
      'DiscoveryLogGroup',
      'HttpApiLogGroup',
      'KeysLogGroup',
      'RolesLogGroup',
    ])
    expect(Object.values(after.Resources).filter((r) => r.Type === 'AWS::Logs::LogGroup')).toEqual([])
    for (const [id, group] of groups) {
      const name = (group.Properties as { LogGroupName: string }).LogGroupName
      expect(text).not.toContain(`"${id}"`)
      expect(text, id).toContain(JSON.stringify({ 'Fn::Sub': logGroupArn(name) }))
    }
    // Each role still writes to its own function's group only.
    const roleGrant = (role: string) =>
      JSON.stringify((after.Resources[role]?.Properties as { Policies?: unknown } | undefined)?.Policies)
    expect(roleGrant('CredentialsRole')).toContain(logGroupArn('/aws/lambda/irsa-broker-ci-credentials'))
    expect(roleGrant('CredentialsRole')).not.toContain('irsa-broker-ci-admin')
    expect(after.Resources.HttpApiStage?.DependsOn).toBeUndefined()
    expect(after.Resources.CredentialsLambdaFunction?.DependsOn).toEqual(['CredentialsRole'])
  })
})

describe('the generated template', () => {
  it('keeps every log group, like the table and the key, when the stack is deleted', () => {
    const kept = Object.entries(generated().Resources)
      .filter(([, r]) => ['AWS::Logs::LogGroup', 'AWS::DynamoDB::Table', 'AWS::KMS::Key'].includes(r.Type))
      .map(([id, r]) => [id, r.DeletionPolicy, r.UpdateReplacePolicy])
    expect(kept).toHaveLength(8)
    for (const [id, deletion, replace] of kept)
      expect({ id, deletion, replace }).toEqual({ id, deletion: 'Retain', replace: 'Retain' })
  })
})
