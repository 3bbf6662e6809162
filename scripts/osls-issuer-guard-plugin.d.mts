// Types of scripts/osls-issuer-guard-plugin.mjs for the TypeScript that imports it (test/).
export declare const deployedIssuerUrl: (
  cloudFormation: { send(command: unknown): Promise<unknown> },
  stackName: string,
) => Promise<string | undefined>
declare class IssuerGuard {
  constructor(serverless: unknown, options?: Record<string, unknown>, utils?: unknown)
  hooks: Record<string, () => Promise<void>>
  commands: unknown
}
export default IssuerGuard
