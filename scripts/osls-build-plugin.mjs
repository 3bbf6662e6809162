// osls plugin (serverless.yml `plugins`): runs scripts/build.mjs before osls zips dist/, so
// `osls package` and `osls deploy` never ship missing or stale bundles.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

export default class BuildBundles {
  constructor(serverless) {
    const build = () => {
      const script = join(serverless.serviceDir, 'scripts', 'build.mjs')
      const { status, error } = spawnSync(process.execPath, [script], { stdio: 'inherit' })
      if (status !== 0) {
        throw new serverless.classes.Error(`Building the bundles failed (node ${script}): ${error ?? status}`)
      }
    }
    this.hooks = {
      'before:package:createDeploymentArtifacts': build,
      'before:deploy:function:packageFunction': build,
    }
  }
}
