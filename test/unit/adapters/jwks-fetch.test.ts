// SSRF refusals of the JWKS fetcher in AWS mode (and local mode's narrow loopback exception),
// with the resolver and the connector injected: every refused URL is refused before any
// connection is attempted, which the recording connector proves.
import { describe, expect, it } from 'vitest'
import {
  type Connector,
  type ConnectTarget,
  createSafeJsonFetcher,
  type ResolvedAddress,
  type Resolver,
} from '../../../shared/adapters/jwks-fetch.js'
import { createAwsAdapters } from '../../../shared/aws.js'
import { loadLambdaConfig } from '../../../shared/config.js'
import type { KeyFetchError } from '../../../shared/core/remote-keys.js'

/** Names the tests resolve, like a hostile or misconfigured DNS would answer them. */
const DNS: Record<string, ResolvedAddress[]> = {
  'jwks.attacker.example': [{ address: '127.0.0.1', family: 4 }],
  '127.0.0.1.nip.io': [{ address: '127.0.0.1', family: 4 }],
  localhost: [
    { address: '127.0.0.1', family: 4 },
    { address: '::1', family: 6 },
  ],
  'metadata.attacker.example': [{ address: '169.254.169.254', family: 4 }],
  'ecs.attacker.example': [{ address: '169.254.170.2', family: 4 }],
  'mixed.attacker.example': [
    { address: '93.184.215.14', family: 4 },
    { address: '10.0.0.8', family: 4 },
  ],
  'v6-imds.attacker.example': [{ address: 'fd00:ec2::254', family: 6 }],
  'mapped.attacker.example': [{ address: '::ffff:127.0.0.1', family: 6 }],
  'oidc.example.com': [{ address: '93.184.215.14', family: 4 }],
}

const setup = (options: { allowLoopback?: boolean; resolve?: Resolver; timeoutMs?: number } = {}) => {
  const connections: ConnectTarget[] = []
  const lookups: string[] = []
  const connect: Connector = (target) => {
    connections.push(target)
    throw new Error('a connection was attempted')
  }
  const resolve: Resolver =
    options.resolve ??
    (async (hostname) => {
      lookups.push(hostname)
      const found = DNS[hostname]
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
      return found
    })
  const fetchJson = createSafeJsonFetcher({
    allowLoopback: options.allowLoopback ?? false,
    resolve,
    connect,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  })
  return { fetchJson, connections, lookups }
}

const refusalOf = async (promise: Promise<unknown>): Promise<KeyFetchError> => {
  try {
    await promise
  } catch (error) {
    return error as KeyFetchError
  }
  throw new Error('expected the fetch to be refused')
}

