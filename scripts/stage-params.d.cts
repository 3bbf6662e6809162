// Types of scripts/stage-params.cjs for the TypeScript that imports it (test/unit).
type Settings = Record<string, string | number | boolean | null>
declare function stageParams(input: {
  options: { stage?: string }
  resolveConfigurationProperty(path: string[]): Promise<unknown>
}): Promise<Record<string, Settings>>
declare namespace stageParams {
  function loadStageParams(input: {
    serviceDir: string
    stage: string
    env?: Record<string, string | undefined>
  }): Record<string, Settings>
  function paramsDir(serviceDir: string, env?: Record<string, string | undefined>): string
  const StageParamsError: new (message: string) => Error
}
export = stageParams
