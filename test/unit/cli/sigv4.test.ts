// SigV4 for the admin API, checked without a network: against vectors of the AWS SigV4 test
// suite, and against an independent implementation of the algorithm (below, from the spec,
// itself checked against the same vectors) for the requests the CLI really sends.
import { createHash, createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { run } from '../../../cli/main.js'
import { signRequest } from '../../../cli/sigv4.js'

// The AWS SigV4 test suite's example credentials and instant.
const SUITE_CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
}
const SUITE_DATE = new Date('2015-08-30T12:36:00Z')

const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex')
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest()

/** RFC 3986 unreserved characters stay, everything else is %XX (upper case), as SigV4 requires. */
const encode = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** SigV4 written from the specification, for comparison only. */
const referenceSignature = (request: {
  method: string
  url: URL
  headers: Record<string, string>
  body: string
  region: string
  service: string
  credentials: { accessKeyId: string; secretAccessKey: string }
  date: Date
}) => {
  const amzDate = request.date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')
  const day = amzDate.slice(0, 8)
  const headers = Object.fromEntries(
    Object.entries({ ...request.headers, 'x-amz-date': amzDate }).map(([k, v]) => [
      k.toLowerCase(),
      v.trim(),
    ]),
  )
  const names = Object.keys(headers).sort()
  const query = [...request.url.searchParams.entries()]
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([a, x], [b, y]) =>
      (a as string) < (b as string) ? -1 : a === b ? ((x as string) < (y as string) ? -1 : 1) : 1,
    )
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  // Non-S3 services encode each path segment once more.
  const path = request.url.pathname
    .split('/')
    .map((segment) => encode(decodeURIComponent(segment)))
    .map((segment) => encode(segment))
    .join('/')
  const canonical = [
    request.method,
    path,
    query,
    ...names.map((name) => `${name}:${headers[name]}`),
    '',
    names.join(';'),
    sha256(request.body),
  ].join('\n')
  const scope = `${day}/${request.region}/${request.service}/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n')
  const key = hmac(
    hmac(hmac(hmac(`AWS4${request.credentials.secretAccessKey}`, day), request.region), request.service),
    'aws4_request',
  )
  return {
    authorization: `AWS4-HMAC-SHA256 Credential=${request.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${createHmac('sha256', key).update(toSign).digest('hex')}`,
  }
}

describe('the reference implementation used below', () => {
  it('reproduces the AWS SigV4 test suite vectors get-vanilla and get-vanilla-query-order-key-case', () => {
    const base = {
      method: 'GET',
      headers: { host: 'example.amazonaws.com' },
      body: '',
      region: 'us-east-1',
      service: 'service',
      credentials: SUITE_CREDENTIALS,
      date: SUITE_DATE,
    }
    expect(
      referenceSignature({ ...base, url: new URL('https://example.amazonaws.com/') }).authorization,
    ).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    )
    expect(
      referenceSignature({
        ...base,
        url: new URL('https://example.amazonaws.com/?Param2=value2&Param1=value1'),
      }).authorization,
    ).toMatch(/Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$/)
  })
})

describe('signRequest (cli/sigv4.ts)', () => {
  it('matches the AWS test suite vector get-vanilla exactly (no payload checksum header)', async () => {
    const headers = await signRequest(
      { method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {}, body: undefined },
      {
        region: 'us-east-1',
        service: 'service',
        credentials: SUITE_CREDENTIALS,
        signingDate: SUITE_DATE,
        applyChecksum: false,
      },
    )
    expect(headers['x-amz-date']).toBe('20150830T123600Z')
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    )
  })

  it('signs an admin PUT for execute-api (body, query, session token) exactly as the reference does', async () => {
    const url = new URL(
      'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/admin/issuers/onprem-a/bindings/ml-reader?cascade=true&version=3',
    )
    const body = JSON.stringify({ roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader', subjects: ['a:*'] })
    const credentials = { ...SUITE_CREDENTIALS, sessionToken: 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN' }
    const date = new Date('2031-05-04T12:00:00Z')
    const headers = await signRequest(
      {
        method: 'PUT',
        url,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
      },
      { region: 'eu-west-1', credentials, signingDate: date },
    )
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20310504\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=accept;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    )
    expect(headers['x-amz-security-token']).toBe(credentials.sessionToken)
    expect(headers['x-amz-content-sha256']).toBe(sha256(body))
    expect(headers.host).toBe('a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com')
    const reference = referenceSignature({
      method: 'PUT',
      url,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        host: url.host,
        'x-amz-content-sha256': sha256(body),
        'x-amz-security-token': credentials.sessionToken,
      },
      body,
      region: 'eu-west-1',
      service: 'execute-api',
      credentials,
      date,
    })
    expect(headers.authorization).toBe(reference.authorization)
  })
})

describe('admin commands against an AWS endpoint are SigV4-signed', () => {
  const recordingFetch = (requests: { url: string; init: RequestInit }[]) =>
    (async (input: string | URL | Request, init?: RequestInit) => {
      requests.push({ url: String(input), init: init ?? {} })
      return new Response(JSON.stringify({ issuers: [] }), { status: 200 })
    }) as typeof fetch

  it('derives the region from *.execute-api.<region>.amazonaws.com, signs with the injected credentials and the clock', async () => {
    const requests: { url: string; init: RequestInit }[] = []
    const profiles: (string | undefined)[] = []
    const now = new Date('2031-05-04T12:00:00Z')
    const code = await run(
      [
        'issuers',
        'list',
        '--endpoint',
        'https://a1b2c3d4e5.execute-api.ap-southeast-2.amazonaws.com',
        '--aws-profile',
        'ops',
      ],
      {
        env: {},
        fetch: recordingFetch(requests),
        now: () => now,
        stdout: () => undefined,
        stderr: () => undefined,
        awsCredentials: (profile) => {
          profiles.push(profile)
          return async () => SUITE_CREDENTIALS
        },
      },
    )
    expect(code).toBe(0)
    expect(profiles).toEqual(['ops'])
    expect(requests).toHaveLength(1)
    const headers = requests[0]?.init.headers as Record<string, string>
    expect(headers.authorization).toBe(
      referenceSignature({
        method: 'GET',
        url: new URL('https://a1b2c3d4e5.execute-api.ap-southeast-2.amazonaws.com/v1/admin/issuers'),
        headers: {
          accept: 'application/json',
          host: 'a1b2c3d4e5.execute-api.ap-southeast-2.amazonaws.com',
          'x-amz-content-sha256': sha256(''),
        },
        body: '',
        region: 'ap-southeast-2',
        service: 'execute-api',
        credentials: SUITE_CREDENTIALS,
        date: now,
      }).authorization,
    )
    expect(headers).not.toHaveProperty('host')
  })

  it('--sigv4 signs for a custom domain with --region; without a region it is a usage error (exit 2)', async () => {
    const requests: { url: string; init: RequestInit }[] = []
    const options = {
      env: {},
      fetch: recordingFetch(requests),
      stdout: () => undefined,
      awsCredentials: () => async () => SUITE_CREDENTIALS,
    }
    const errors: string[] = []
    expect(
      await run(['issuers', 'list', '--endpoint', 'https://broker.example.com', '--sigv4'], {
        ...options,
        stderr: (text) => errors.push(text),
      }),
    ).toBe(2)
    expect(errors.join('')).toMatch(/--region is required/)
    expect(requests).toHaveLength(0)

    expect(
      await run(
        ['issuers', 'list', '--endpoint', 'https://broker.example.com', '--sigv4', '--region', 'us-west-2'],
        {
          ...options,
          stderr: () => undefined,
        },
      ),
    ).toBe(0)
    expect((requests[0]?.init.headers as Record<string, string> | undefined)?.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-west-2\/execute-api\/aws4_request, /,
    )
  })

  it('no AWS credentials to sign with: exit 1 and one line naming the cause, no request sent', async () => {
    const requests: { url: string; init: RequestInit }[] = []
    const errors: string[] = []
    const code = await run(
      ['issuers', 'list', '--endpoint', 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com'],
      {
        env: {},
        fetch: recordingFetch(requests),
        stdout: () => undefined,
        stderr: (text) => errors.push(text),
        awsCredentials: () => async () => {
          throw new Error('Could not load credentials from any providers')
        },
      },
    )
    expect(code).toBe(1)
    expect(errors).toEqual([
      'irsa-broker: no AWS credentials to sign the admin request with (Could not load credentials from any providers)\n',
    ])
    expect(requests).toHaveLength(0)
  })
})
