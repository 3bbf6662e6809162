// A stand-in data plane for demos: keeps an RSA key under <data dir>/dev-issuer, writes its
// JWKS (what you register as the issuer's `jwks`) and mints a Kubernetes-shaped projected
// service-account token into a file, as kubelet would. Not for production use.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose'

const { values } = parseArgs({
  options: {
    issuer: { type: 'string', default: 'https://kubernetes.default.svc.cluster.local' },
    audience: { type: 'string', default: 'irsa-broker' },
    namespace: { type: 'string', default: 'ml' },
    'service-account': { type: 'string', default: 'trainer' },
    'expiration-seconds': { type: 'string', default: '3600' },
    dir: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})

if (values.help) {
  process.stdout.write(
    'usage: npm run dev-issuer -- [--namespace NS] [--service-account SA] [--audience AUD] [--issuer URL] [--expiration-seconds N] [--dir DIR]\n',
  )
  process.exit(0)
}

const dir = resolve(values.dir ?? join(process.env.IRSA_BROKER_DATA_DIR ?? './.irsa-broker', 'dev-issuer'))
mkdirSync(dir, { recursive: true, mode: 0o700 })
const keyPath = join(dir, 'key.pem')
if (!existsSync(keyPath)) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
}
const privateKey = createPrivateKey(readFileSync(keyPath, 'utf8'))
const publicJwk = await exportJWK(createPublicKey(privateKey))
const kid = await calculateJwkThumbprint(publicJwk, 'sha256')
writeFileSync(
  join(dir, 'jwks.json'),
  `${JSON.stringify({ keys: [{ ...publicJwk, kid, alg: 'RS256', use: 'sig' }] })}\n`,
)

const namespace = values.namespace
const serviceAccount = values['service-account']
const now = Math.floor(Date.now() / 1000)
const token = await new SignJWT({
  'kubernetes.io': {
    namespace,
    serviceaccount: { name: serviceAccount, uid: '00000000-0000-4000-8000-000000000001' },
  },
})
  .setProtectedHeader({ alg: 'RS256', kid })
  .setIssuer(values.issuer)
  .setAudience([values.audience])
  .setSubject(`system:serviceaccount:${namespace}:${serviceAccount}`)
  .setIssuedAt(now)
  .setNotBefore(now)
  .setExpirationTime(now + Number(values['expiration-seconds']))
  .sign(privateKey)
writeFileSync(join(dir, 'token'), token, { mode: 0o600 })

process.stdout.write(
  `${[
    `issuer    ${values.issuer}`,
    `jwks      ${join(dir, 'jwks.json')}`,
    `token     ${join(dir, 'token')}  (sub system:serviceaccount:${namespace}:${serviceAccount}, aud ${values.audience}, ${values['expiration-seconds']} s)`,
  ].join('\n')}\n`,
)
