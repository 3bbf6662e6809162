// Whether a deploy would change the broker's issuer URL: the `iss` of every broker token, and
// the URL every target account registered as its IAM OIDC provider. Changing it breaks every
// role that trusts the broker until each account registers the new URL, so a deploy that would
// do it is refused unless asked for (scripts/osls-issuer-guard-plugin.mjs). Pure: the plugin
// hands in the rendered template and the deployed stack's outputs.

/** What the rendered template will make the issuer URL (serverless.yml: the IssuerUrl output). */
export const plannedIssuer = (template) => {
  const domain = template?.Parameters?.CustomDomain?.Default
  if (typeof domain !== 'string') {
    throw new Error('the rendered template has no CustomDomain parameter: is this the irsa-broker template?')
  }
  return domain === '' ? { kind: 'execute-api' } : { kind: 'custom-domain', url: `https://${domain}` }
}

const EXECUTE_API = /^https:\/\/[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/

/**
 * `deployedIssuerUrl`: the IssuerUrl output of the stack as deployed, or undefined when the
 * stack does not exist (a first deploy: nothing trusts it yet). Answers undefined when the URL
 * stays, else `{ from, to }`. Without a custom domain the URL is the HTTP API's own, which an
 * update keeps (its id changes only if the stack is re-created).
 */
export const issuerChange = (deployedIssuerUrl, planned) => {
  if (deployedIssuerUrl === undefined) return undefined
  if (planned.kind === 'custom-domain')
    return deployedIssuerUrl === planned.url ? undefined : { from: deployedIssuerUrl, to: planned.url }
  return EXECUTE_API.test(deployedIssuerUrl)
    ? undefined
    : { from: deployedIssuerUrl, to: 'the HTTP API’s execute-api URL (no customDomain)' }
}

/** The refusal, in words an operator can act on. */
export const refusal = ({ stage, paramsFile, change }) =>
  [
    `This deploy would change the issuer URL of stage "${stage}" from ${change.from} to ${change.to}.`,
    'Every target account trusts the current URL (its IAM OIDC provider and role trust policies name it);',
    'after the change no workload gets credentials until each account registers the new one.',
    `If the custom domain was lost, set customDomain (and certificateArn, hostedZoneId) in ${paramsFile} again.`,
    'If the change is meant, deploy with --allow-issuer-change (docs/deploy.md, "Changing the issuer URL").',
  ].join('\n')
