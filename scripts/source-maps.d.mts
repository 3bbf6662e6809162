// Types of scripts/source-maps.mjs for the TypeScript that imports it (test/unit).
export interface SourceMapV3 {
  version: 3
  file?: string
  sources: string[]
  sourcesContent?: (string | null)[]
  names: string[]
  mappings: string
}

export declare const keepSources: (map: SourceMapV3, keep: (source: string) => boolean) => SourceMapV3
