// Types of scripts/build-agent.mjs for the TypeScript that imports it (test/).
export declare const AGENT_PATHS: { cli: string; cliEntry: string; executable: string }
export declare const buildAgent: (options: {
  root?: string
  out: string
}) => Promise<{ out: string; cliBytes: number; executableBytes: number; nodeVersion: string }>
