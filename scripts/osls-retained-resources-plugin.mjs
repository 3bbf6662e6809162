// osls plugin (serverless.yml `plugins`): for a stage that reuses what an earlier deployment
// kept (params existingTableName, existingLogGroups: docs/deploy.md, "Removing the broker"),
// takes the table and the log groups out of the rendered template and points every reference
// at the kept ones (scripts/retained-resources.mjs). Runs after the resources of serverless.yml
// are merged and before the template is written, so `osls package` shows what `deploy` sends.
import { useExistingLogGroups, useExistingTable } from './retained-resources.mjs'

export default class RetainedResources {
  constructor(serverless, _options = {}, utils = {}) {
    const apply = () => {
      const reuse = serverless.service.custom?.reuse ?? {}
      const tableName = String(reuse.existingTableName ?? '')
      const logGroups = String(reuse.existingLogGroups ?? 'false')
      if (logGroups !== 'true' && logGroups !== 'false') {
        throw new serverless.classes.Error(`existingLogGroups must be 'true' or 'false', not "${logGroups}"`)
      }
      const provider = serverless.service.provider
      let template = provider.compiledCloudFormationTemplate
      try {
        if (tableName !== '') template = useExistingTable(template, tableName)
        if (logGroups === 'true') template = useExistingLogGroups(template)
      } catch (error) {
        throw new serverless.classes.Error(`Reusing kept resources: ${error.message}`)
      }
      if (template === provider.compiledCloudFormationTemplate) return
      provider.compiledCloudFormationTemplate = template
      const kept = [tableName && `table ${tableName}`, logGroups === 'true' && 'the existing log groups']
      utils.log?.notice?.(`Using ${kept.filter(Boolean).join(' and ')} (created by an earlier deployment)`)
    }
    this.hooks = { 'before:aws:package:finalize:saveServiceState': apply }
  }
}
