// Where the webhook finds the Kubernetes API (dataplane/adapters/kube-config.ts): kubeconfig
// files as kubectl reads them, and the in-cluster ServiceAccount. Files are given through an
// in-memory readFile; nothing touches the network.
import { describe, expect, it } from 'vitest'
import {
  fileToken,
  IN_CLUSTER_DIR,
  KubeConfigError,
  resolveKubeConnection,
} from '../../../dataplane/adapters/kube-config.js'

const files = (entries: Record<string, string | Buffer>) => (path: string) => {
  const content = entries[path]
  if (content === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })
  return Buffer.from(content)
}

const kubeconfig = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'c', cluster: { server: 'https://10.0.0.1:6443', 'certificate-authority': 'ca.crt' } },
    ],
    users: [{ name: 'u', user: { token: 'inline-token-value' } }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
    ...overrides,
  })

const refusal = (run: () => unknown): string => {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(KubeConfigError)
    return (error as Error).message
  }
  throw new Error('expected a KubeConfigError')
}

describe('kubeconfig', () => {
  it('reads server, CA (relative to the kubeconfig), and an inline token from the current context', () => {
    // Act
    const connection = resolveKubeConnection({
      env: { KUBECONFIG: '/home/me/.kube/config' },
      readFile: files({ '/home/me/.kube/config': kubeconfig(), '/home/me/.kube/ca.crt': 'CA PEM' }),
    })
    // Assess
    expect(connection.server.href).toBe('https://10.0.0.1:6443/')
    expect(connection.ca?.toString()).toBe('CA PEM')
    expect(connection.token?.()).toBe('inline-token-value')
    expect(connection.insecureSkipTlsVerify).toBe(false)
    expect(connection.source).toBe('kubeconfig /home/me/.kube/config (context ctx)')
  })

  it('prefers inline data to a file, and reads client certificate and key', () => {
    // Act
    const connection = resolveKubeConnection({
      env: { KUBECONFIG: '/k' },
      readFile: files({
        '/k': kubeconfig({
          clusters: [
            {
              name: 'c',
              cluster: {
                server: 'https://api.example.test',
                'certificate-authority': '/missing.crt',
                'certificate-authority-data': Buffer.from('INLINE CA').toString('base64'),
                'tls-server-name': 'kubernetes',
              },
            },
          ],
          users: [
            {
              name: 'u',
              user: {
                'client-certificate-data': Buffer.from('CERT').toString('base64'),
                'client-key': '/keys/client.key',
              },
            },
          ],
        }),
        '/keys/client.key': 'KEY',
      }),
    })
    // Assess
    expect(connection.ca?.toString()).toBe('INLINE CA')
    expect(connection.cert?.toString()).toBe('CERT')
    expect(connection.key?.toString()).toBe('KEY')
    expect(connection.token).toBeUndefined()
    expect(connection.servername).toBe('kubernetes')
  })

  it('merges a KUBECONFIG list as kubectl does: the first file to define a name or current-context wins, missing files skipped', () => {
    // Act
    const connection = resolveKubeConnection({
      env: { KUBECONFIG: '/absent:/first:/second' },
      readFile: files({
        '/first': JSON.stringify({
          'current-context': 'ctx',
          users: [{ name: 'u', user: { token: 'from-first' } }],
        }),
        '/second': kubeconfig({
          'current-context': 'other',
          users: [{ name: 'u', user: { token: 'from-second' } }],
        }),
        '/ca.crt': 'CA',
      }),
    })
    // Assess
    expect(connection.token?.()).toBe('from-first')
    expect(connection.server.host).toBe('10.0.0.1:6443')
  })

  it('refuses credential plugins, naming the user entry and the field', () => {
    // Act
    const message = refusal(() =>
      resolveKubeConnection({
        env: { KUBECONFIG: '/k' },
        readFile: files({
          '/k': kubeconfig({
            users: [{ name: 'u', user: { exec: { command: 'aws', args: ['eks', 'get-token'] } } }],
          }),
          '/ca.crt': 'CA',
        }),
      }),
    )
    // Assess
    expect(message).toBe(
      'users.u.exec: credential plugins are not supported; use a token, a tokenFile or a client certificate',
    )
  })

  it.each([
    ['no current-context', { 'current-context': '' }, 'KUBECONFIG: no current-context is set'],
    ['an undefined context', { 'current-context': 'nope' }, 'KUBECONFIG: context "nope" is not defined'],
    [
      'a server that is not a URL',
      { clusters: [{ name: 'c', cluster: { server: 'api.example.test:6443x' } }] },
      'clusters.c.server: must be an https:// (or http://) URL',
    ],
    [
      'a proxy',
      { clusters: [{ name: 'c', cluster: { server: 'https://a', 'proxy-url': 'http://p' } }] },
      'clusters.c.proxy-url: proxies are not supported',
    ],
    ['clusters that are not a list', { clusters: { c: {} } }, '/k: clusters must be a list'],
  ])('refuses %s with a message naming it', (_name, overrides, expected) => {
    // Act
    const message = refusal(() =>
      resolveKubeConnection({
        env: { KUBECONFIG: '/k' },
        readFile: files({ '/k': kubeconfig(overrides), '/ca.crt': 'CA' }),
      }),
    )
    // Assess
    expect(message).toBe(expected)
  })
})

describe('in-cluster', () => {
  it('uses KUBERNETES_SERVICE_HOST/PORT, the mounted CA and the mounted token', () => {
    // Act
    const connection = resolveKubeConnection({
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      readFile: files({
        [`${IN_CLUSTER_DIR}/ca.crt`]: 'CLUSTER CA',
        [`${IN_CLUSTER_DIR}/token`]: 'projected-token\n',
      }),
    })
    // Assess
    expect(connection.server.href).toBe('https://10.96.0.1/')
    expect(connection.ca?.toString()).toBe('CLUSTER CA')
    expect(connection.token?.()).toBe('projected-token')
    expect(connection.source).toBe('in-cluster')
  })

  it('brackets an IPv6 service host', () => {
    // Act
    const connection = resolveKubeConnection({
      env: { KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' },
      readFile: files({ [`${IN_CLUSTER_DIR}/ca.crt`]: 'CA', [`${IN_CLUSTER_DIR}/token`]: 't' }),
    })
    // Assess
    expect(connection.server.hostname).toBe('[fd00:10:96::1]')
  })

  it('says so when neither KUBECONFIG nor the in-cluster variables are set', () => {
    expect(refusal(() => resolveKubeConnection({ env: {}, readFile: files({}) }))).toMatch(
      /^no Kubernetes API: KUBECONFIG is not set/,
    )
  })
})

describe('token files', () => {
  it('reads the token again once it is a minute old (kubelet rotates it), and keeps the last one while the file is away', () => {
    // Prepare
    const contents: Record<string, string> = { '/token': 'first' }
    let now = 0
    const token = fileToken('/token', files(contents), () => now)
    // Act
    const initial = token()
    contents['/token'] = 'second'
    now = 59_999
    const beforeAMinute = token()
    now = 60_000
    const afterAMinute = token()
    delete contents['/token']
    now = 200_000
    const whileAway = token()
    // Assess
    expect([initial, beforeAMinute, afterAMinute, whileAway]).toEqual(['first', 'first', 'second', 'second'])
  })
})