describe('JWKS fetcher in AWS mode: refused targets, zero connections', () => {
  it.each([
    ['IMDS over http', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/', 'scheme_refused'],
    ['IMDS over https', 'https://169.254.169.254/latest/meta-data/', 'address_refused'],
    ['IMDS IPv6', 'https://[fd00:ec2::254]/latest/meta-data/', 'address_refused'],
    ['IMDS as IPv4-mapped IPv6', 'https://[::ffff:169.254.169.254]/', 'address_refused'],
    ['IMDS through NAT64', 'https://[64:ff9b::a9fe:a9fe]/', 'address_refused'],
    ['the Lambda runtime API', 'http://127.0.0.1:9001/2018-06-01/runtime/invocation/next', 'scheme_refused'],
    [
      'the Lambda runtime API over https',
      'https://127.0.0.1:9001/2018-06-01/runtime/invocation/next',
      'address_refused',
    ],
    ['ECS task credentials', 'http://169.254.170.2/v2/credentials/uuid', 'scheme_refused'],
    ['ECS task credentials over https', 'https://169.254.170.2/v2/credentials/uuid', 'address_refused'],
    ['10/8', 'https://10.0.0.1/keys', 'address_refused'],
    ['172.16/12', 'https://172.16.0.1/keys', 'address_refused'],
    ['172.16/12 (top)', 'https://172.31.255.255/keys', 'address_refused'],
    ['192.168/16', 'https://192.168.1.1/keys', 'address_refused'],
    ['100.64/10 (CGNAT)', 'https://100.64.0.1/keys', 'address_refused'],
    ['fe80::/10', 'https://[fe80::1]/keys', 'address_refused'],
    ['fc00::/7', 'https://[fc00::1]/keys', 'address_refused'],
    ['multicast', 'https://224.0.0.1/keys', 'address_refused'],
    ['IPv6 multicast', 'https://[ff02::1]/keys', 'address_refused'],
    ['0.0.0.0', 'https://0.0.0.0/keys', 'address_refused'],
    ['::', 'https://[::]/keys', 'address_refused'],
    ['loopback as decimal (http)', 'http://2130706433/', 'scheme_refused'],
    ['loopback as decimal', 'https://2130706433/', 'address_refused'],
    ['loopback as hex', 'https://0x7f000001/', 'address_refused'],
    ['loopback as octal', 'https://0177.0.0.1/', 'address_refused'],
    ['loopback as one octal number', 'https://017700000001/', 'address_refused'],
    ['loopback shortened', 'https://127.1/', 'address_refused'],
    ['loopback as IPv4-mapped IPv6', 'https://[::ffff:127.0.0.1]/', 'address_refused'],
    ['loopback as IPv4-mapped IPv6 in hex', 'https://[::ffff:7f00:1]/', 'address_refused'],
    ['loopback as IPv4-mapped IPv6 (http)', 'http://[::ffff:127.0.0.1]/', 'scheme_refused'],
    ['IPv6 loopback', 'https://[::1]/', 'address_refused'],
    ['loopback through 6to4', 'https://[2002:7f00:1::]/', 'address_refused'],
    ['a name resolving to 127.0.0.1', 'https://jwks.attacker.example/keys', 'address_refused'],
    ['a nip.io-style name for 127.0.0.1', 'https://127.0.0.1.nip.io/keys', 'address_refused'],
    ['localhost', 'https://localhost/keys', 'address_refused'],
    ['a name resolving to IMDS', 'https://metadata.attacker.example/', 'address_refused'],
    ['a name resolving to the ECS endpoint', 'https://ecs.attacker.example/', 'address_refused'],
    ['a name resolving to IPv6 IMDS', 'https://v6-imds.attacker.example/', 'address_refused'],
    ['a name resolving to mapped loopback', 'https://mapped.attacker.example/', 'address_refused'],
    [
      'a name resolving to a public and a private address',
      'https://mixed.attacker.example/',
      'address_refused',
    ],
    ['plain http to a public name', 'http://oidc.example.com/keys', 'scheme_refused'],
    ['credentials in the URL', 'https://user:secret@oidc.example.com/keys', 'url_invalid'],
    ['file:', 'file:///etc/passwd', 'url_invalid'],
    ['gopher:', 'gopher://127.0.0.1:6379/_INFO', 'url_invalid'],
    ['not a URL', 'oidc.example.com/keys', 'url_invalid'],
    ['a name that does not resolve', 'https://nxdomain.example/keys', 'dns_failed'],
  ])('refuses %s without connecting', async (_label, url, code) => {
    // Prepare
    const { fetchJson, connections } = setup()
    // Act
    const error = await refusalOf(fetchJson(url))
    // Assess
    expect(error).toMatchObject({ name: 'KeyFetchError', code })
    expect(connections).toEqual([])
  })

  it('keeps the address a host name resolved to out of the refusal message (operator log only), and never names the credentials of a URL', async () => {
    // Prepare
    const { fetchJson } = setup()
    // Act
    const refused = await refusalOf(fetchJson('https://jwks.attacker.example/keys'))
    const mixed = await refusalOf(fetchJson('https://mixed.attacker.example/'))
    const withCredentials = await refusalOf(fetchJson('https://user:secret@oidc.example.com/keys'))
    // Assess
    expect(refused.message).toBe(
      'https://jwks.attacker.example/keys: jwks.attacker.example resolves to a loopback address, which is refused',
    )
    expect(refused.logDetail).toBe('jwks.attacker.example resolved to 127.0.0.1')
    expect(mixed.message).toBe(
      'https://mixed.attacker.example/: mixed.attacker.example resolves to a private address, which is refused',
    )
    expect(mixed.logDetail).toBe('mixed.attacker.example resolved to 10.0.0.8')
    expect(withCredentials.message).not.toContain('secret')
  })

  it('names a literal IP of the URL itself in the refusal, as the caller wrote it', async () => {
    // Prepare
    const { fetchJson } = setup()
    // Act
    const refused = await refusalOf(fetchJson('https://10.0.0.1/keys'))
    // Assess
    expect(refused.message).toBe('https://10.0.0.1/keys: 10.0.0.1 is a private address, which is refused')
  })

  it.each([
    ['a refused address', 'https://jwks.attacker.example/keys?sig=s3cr3t#k', 'address_refused', {}],
    ['a plain http URL', 'http://oidc.example.com/keys?sig=s3cr3t', 'scheme_refused', {}],
    ['a name that does not resolve', 'https://nxdomain.example/keys?sig=s3cr3t', 'dns_failed', {}],
    ['a text that is not a URL', 'oidc.example.com/keys?sig=s3cr3t', 'url_invalid', {}],
    [
      'a deadline passed',
      'https://oidc.example.com/keys?sig=s3cr3t',
      'timeout',
      { resolve: () => new Promise<never>(() => undefined), timeoutMs: 50 },
    ],
  ])(
    'leaves the query of a URL out of the message for %s (a signed JWKS URL keeps its secret)',
    async (_label, url, code, options) => {
      // Prepare
      const { fetchJson } = setup(options)
      // Act
      const refused = await refusalOf(fetchJson(url))
      // Assess
      expect(refused.code).toBe(code)
      expect(refused.message).toContain('/keys')
      expect(`${refused.message} ${refused.logDetail ?? ''}`).not.toMatch(/s3cr3t|sig=|#k/)
    },
  )

  it('refuses a DNS answer with no address', async () => {
    // Prepare
    const { fetchJson, connections } = setup({ resolve: async () => [] })
    // Act
    const error = await refusalOf(fetchJson('https://oidc.example.com/keys'))
    // Assess
    expect(error.code).toBe('dns_failed')
    expect(connections).toEqual([])
  })

  it('gives up on a resolver that never answers at the deadline, without connecting', async () => {
    // Prepare
    const { fetchJson, connections } = setup({ resolve: () => new Promise(() => undefined), timeoutMs: 100 })
    const started = performance.now()
    // Act
    const error = await refusalOf(fetchJson('https://oidc.example.com/keys'))
    // Assess
    expect(error.code).toBe('timeout')
    expect(performance.now() - started).toBeLessThan(1000)
    expect(connections).toEqual([])
  })

  it('resolves a name once per fetch and connects to the address it checked (pinned)', async () => {
    // Prepare
    const { fetchJson, connections, lookups } = setup()
    // Act
    await refusalOf(fetchJson('https://oidc.example.com:8443/keys'))
    // Assess: the connector (which throws here) was asked for the checked IP, with the name for TLS
    expect(lookups).toEqual(['oidc.example.com'])
    expect(connections).toEqual([
      { protocol: 'https:', address: '93.184.215.14', port: 8443, servername: 'oidc.example.com' },
    ])
  })
})

describe('JWKS fetcher in local mode with IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true', () => {
  it.each([
    ['IMDS', 'http://169.254.169.254/latest/meta-data/', 'address_refused'],
    ['ECS task credentials', 'http://169.254.170.2/v2/credentials/uuid', 'address_refused'],
    ['10/8', 'http://10.0.0.1/keys', 'address_refused'],
    ['192.168/16', 'http://192.168.1.1/keys', 'address_refused'],
    ['fe80::/10', 'http://[fe80::1]/keys', 'address_refused'],
    ['a name resolving to IMDS', 'http://metadata.attacker.example/', 'address_refused'],
    ['plain http to a public address', 'http://oidc.example.com/keys', 'scheme_refused'],
  ])('still refuses %s without connecting', async (_label, url, code) => {
    // Prepare
    const { fetchJson, connections } = setup({ allowLoopback: true })
    // Act
    const error = await refusalOf(fetchJson(url))
    // Assess
    expect(error).toMatchObject({ code })
    expect(connections).toEqual([])
  })

  it.each([
    ['http://127.0.0.1:9001/keys', '127.0.0.1'],
    ['http://[::1]:9001/keys', '::1'],
    ['http://localhost:9001/keys', '127.0.0.1'],
  ])('lets %s through to the connector', async (url, address) => {
    // Prepare
    const { fetchJson, connections } = setup({ allowLoopback: true })
    // Act
    const error = await refusalOf(fetchJson(url))
    // Assess: the fetch reached the connector (which refuses in this test)
    expect(error.code).toBe('unreachable')
    expect(connections).toMatchObject([{ protocol: 'http:', address, port: 9001 }])
  })
})

describe('the Lambda adapters', () => {
  it('refuse loopback http even when IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true is in the environment', async () => {
    // Prepare
    const adapters = createAwsAdapters(
      loadLambdaConfig({
        IRSA_BROKER_ISSUER_URL: 'https://broker.example.com',
        IRSA_BROKER_TABLE: 'irsa-broker',
        IRSA_BROKER_KMS_KEY_ID: 'alias/irsa-broker',
        IRSA_BROKER_ALLOW_LOOPBACK_JWKS: 'true',
      }),
      'test',
    )
    // Act
    const refused = await refusalOf(adapters.fetchJson('http://127.0.0.1:9/keys'))
    const refusedTls = await refusalOf(adapters.fetchJson('https://127.0.0.1:9/keys'))
    // Assess
    expect(refused.code).toBe('scheme_refused')
    expect(refusedTls.code).toBe('address_refused')
  })
})
