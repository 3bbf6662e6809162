// The broker's HTTP paths, written once: functions/routes.ts (and through it serverless.yml and
// the local server) routes them, the CLI fills them in. No imports, so the CLI bundle takes it
// without anything of the server.

export const PATHS = {
  credentials: '/v1/credentials',
  roles: '/v1/roles',
  openIdConfiguration: '/.well-known/openid-configuration',
  jwks: '/.well-known/jwks.json',
  healthz: '/healthz',
  /** Key push (docs/api.md, "Key push"): public, authenticated by the cluster's own key-sync token. */
  issuerKeys: '/v1/issuers/{issuerId}/jwks',
  issuers: '/v1/admin/issuers',
  issuer: '/v1/admin/issuers/{issuerId}',
  issuerRefresh: '/v1/admin/issuers/{issuerId}/refresh',
  bindings: '/v1/admin/issuers/{issuerId}/bindings',
  binding: '/v1/admin/issuers/{issuerId}/bindings/{bindingId}',
  explain: '/v1/admin/explain',
  revocations: '/v1/admin/issuers/{issuerId}/revocations',
  revocation: '/v1/admin/issuers/{issuerId}/revocations/{revocationId}',
  /** The admin history (docs/api.md, "History"): `?issuerId=&since=&limit=&nextToken=`. */
  history: '/v1/admin/history',
} as const

/** The `{name}` parameters of a path template, as a union of their names. */
export type PathParameter<T extends string> = T extends `${string}{${infer Name}}${infer Rest}`
  ? Name | PathParameter<Rest>
  : never

/**
 * A path with its parameters filled in, each encoded as one segment, so that no value (an id
 * from a file, say) can reshape the path.
 */
export const fillPath = <T extends string>(template: T, values: Record<PathParameter<T>, string>): string =>
  template.replace(/\{(\w+)\}/g, (_, name: string) =>
    encodeURIComponent((values as Record<string, string>)[name] ?? ''),
  )
