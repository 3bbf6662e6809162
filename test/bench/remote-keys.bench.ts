// Benchmark of remote key sets: what verifying a workload token costs when the issuer's keys
// are in the cache, against what it costs when they must be fetched first (a cold container,
// an unknown kid, the TTL), and the refetch alone for key sets of 1, 13 (the real EKS JWKS)
// and 100 keys. The JWKS is served by a node:http server on 127.0.0.1 and fetched by the real
// SSRF-safe fetcher in local mode. `npm run bench`; it prints figures and asserts nothing.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { availableParallelism, cpus, platform, release } from 'node:os'
import { join, relative } from 'node:path'
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { createSafeJsonFetcher } from '../../shared/adapters/jwks-fetch.js'
import { createIssuerKeyResolver } from '../../shared/core/keys.js'
import type { Issuer } from '../../shared/core/model.js'
import { type Logger, systemClock } from '../../shared/core/ports.js'
import { createRemoteKeyResolver } from '../../shared/core/remote-keys.js'
import { verifyWorkloadToken } from '../../shared/core/verify.js'
import { CORPUS_DIR } from '../support/corpus.js'
import { distribution, ms, table } from './stats.js'

const SETTINGS = { warmup: 50, samples: 1000, coldSamples: 300, budgetMs: 20_000 } as const

const ISS = 'http://127.0.0.1'
const AUDIENCE = 'irsa-broker'
const print = (line = '') => process.stdout.write(`${line}\n`)
const quiet: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  metric: () => undefined,
}

const eksJwks = JSON.parse(
  readFileSync(join(CORPUS_DIR, 'k8s-tokens', 'eks-irsa-eu-west-1', 'jwks.json'), 'utf8'),
) as { keys: JWK[] }

/** Times `action` sequentially: warm-up first, then `count` samples or until the budget ends. */
const measure = async (count: number, action: () => Promise<unknown>): Promise<number[]> => {
  for (let i = 0; i < SETTINGS.warmup; i++) await action()
  const samples: number[] = []
  const deadline = performance.now() + SETTINGS.budgetMs
  while (samples.length < count && performance.now() < deadline) {
    const started = performance.now()
    await action()
    samples.push(performance.now() - started)
  }
  return samples
}

