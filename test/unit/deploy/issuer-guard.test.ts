// The deploy guard's decision: a deploy that would change the issuer URL of a deployed stage is
// a change; a first deploy, the same custom domain, or an execute-api stage staying one is not.
import { describe, expect, it } from 'vitest'
import { issuerChange, plannedIssuer, refusal } from '../../../scripts/issuer-guard.mjs'

const templateWith = (customDomain: string) => ({
  Parameters: { CustomDomain: { Type: 'String', Default: customDomain } },
})
const CUSTOM = plannedIssuer(templateWith('broker.example.com'))
const EXECUTE_API = plannedIssuer(templateWith(''))
const DEPLOYED_API = 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com'

describe('plannedIssuer', () => {
  it('reads the custom domain the rendered template will deploy with', () => {
    expect(CUSTOM).toEqual({ kind: 'custom-domain', url: 'https://broker.example.com' })
    expect(EXECUTE_API).toEqual({ kind: 'execute-api' })
  })

  it('refuses a template without the CustomDomain parameter', () => {
    expect(() => plannedIssuer({ Parameters: {} })).toThrow(/no CustomDomain parameter/)
  })
})

describe('issuerChange', () => {
  it.each([
    ['a first deploy (no stack yet), with a custom domain', undefined, CUSTOM],
    ['a first deploy (no stack yet), on execute-api', undefined, EXECUTE_API],
    ['the same custom domain', 'https://broker.example.com', CUSTOM],
    ['execute-api staying execute-api (an update keeps the API id)', DEPLOYED_API, EXECUTE_API],
    ['execute-api in China regions', 'https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn', EXECUTE_API],
  ] as const)('lets %s through', (_, deployed, planned) => {
    expect(issuerChange(deployed, planned)).toBeUndefined()
  })

  it.each([
    [
      'a rotation that lost the custom domain',
      'https://broker.example.com',
      EXECUTE_API,
      'the HTTP API’s execute-api URL (no customDomain)',
    ],
    ['another custom domain', 'https://old.example.com', CUSTOM, 'https://broker.example.com'],
    ['a custom domain added to an execute-api stage', DEPLOYED_API, CUSTOM, 'https://broker.example.com'],
  ] as const)('calls %s a change', (_, deployed, planned, to) => {
    expect(issuerChange(deployed, planned)).toEqual({ from: deployed, to })
  })
})

describe('refusal', () => {
  it('names the stage, both URLs, the file to fix and the flag that allows it', () => {
    const text = refusal({
      stage: 'prod',
      paramsFile: 'params/prod.yml',
      change: { from: 'https://broker.example.com', to: 'https://other.example.com' },
    })
    expect(text).toContain(
      'issuer URL of stage "prod" from https://broker.example.com to https://other.example.com',
    )
    expect(text).toContain('params/prod.yml')
    expect(text).toContain('--allow-issuer-change')
  })
})
