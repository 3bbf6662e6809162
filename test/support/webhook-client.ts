// An HTTPS client for the webhook tests and bench: trusts the test CA only, reports the serial
// of the certificate the server presented, and talks to 127.0.0.1 only.
import { Agent, request } from 'node:https'
import type { TLSSocket } from 'node:tls'

export interface WebhookAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  /** Serial number of the server's certificate on this connection (upper-case hex). */
  serialNumber: string
}

export const createWebhookClient = (options: {
  port: number
  ca: Buffer
  keepAlive?: boolean
  maxSockets?: number
  /** The name the certificate must carry (the Service's DNS name, as the API server checks it); 127.0.0.1 by default. */
  servername?: string
}) => {
  const agent = new Agent({
    ca: options.ca,
    keepAlive: options.keepAlive ?? false,
    maxSockets: options.maxSockets ?? 4,
  })
  const send = (
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' },
  ) =>
    new Promise<WebhookAnswer>((resolve, reject) => {
      const outgoing = request(
        {
          host: '127.0.0.1',
          port: options.port,
          method,
          path,
          agent,
          headers,
          timeout: 10_000,
          ...(options.servername === undefined ? {} : { servername: options.servername }),
        },
        (response) => {
          // Read now: a connection that is not kept alive is detached from the answer at its end.
          const serialNumber =
            (response.socket as TLSSocket | null)?.getPeerCertificate?.()?.serialNumber ?? ''
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks).toString('utf8'),
              serialNumber,
            }),
          )
          response.on('error', reject)
        },
      )
      outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${path}: no answer in 10 s`)))
      outgoing.on('error', reject)
      outgoing.end(body)
    })
  return {
    send,
    post: (path: string, review: unknown) => send('POST', path, JSON.stringify(review)),
    close: () => agent.destroy(),
  }
}

export type WebhookClient = ReturnType<typeof createWebhookClient>

/** An AdmissionReview v1 for a pod CREATE, as the API server sends it. */
export const podReview = (
  pod: Record<string, unknown>,
  options: { namespace?: string; uid?: string; dryRun?: boolean; operation?: string } = {},
) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: options.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    name: '',
    namespace: options.namespace ?? 'team-a',
    operation: options.operation ?? 'CREATE',
    userInfo: {
      username: 'system:serviceaccount:kube-system:replicaset-controller',
      groups: ['system:serviceaccounts'],
    },
    object: pod,
    oldObject: null,
    dryRun: options.dryRun ?? false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
  },
})

/** A typical pod: one app container and one native sidecar, created by a ReplicaSet. */
export const typicalPod = (serviceAccountName: string, annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    generateName: 'trainer-7d9f8c6b5-',
    namespace: 'team-a',
    labels: { app: 'trainer', 'pod-template-hash': '7d9f8c6b5' },
    annotations,
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'trainer-7d9f8c6b5',
        uid: 'rs-uid',
        controller: true,
      },
    ],
  },
  spec: {
    serviceAccountName,
    initContainers: [
      {
        name: 'log-shipper',
        image: 'fluent/fluent-bit:3.1',
        restartPolicy: 'Always',
        resources: { requests: { cpu: '50m', memory: '64Mi' } },
        volumeMounts: [
          {
            name: 'kube-api-access-x7k2p',
            mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
            readOnly: true,
          },
        ],
      },
    ],
    containers: [
      {
        name: 'app',
        image: 'registry.example.com/ml/trainer:1.4.2',
        env: [{ name: 'MODE', value: 'train' }],
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
        resources: { requests: { cpu: '500m', memory: '1Gi' } },
        volumeMounts: [
          {
            name: 'kube-api-access-x7k2p',
            mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
            readOnly: true,
          },
        ],
      },
    ],
    volumes: [
      {
        name: 'kube-api-access-x7k2p',
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          ],
        },
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
  },
})
