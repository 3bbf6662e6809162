// Types of scripts/issuer-guard.mjs for the TypeScript that imports it (test/unit).
export type PlannedIssuer = { kind: 'execute-api' } | { kind: 'custom-domain'; url: string }
export declare const plannedIssuer: (template: unknown) => PlannedIssuer
export declare const issuerChange: (
  deployedIssuerUrl: string | undefined,
  planned: PlannedIssuer,
) => { from: string; to: string } | undefined
export declare const refusal: (input: {
  stage: string
  paramsFile: string
  change: { from: string; to: string }
}) => string
