// An in-process STS on loopback for the load test: answers AssumeRoleWithWebIdentity (query
// protocol, the XML STS sends) at once with made-up credentials for the role and session asked,
// and counts the calls. It checks nothing about the token: the load test is about the broker.
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'

export interface StsStub {
  url: string
  /** AssumeRoleWithWebIdentity calls answered. */
  calls(): number
  stop(): Promise<void>
}

const xmlEscape = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`)

const answerFor = (roleArn: string, sessionName: string, durationSeconds: number): string => {
  const [, , , , account = '000000000000', resource = 'role/unknown'] = roleArn.split(':')
  const roleName = resource.split('/').at(-1) ?? 'unknown'
  const expiration = new Date(Date.now() + durationSeconds * 1000).toISOString()
  const keyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`
  return `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>${keyId}</AccessKeyId>
      <SecretAccessKey>stub${randomBytes(18).toString('base64url')}</SecretAccessKey>
      <SessionToken>stub-session-${randomBytes(24).toString('hex')}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::${xmlEscape(account)}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(sessionName)}</Arn>
      <AssumedRoleId>AROASTUB:${xmlEscape(sessionName)}</AssumedRoleId>
    </AssumedRoleUser>
    <Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`
}

export const startStsStub = async (): Promise<StsStub> => {
  let calls = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = []
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
    incoming.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
      if (form.get('Action') !== 'AssumeRoleWithWebIdentity') {
        outgoing.writeHead(400, { 'content-type': 'text/xml' })
        outgoing.end('<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>')
        return
      }
      calls++
      const body = answerFor(
        form.get('RoleArn') ?? '',
        form.get('RoleSessionName') ?? '',
        Number(form.get('DurationSeconds') ?? 3600),
      )
      outgoing.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) })
      outgoing.end(body)
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => calls,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
