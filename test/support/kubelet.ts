// A stand-in for what kubelet does with a pod spec, enough to run a pod's containers on this
// machine: its volumes laid out in a folder (a projected service-account token minted with the
// volume's audience and lifetime and written with its mode, an emptyDir, a Secret's or
// ConfigMap's keys as files, an optional ConfigMap that does not exist as an empty folder), and
// each container's command line and environment as kubelet builds them (env values,
// `configMapKeyRef`, `fieldRef: metadata.namespace`, `$(VAR)` expanded in command and args, the
// image's entry point when the container names no command), every absolute path mapped through
// its volumeMounts to those folders, or into the folder of its image's files. Any volume kind or
// env source it does not know is an error, so a pod shape it cannot run is never run halfway.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { isAbsolute, join, relative } from 'node:path'

// biome-ignore lint/suspicious/noExplicitAny: a pod is untrusted JSON, read field by field below.
export type PodObject = Record<string, any>

export interface TokenRequest {
  audience: string
  expirationSeconds: number
  namespace: string
  serviceAccount: string
}

export interface Image {
  /** The folder of the image's files (a path of the image → the same path under it). */
  root: string
  /** The image's ENTRYPOINT, used when the container names no `command`. */
  entrypoint?: string[]
  /** Paths of the image that stand for a program of this machine (distroless's node → this node). */
  programs?: Record<string, string>
}

export interface LaidOutPod {
  /** The folder holding volume `name`. */
  volumeDir(name: string): string
  /** The container named so, from containers or initContainers. */
  container(name: string): PodObject
  /** Where an absolute path of the container lives here: a mount, else the image's files. */
  hostPath(container: PodObject, path: string): string
  /** The container's environment as kubelet builds it, absolute paths mapped. */
  env(container: PodObject): Record<string, string>
  /** The process kubelet starts: (command or the entry point) + args, `$(VAR)` expanded, paths mapped. */
  commandLine(container: PodObject): string[]
}

const under = (parent: string, path: string) =>
  path === parent || path.startsWith(`${parent.replace(/\/$/, '')}/`)

/**
 * Lays out the pod's volumes under `root`. `images` maps an image reference to its files;
 * `objects` are the ConfigMaps and Secrets of the pod's namespace; `mintToken` stands in for the
 * TokenRequest kubelet makes.
 */
