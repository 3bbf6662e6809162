// Types of scripts/build.mjs for the TypeScript that imports it (test/bench, test/unit).
import type { BuildOptions, Metafile } from 'esbuild'

export declare const FUNCTIONS_META: string
export declare const functionNames: (root?: string) => string[]
export declare const buildFunctions: (options?: {
  root?: string
  outdir?: string
  external?: string[]
}) => Promise<{ bundles: { name: string; file: string; bytes: number }[]; metafile: Metafile }>
export declare const lambdaOptions: (root: string) => BuildOptions
