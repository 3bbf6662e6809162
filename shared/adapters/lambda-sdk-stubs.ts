// What the Lambda bundles hold instead of two parts of the AWS SDK that never run there
// (scripts/build.mjs substitutes them; tests and the local stack use the SDK as it is):
// - @smithy/core/event-streams, the event-stream codec (about 19 KB minified, with its CRC32):
//   the SDK's protocols load it only to send or read an operation's event stream, and none of
//   the operations the broker calls (STS AssumeRole*, KMS Sign and GetPublicKey, DynamoDB
//   items) has one;
// - Sha256Js, the SDK's SHA-256 in JavaScript (about 3 KB): its Sha256Node uses it only where
//   node:crypto has no sha256, which no Node release is;
// - @aws-sdk/endpoint-cache, DynamoDB's cache of discovered endpoints with its LRU library
//   (mnemonist, about 7 KB): the DynamoDB client makes one when it is constructed, but none of
//   its operations the broker sends uses endpoint discovery, and shared/aws.ts turns discovery
//   off besides; the cache stays empty;
// - @smithy/core's AdaptiveRetryStrategy with its client-side rate limiter (about 3 KB): built
//   only for retryMode 'adaptive', and shared/aws.ts pins 'standard' whatever AWS_RETRY_MODE says.
// Should either ever be reached, the call fails with this error rather than the bundle
// quietly growing back.
const leftOut = (what: string): never => {
  throw new Error(`${what} is left out of irsa-broker's Lambda bundles (scripts/build.mjs)`)
}

/** The two exports @smithy/core's HttpProtocol imports from @smithy/core/event-streams. */
export const eventStreamSerdeProvider = (): never => leftOut('@smithy/core/event-streams')
export class EventStreamSerde {
  constructor() {
    leftOut('@smithy/core/event-streams')
  }
}

/** What @smithy/core's Sha256Node falls back to without node:crypto's sha256. */
export class Sha256Js {
  constructor() {
    leftOut('Sha256Js')
  }
}

/** DynamoDB's endpoint cache as it is with endpoint discovery off: empty. Only discovery writes to it. */
export class EndpointCache {
  getEndpoint(_key: string): undefined {
    return undefined
  }
  get(_key: string): undefined {
    return undefined
  }
  has(_key: string): boolean {
    return false
  }
  set(_key: string, _endpoints: unknown): never {
    return leftOut('@aws-sdk/endpoint-cache (endpoint discovery)')
  }
  delete(_key: string): void {}
  clear(): void {}
}

/** What @smithy/core's retry configuration builds for `retryMode: 'adaptive'`, which shared/aws.ts never asks for. */
export class AdaptiveRetryStrategy {
  constructor() {
    leftOut('AdaptiveRetryStrategy (retry mode "adaptive")')
  }
}
