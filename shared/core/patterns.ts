// The shapes of ids, profile names and role ARNs, shared by the broker's schemas, the trust
// policy builder and the CLI (which checks an id before it goes into a URL path, a profile
// before it goes into a config file). No imports, so the CLI gets them without zod.

/** An issuerId or bindingId: it is part of keys, URL paths and the broker token's `sub`. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** A binding's profile: the name workloads ask for and the AWS config profile `configure` writes. */
export const PROFILE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** An IAM role ARN (with optional path) in a partition STS serves. */
export const ROLE_ARN_PATTERN =
  /^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role\/(?:[\x21-\x7e]{0,510}\/)?[\w+=,.@-]{1,64}$/