const main = async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const signingJwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'RS256', use: 'sig' }
  const fillers = await Promise.all(
    Array.from({ length: 99 }, async (_, i) => {
      const pair = await generateKeyPair('RS256', { extractable: true })
      return { ...(await exportJWK(pair.publicKey)), kid: `filler-${i}`, alg: 'RS256', use: 'sig' }
    }),
  )
  const sets: Record<string, { keys: JWK[] }> = {
    '/1/jwks': { keys: [signingJwk] },
    '/13/jwks': { keys: [...eksJwks.keys.slice(0, 12), signingJwk] },
    '/100/jwks': { keys: [...fillers, signingJwk] },
  }
  const server = createServer((request, response) => {
    if (request.url === '/.well-known/openid-configuration') {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ issuer: issuerUrl, jwks_uri: `${issuerUrl}/1/jwks` }))
      return
    }
    const set = sets[request.url ?? '']
    if (!set) {
      response.writeHead(404).end()
      return
    }
    const body = JSON.stringify(set)
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    response.end(body)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  const issuerUrl = `${ISS}:${typeof address === 'object' && address ? address.port : 0}`

  const issuerFor = (path: string, discovery = false): Issuer => ({
    issuerId: `bench${path.replaceAll('/', '-')}`,
    issuer: issuerUrl,
    audiences: [AUDIENCE],
    ...(discovery ? { discovery: true } : { jwksUri: `${issuerUrl}${path}` }),
    algorithms: ['RS256'],
    maxTokenLifetimeSeconds: 86400,
    clockSkewSeconds: 60,
    mode: 'broker',
    enabled: true,
    version: 1,
    createdAt: '',
    updatedAt: '',
    updatedBy: 'bench',
  })
  const iat = Math.floor(Date.now() / 1000)
  const token = await new SignJWT({
    sub: 'system:serviceaccount:ml:trainer',
    aud: [AUDIENCE],
    iat,
    nbf: iat,
    exp: iat + 3600,
  })
    .setIssuer(issuerUrl)
    .setProtectedHeader({ alg: 'RS256', kid: 'bench-1' })
    .sign(privateKey)

  const fetchJson = createSafeJsonFetcher({ allowLoopback: true })
  const resolver = () => createRemoteKeyResolver({ fetchJson, clock: systemClock, logger: quiet })
  const verifyWith = async (keysFor: ReturnType<typeof createIssuerKeyResolver>, issuer: Issuer) => {
    const result = await verifyWorkloadToken(token, [issuer], keysFor, new Date())
    if (!result.ok) throw new Error(`bench token refused: ${result.error.reason}`)
  }

  const rows: string[][] = []
  const row = (label: string, samples: number[]) => {
    const d = distribution(samples)
    const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length
    rows.push([label, String(d.count), ms(d.p50), ms(d.p90), ms(d.p99), ms(mean)])
  }

  // Inline keys: the floor (no fetcher involved at all).
  const inline = createIssuerKeyResolver()
  const inlineIssuer = { ...issuerFor('/1/jwks'), jwksUri: undefined, jwks: sets['/1/jwks'] }
  row('verify, inline keys (floor)', await measure(SETTINGS.samples, () => verifyWith(inline, inlineIssuer)))

  for (const path of ['/1/jwks', '/13/jwks', '/100/jwks']) {
    const warm = resolver()
    const keysFor = createIssuerKeyResolver(warm.keysFor)
    const issuer = issuerFor(path)
    await warm.refresh(issuer)
    const size = path.split('/')[1]
    row(
      `verify, key-cache hit (${size} keys)`,
      await measure(SETTINGS.samples, () => verifyWith(keysFor, issuer)),
    )
  }
  for (const path of ['/1/jwks', '/13/jwks', '/100/jwks']) {
    const size = path.split('/')[1]
    row(
      `verify, cold: fetch + check + verify (${size} keys)`,
      await measure(SETTINGS.coldSamples, () =>
        verifyWith(createIssuerKeyResolver(resolver().keysFor), issuerFor(path)),
      ),
    )
  }
  row(
    'verify, cold by discovery: 2 fetches (1 key)',
    await measure(SETTINGS.coldSamples, () =>
      verifyWith(createIssuerKeyResolver(resolver().keysFor), issuerFor('/1/jwks', true)),
    ),
  )
  for (const path of ['/1/jwks', '/13/jwks', '/100/jwks']) {
    const shared = resolver()
    const issuer = issuerFor(path)
    const size = path.split('/')[1]
    row(
      `refresh alone: fetch + check (${size} keys)`,
      await measure(SETTINGS.coldSamples, () => shared.refresh(issuer)),
    )
  }
  await new Promise((done) => server.close(done))

  print(
    `command:  ${
      process.env.npm_lifecycle_event === 'bench'
        ? `npm run bench  (${process.env.npm_lifecycle_script})`
        : `tsx ${relative(process.cwd(), process.argv[1] ?? '')}`
    }`,
  )
  print(`date:     ${new Date().toISOString()}`)
  print(
    `cpu:      ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores (available parallelism ${availableParallelism()})`,
  )
  print(`os:       ${platform()} ${release()}`)
  print(`node:     ${process.version}`)
  print(
    `JWKS:     node:http on ${issuerUrl}, fetched with the SSRF-safe fetcher (local mode, loopback allowed)`,
  )
  print()
  print(
    `5. Remote key sets: one RS256 workload token verified in-process, sequentially, ${SETTINGS.warmup} warm-up runs not counted (ms)`,
  )
  print()
  print(table(['', 'n', 'p50', 'p90', 'p99', 'mean'], rows))
}

await main()
