// Reads CloudFormation-flavoured YAML (serverless.yml, infra/*.yaml) with the short-form
// intrinsic tags (!Ref, !GetAtt, !Sub, !Join, !If, …) turned into their JSON long form.
import { type CollectionTag, parse, type ScalarTag } from 'yaml'

const FUNCTIONS = [
  'Base64',
  'Cidr',
  'FindInMap',
  'GetAZs',
  'GetAtt',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'And',
  'Equals',
  'If',
  'Not',
  'Or',
] as const

const longForm = (name: string, value: unknown): Record<string, unknown> => {
  if (name === 'Ref' || name === 'Condition') return { [name]: value }
  if (name === 'GetAtt' && typeof value === 'string') {
    const dot = value.indexOf('.')
    return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] }
  }
  return { [`Fn::${name}`]: value }
}

const customTags: (ScalarTag | CollectionTag)[] = ['Ref', 'Condition', ...FUNCTIONS].flatMap((name) => [
  { tag: `!${name}`, resolve: (value: string) => longForm(name, value) },
  {
    tag: `!${name}`,
    collection: 'seq' as const,
    resolve: (seq) => longForm(name, seq.toJSON()),
  } as CollectionTag,
  {
    tag: `!${name}`,
    collection: 'map' as const,
    resolve: (map) => longForm(name, map.toJSON()),
  } as CollectionTag,
])

export const parseCloudFormationYaml = (text: string): unknown => parse(text, { customTags })
