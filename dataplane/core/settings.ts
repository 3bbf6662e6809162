// The webhook's settings (its flags; docs/data-planes.md, "Install the webhook"), checked once at
// start by the composition root through parseWebhookSettings and frozen: planPodMutation trusts them.
import { en } from 'zod/locales'
import * as z from 'zod/mini'
import { InvalidParameterError } from '../../shared/core/errors.js'
import { parseInput } from '../../shared/core/parse-input.js'
import {
  DEFAULT_AGENT_EXECUTABLE,
  DEFAULT_AUDIENCE,
  DEFAULT_TOKEN_EXPIRATION_SECONDS,
  MAX_TOKEN_EXPIRATION_SECONDS,
  MIN_TOKEN_EXPIRATION_SECONDS,
} from './names.js'

z.config(en())

export interface WebhookSettings {
  /** The broker's base URL, without a trailing slash: FULL_URI is `<brokerUrl>/v1/credentials`. */
  readonly brokerUrl: string
  /** The projected token's audience (`--audience`, default `irsa-broker`). */
  readonly audience: string
  /** Token lifetime when no annotation or rule sets one (`--token-expiration`, default 3600). */
  readonly tokenExpirationSeconds: number
  /** `--region`: adds AWS_REGION and AWS_DEFAULT_REGION. */
  readonly region?: string | undefined
  /** The agent image, for the profiles init container. */
  readonly agentImage: string
  /** The self-contained executable inside the agent image. */
  readonly agentExecutable?: string | undefined
  /** The webhook's own namespace: never wired (no bootstrap deadlock). */
  readonly ownNamespace: string
}

const isLoopbackHost = (hostname: string): boolean =>
  hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/** https anywhere; http only to loopback (the SDKs refuse anything else, and a token must not travel in clear). */
const brokerUrlProblem = (value: string): string | undefined => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'must be a URL like https://broker.example.com'
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname)))
    return 'must be an https URL (plain http only to loopback)'
  if (url.username || url.password || url.search || url.hash)
    return 'must be the base URL, without user, query or fragment'
  return undefined
}

const settingsSchema = z.strictObject({
  brokerUrl: z.string().check(
    z.maxLength(2048),
    z.superRefine((value, ctx) => {
      const problem = brokerUrlProblem(value)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    }),
  ),
  audience: z._default(z.string().check(z.minLength(1), z.maxLength(256)), DEFAULT_AUDIENCE),
  tokenExpirationSeconds: z._default(
    z
      .number()
      .check(z.int(), z.minimum(MIN_TOKEN_EXPIRATION_SECONDS), z.maximum(MAX_TOKEN_EXPIRATION_SECONDS)),
    DEFAULT_TOKEN_EXPIRATION_SECONDS,
  ),
  region: z.optional(
    z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region like eu-west-1')),
  ),
  agentImage: z
    .string()
    .check(z.minLength(1), z.maxLength(512), z.regex(/^\S+$/, 'must be an image reference')),
  agentExecutable: z._default(
    z.string().check(z.regex(/^\/[\x21-\x7e]{1,1023}$/, 'must be an absolute path')),
    DEFAULT_AGENT_EXECUTABLE,
  ),
  ownNamespace: z.string().check(z.regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a namespace name')),
})

export type ParsedSettings = { ok: true; settings: WebhookSettings } | { ok: false; message: string }

/** Checks the settings the composition root gathered from flags; the result is frozen. */
export const parseWebhookSettings = (input: unknown): ParsedSettings => {
  try {
    const parsed = parseInput(settingsSchema, input)
    return {
      ok: true,
      settings: Object.freeze({ ...parsed, brokerUrl: parsed.brokerUrl.replace(/\/+$/, '') }),
    }
  } catch (error) {
    if (error instanceof InvalidParameterError) return { ok: false, message: error.message }
    throw error
  }
}
