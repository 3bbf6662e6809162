// osls plugin (serverless.yml `plugins`): adds the stack's alarms and dashboard to the rendered
// template (scripts/monitoring.mjs), with the alarm topic of the stage parameter alarmTopicArn.
// Runs after the resources of serverless.yml are merged and before the template is written, so
// `osls package` shows what `deploy` sends.
import { withMonitoring } from './monitoring.mjs'

export default class Monitoring {
  constructor(serverless, _options = {}, utils = {}) {
    const apply = () => {
      const provider = serverless.service.provider
      const alarmTopicArn = String(serverless.service.custom?.monitoring?.alarmTopicArn ?? '')
      try {
        provider.compiledCloudFormationTemplate = withMonitoring(provider.compiledCloudFormationTemplate, {
          alarmTopicArn,
        })
      } catch (error) {
        throw new serverless.classes.Error(`Adding the alarms: ${error.message}`)
      }
      utils.log?.info?.(
        `Alarms ${alarmTopicArn ? `notify ${alarmTopicArn}` : 'have no actions (alarmTopicArn is empty)'}`,
      )
    }
    this.hooks = { 'before:aws:package:finalize:saveServiceState': apply }
  }
}