export const layOutPod = async (options: {
  pod: PodObject
  namespace: string
  root: string
  images: Record<string, Image>
  objects?: PodObject[]
  mintToken?: (request: TokenRequest) => Promise<string>
}): Promise<LaidOutPod> => {
  const { pod, root, namespace } = options
  const spec = pod.spec as PodObject
  const object = (kind: string, name: string) =>
    (options.objects ?? []).find(
      (o) => o.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? namespace) === namespace,
    )
  const volumeDir = (name: string) => join(root, 'volumes', name)
  const writeKeys = (
    dir: string,
    data: Record<string, string>,
    decode: (value: string) => Buffer,
    mode: number,
  ) => {
    for (const [key, value] of Object.entries(data)) {
      writeFileSync(join(dir, key), decode(value))
      chmodSync(join(dir, key), mode)
    }
  }

  for (const volume of (spec.volumes ?? []) as PodObject[]) {
    const dir = volumeDir(volume.name)
    mkdirSync(dir, { recursive: true })
    if (volume.emptyDir !== undefined) {
      chmodSync(dir, 0o777)
    } else if (volume.projected !== undefined) {
      for (const source of volume.projected.sources as PodObject[]) {
        const token = source.serviceAccountToken
        if (!token || !options.mintToken)
          throw new Error(`volume ${volume.name}: only serviceAccountToken sources are laid out here`)
        const file = join(dir, token.path)
        writeFileSync(
          file,
          await options.mintToken({
            audience: token.audience,
            expirationSeconds: token.expirationSeconds ?? 3600,
            namespace,
            serviceAccount: spec.serviceAccountName ?? 'default',
          }),
        )
        chmodSync(file, volume.projected.defaultMode ?? 0o644)
      }
    } else if (volume.secret !== undefined) {
      const secret = object('Secret', volume.secret.secretName)
      if (!secret && !volume.secret.optional)
        throw new Error(`volume ${volume.name}: no Secret ${volume.secret.secretName}`)
      writeKeys(
        dir,
        secret?.data ?? {},
        (value) => Buffer.from(value, 'base64'),
        volume.secret.defaultMode ?? 0o644,
      )
    } else if (volume.configMap !== undefined) {
      const configMap = object('ConfigMap', volume.configMap.name)
      if (!configMap && !volume.configMap.optional)
        throw new Error(`volume ${volume.name}: no ConfigMap ${volume.configMap.name}`)
      writeKeys(
        dir,
        configMap?.data ?? {},
        (value) => Buffer.from(value),
        volume.configMap.defaultMode ?? 0o644,
      )
    } else {
      throw new Error(
        `volume ${volume.name}: only emptyDir, projected, secret and configMap volumes are laid out here`,
      )
    }
  }

  const container = (name: string): PodObject => {
    const found = [...(spec.initContainers ?? []), ...spec.containers].filter(
      (c: PodObject) => c.name === name,
    )
    if (found.length !== 1) throw new Error(`the pod has ${found.length} containers named ${name}`)
    return found[0]
  }

  const imageOf = (of: PodObject): Image => {
    const image = options.images[of.image]
    if (image === undefined) throw new Error(`${of.name}: image ${of.image} has no files here`)
    return image
  }

  const hostPath = (of: PodObject, path: string): string => {
    if (!isAbsolute(path)) throw new Error(`${of.name}: ${path} is not an absolute path`)
    const mount = ((of.volumeMounts ?? []) as PodObject[])
      .filter((m) => under(m.mountPath, path))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0]
    if (mount) return join(volumeDir(mount.name), relative(mount.mountPath, path))
    const image = imageOf(of)
    return image.programs?.[path] ?? join(image.root, path)
  }

  const mapped = (of: PodObject, value: string) => (isAbsolute(value) ? hostPath(of, value) : value)

  /** Values as the container sees them (unmapped), in order, each able to refer to earlier ones. */
  const rawEnv = (of: PodObject): Record<string, string> => {
    const env: Record<string, string> = {}
    for (const entry of (of.env ?? []) as PodObject[]) {
      const from = entry.valueFrom
      if (from === undefined) env[entry.name] = expand(String(entry.value ?? ''), env)
      else if (from.configMapKeyRef) {
        const value = object('ConfigMap', from.configMapKeyRef.name)?.data?.[from.configMapKeyRef.key]
        if (value === undefined)
          throw new Error(`${of.name}: env ${entry.name}: no ConfigMap key ${from.configMapKeyRef.key}`)
        env[entry.name] = value
      } else if (from.fieldRef?.fieldPath === 'metadata.namespace') env[entry.name] = namespace
      else throw new Error(`${of.name}: env ${entry.name}: this kind of valueFrom is not built here`)
    }
    return env
  }

  return {
    volumeDir,
    container,
    hostPath,
    env: (of) =>
      Object.fromEntries(Object.entries(rawEnv(of)).map(([name, value]) => [name, mapped(of, value)])),
    commandLine: (of) => {
      const env = rawEnv(of)
      const command = of.command ?? imageOf(of).entrypoint ?? []
      return [...command, ...(of.args ?? [])].map((arg: string) => mapped(of, expand(arg, env)))
    },
  }
}

/** `$(VAR)` → the variable's value when it is defined, else left as written; `$$` escapes (as kubelet does). */
const expand = (text: string, env: Record<string, string>) =>
  text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string | undefined) =>
    name === undefined ? '$' : (env[name] ?? match),
  )
