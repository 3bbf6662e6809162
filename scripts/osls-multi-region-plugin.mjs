// osls plugin (serverless.yml `plugins`): renders the stack of one Region of a multi-Region stage
// (stage parameter `regions`, scripts/multi-region.mjs) — run once per Region, `--region` naming
// it (`npm run package` does, scripts/package.mjs). A stage without `regions` renders unchanged.
// After the monitoring plugin: a Region's health check watches its HTTP API 5xx alarm.
import { parseRegions, toRegion } from './multi-region.mjs'

export default class MultiRegion {
  constructor(serverless, _options = {}, utils = {}) {
    const apply = () => {
      const settings = serverless.service.custom?.multiRegion ?? {}
      const provider = serverless.service.provider
      try {
        const regions = parseRegions(settings.regions)
        if (regions.length === 0) return
        provider.compiledCloudFormationTemplate = toRegion(provider.compiledCloudFormationTemplate, {
          regions,
          region: provider.region,
          stage: provider.stage,
          service: serverless.service.service,
          customDomain: String(settings.customDomain ?? ''),
          hostedZoneId: String(settings.hostedZoneId ?? ''),
          certificateArn: String(settings.certificateArn ?? ''),
          signingKeyPrimaryArn: String(settings.signingKeyPrimaryArn ?? ''),
        })
        const role = provider.region === regions[0] ? 'home Region' : `replica of ${regions[0]}`
        utils.log?.notice?.(
          `Multi-Region stage (${regions.join(', ')}): the ${provider.region} stack, ${role}`,
        )
      } catch (error) {
        throw new serverless.classes.Error(`Multi-Region stage: ${error.message}`)
      }
    }
    this.hooks = { 'before:aws:package:finalize:saveServiceState': apply }
  }
}
