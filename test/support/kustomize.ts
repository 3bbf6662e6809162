// The part of kustomize (https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/)
// that infra/kubernetes/agent uses, rendered by hand: no kustomize runs here (kubectl's is not
// on every machine, and none is on npm). resources (files, and folders with a kustomization),
// images (with the extra fields a `configurations` file names for it) and JSON 6902 `add`
// patches. Any other field of a kustomization is an error, so that the folder cannot start using
// a feature this rendering would silently skip. What it renders was compared once with
// `kubectl kustomize` (kustomize v5.5.0): the same objects, field for field.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'

// biome-ignore lint/suspicious/noExplicitAny: manifests are arbitrary YAML, checked field by field by the tests.
export type Manifest = Record<string, any>

export interface Kustomization {
  dir: string
  resources: string[]
  images: { name: string; newName?: string; newTag?: string }[]
  configurations: string[]
  patches: { target: { kind: string; name: string }; patch: string }[]
}

const FIELDS = new Set(['apiVersion', 'kind', 'resources', 'images', 'configurations', 'patches'])

export const readKustomization = (dir: string): Kustomization => {
  const raw = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Manifest
  for (const field of Object.keys(raw))
    if (!FIELDS.has(field))
      throw new Error(`${relative(process.cwd(), dir)}: kustomization field ${field} is not rendered here`)
  if (raw.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || raw.kind !== 'Kustomization')
    throw new Error(`${dir}: not a kustomize.config.k8s.io/v1beta1 Kustomization`)
  return {
    dir,
    resources: raw.resources ?? [],
    images: raw.images ?? [],
    configurations: raw.configurations ?? [],
    patches: raw.patches ?? [],
  }
}

export const loadDocuments = (path: string): Manifest[] =>
  [...parseAllDocuments(readFileSync(path, 'utf8'), { uniqueKeys: true })].map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors.join('; ')}`)
    return document.toJS() as Manifest
  })

/** An images fieldSpec path (`spec/template/spec/containers[]/env[]/value`) → the string slots it names. */
const slots = (object: Manifest, path: string[]): { parent: Manifest; key: string }[] => {
  const [head, ...rest] = path
  if (head === undefined || object === null || typeof object !== 'object') return []
  const list = head.endsWith('[]')
  const key = list ? head.slice(0, -2) : head
  if (rest.length === 0) return typeof object[key] === 'string' ? [{ parent: object, key }] : []
  if (!list) return slots(object[key], rest)
  return Array.isArray(object[key]) ? object[key].flatMap((item: Manifest) => slots(item, rest)) : []
}

/** The image fields kustomize rewrites by default, for the kinds here. */
const DEFAULT_IMAGE_PATHS = [
  'spec/template/spec/containers[]/image',
  'spec/template/spec/initContainers[]/image',
  'spec/containers[]/image',
  'spec/initContainers[]/image',
  'spec/jobTemplate/spec/template/spec/containers[]/image',
  'spec/jobTemplate/spec/template/spec/initContainers[]/image',
]

const imageName = (image: string) => image.replace(/[:@].*$/, '')

const applyImages = (
  manifests: Manifest[],
  kustomization: Kustomization,
  extraPaths: { kind: string; path: string }[],
) => {
  for (const manifest of manifests) {
    const paths = [
      ...DEFAULT_IMAGE_PATHS,
      ...extraPaths.filter((spec) => spec.kind === manifest.kind).map((spec) => spec.path),
    ]
    for (const { parent, key } of paths.flatMap((path) => slots(manifest, path.split('/')))) {
      const rule = kustomization.images.find((image) => image.name === imageName(parent[key]))
      if (!rule) continue
      const tag = /:(.*)$/.exec(parent[key])?.[1]
      const newTag = rule.newTag ?? tag
      parent[key] = `${rule.newName ?? rule.name}${newTag ? `:${newTag}` : ''}`
    }
  }
}

const unescapePointer = (token: string) => token.replace(/~1/g, '/').replace(/~0/g, '~')

const applyPatch = (manifest: Manifest, patch: string) => {
  for (const operation of parse(patch) as { op: string; path: string; value: unknown }[]) {
    if (operation.op !== 'add') throw new Error(`patch op ${operation.op} is not rendered here`)
    const tokens = operation.path.split('/').slice(1).map(unescapePointer)
    const last = tokens.pop() as string
    let parent = manifest
    for (const token of tokens) {
      if (parent[token] === undefined) throw new Error(`patch path ${operation.path}: no ${token}`)
      parent = parent[token]
    }
    parent[last] = structuredClone(operation.value)
  }
}

/** Every object `kubectl apply -k dir` would send, and every file (absolute) it read. */
export const renderKustomization = (dir: string): { manifests: Manifest[]; files: string[] } => {
  const kustomization = readKustomization(dir)
  const manifests: Manifest[] = []
  const files: string[] = [join(dir, 'kustomization.yaml')]
  for (const resource of kustomization.resources) {
    const path = join(dir, resource)
    if (!existsSync(path)) throw new Error(`${dir}: resource ${resource} does not exist`)
    if (statSync(path).isDirectory()) {
      const nested = renderKustomization(path)
      manifests.push(...nested.manifests)
      files.push(...nested.files)
    } else {
      manifests.push(...loadDocuments(path))
      files.push(path)
    }
  }
  const extraPaths = kustomization.configurations.flatMap((file) => {
    files.push(join(dir, file))
    return ((parse(readFileSync(join(dir, file), 'utf8')) as Manifest).images ?? []) as {
      kind: string
      path: string
    }[]
  })
  applyImages(manifests, kustomization, extraPaths)
  for (const { target, patch } of kustomization.patches) {
    const matches = manifests.filter((m) => m.kind === target.kind && m.metadata?.name === target.name)
    if (matches.length !== 1)
      throw new Error(`${dir}: patch target ${target.kind}/${target.name} matches ${matches.length} objects`)
    applyPatch(matches[0] as Manifest, patch)
  }
  return { manifests, files }
}
