// `configure` without a broker (a scripted /v1/roles answer): where the AWS config file is, the
// credential_process line, the atomic replacement of the file, and the profiles it owns —
// marked, with a region, and removed when their role goes, while every other profile stays.
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  configFilePath,
  configure,
  credentialProcessLine,
  parseRolesAnswer,
  writeFileAtomically,
} from '../../../cli/configure.js'
import { parseEndpoint } from '../../../cli/endpoint.js'
import { UsageError } from '../../../cli/errors.js'
import type { BrokerClient } from '../../../cli/http.js'
import { jsonResponse, runScripted } from '../../support/cli-run.js'
import { tempFolder } from '../../support/temp-folder.js'

const { dir, file } = tempFolder('irsa-broker-cli-configure-')

describe('configFilePath', () => {
  const context = { env: {}, cwd: '/work', homedir: '/home/me' }
  it('is --config-file, else $AWS_CONFIG_FILE, else ~/.aws/config; relative paths resolve against the working directory', () => {
    expect(configFilePath(context)).toBe('/home/me/.aws/config')
    expect(configFilePath({ ...context, env: { AWS_CONFIG_FILE: 'cfg/aws' } })).toBe('/work/cfg/aws')
    expect(configFilePath({ ...context, env: { AWS_CONFIG_FILE: '/etc/aws/config' } }, '~/x')).toBe(
      '/home/me/x',
    )
  })
})

describe('credentialProcessLine', () => {
  const base = {
    node: '/usr/bin/node',
    script: '/opt/irsa broker/bin/irsa-broker.js',
    endpoint: parseEndpoint('https://broker.example.com/', 'configure'),
    tokenFile: '/var/run/secrets/irsa-broker/token',
    profile: 'ml-reader',
  }

  it('runs this CLI with absolute paths, quoting only what needs it', () => {
    expect(credentialProcessLine(base)).toBe(
      "/usr/bin/node '/opt/irsa broker/bin/irsa-broker.js' credential-process --endpoint https://broker.example.com --token-file /var/run/secrets/irsa-broker/token --role ml-reader",
    )
    expect(credentialProcessLine({ ...base, durationSeconds: 900 })).toMatch(
      / --role ml-reader --duration-seconds 900$/,
    )
  })

  it('runs the self-contained executable alone, with no script', () => {
    expect(
      credentialProcessLine({ ...base, node: '/var/run/irsa-broker/irsa-broker', script: undefined }),
    ).toBe(
      '/var/run/irsa-broker/irsa-broker credential-process --endpoint https://broker.example.com --token-file /var/run/secrets/irsa-broker/token --role ml-reader',
    )
  })

  it('refuses a path the SDKs would cut short ("#" or ";" start a comment for the JavaScript SDK): usage error', () => {
    expect(() => credentialProcessLine({ ...base, tokenFile: '/tmp/#1/token' })).toThrow(UsageError)
    expect(() => credentialProcessLine({ ...base, tokenFile: '/tmp/#1/token' })).toThrow(/"#" or ";"/)
  })
})

describe('parseRolesAnswer', () => {
  it('takes profile and roleArn of each role and refuses answers that are not the broker roles list', () => {
    expect(
      parseRolesAnswer(
        {
          roles: [
            {
              profile: 'a',
              roleArn: 'arn:aws:iam::111122223333:role/a',
              bindingId: 'a',
              durationSeconds: 3600,
            },
          ],
        },
        'https://b',
      ),
    ).toEqual([{ profile: 'a', roleArn: 'arn:aws:iam::111122223333:role/a' }])
    expect(() => parseRolesAnswer({}, 'https://b')).toThrow(/without a "roles" list/)
    // A profile that would break out of its [section] header.
    expect(() =>
      parseRolesAnswer({ roles: [{ profile: 'a]\n[default', roleArn: 'x' }] }, 'https://b'),
    ).toThrow(/unusable role entry/)
  })
})

describe('writeFileAtomically', () => {
  it('replaces the file in one rename with the given mode, leaving no temporary file behind', () => {
    const path = join(dir, 'config')
    writeFileSync(path, 'old\n')
    writeFileAtomically(path, 'new\n', 0o640)
    expect(readFileSync(path, 'utf8')).toBe('new\n')
    expect(statSync(path).mode & 0o777).toBe(0o640)
    expect(readdirSync(dir).filter((name) => name.includes('.tmp'))).toEqual([])
  })

  it('creates the folder (0700) of a config file that does not exist yet, like ~/.aws on a fresh machine', () => {
    const path = join(dir, 'home', '.aws', 'config')
    writeFileAtomically(path, 'x\n', 0o600)
    expect(statSync(join(dir, 'home', '.aws')).mode & 0o777).toBe(0o700)
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  it('writes through a symlinked config (say, into a dotfiles repository) instead of replacing the link', () => {
    const real = join(dir, 'dotfiles')
    mkdirSync(real)
    writeFileSync(join(real, 'aws-config'), 'old\n')
    const link = join(dir, 'linked-config')
    symlinkSync(join(real, 'aws-config'), link)
    writeFileAtomically(link, 'new\n', 0o600)
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(readFileSync(join(real, 'aws-config'), 'utf8')).toBe('new\n')
  })
})

describe('configure: the profiles it owns', () => {
  const roles = (...profiles: string[]) =>
    jsonResponse(200, {
      roles: profiles.map((profile) => ({
        profile,
        roleArn: `arn:aws:iam::111122223333:role/${profile}`,
        bindingId: profile,
        durationSeconds: 3600,
      })),
    })
  const tokenFile = file('token', 'aaaa.bbbb.cccc')
  const line = (profile: string, endpoint = 'https://broker.example.com') =>
    `credential_process = /usr/bin/node /opt/irsa-broker/irsa-broker.mjs credential-process --endpoint ${endpoint} --token-file ${tokenFile} --role ${profile}`
  const marker = (kind: 'profile' | 'credential_process', endpoint = 'https://broker.example.com') =>
    `# irsa-broker configure: ${kind} of endpoint=${endpoint} token-file=${tokenFile}`
  const configureWith = (
    config: string,
    answer: Response,
    extra: string[] = [],
    env: Record<string, string> = {},
  ) =>
    runScripted(
      [
        'configure',
        '--endpoint',
        'https://broker.example.com',
        '--token-file',
        tokenFile,
        '--config-file',
        config,
        ...extra,
      ],
      { steps: [answer], env },
    )

  it('marks the profiles it creates and writes the region (--region, else AWS_REGION, else AWS_DEFAULT_REGION)', async () => {
    const config = join(dir, 'region-config')
    expect((await configureWith(config, roles('ml-reader'), ['--region', 'eu-west-1'])).code).toBe(0)
    expect(readFileSync(config, 'utf8')).toBe(
      `[profile ml-reader]\n${marker('profile')}\n${line('ml-reader')}\nregion = eu-west-1\n`,
    )
    const fromEnv = join(dir, 'region-env-config')
    await configureWith(fromEnv, roles('ml-reader'), [], {
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_REGION: 'ap-south-1',
    })
    expect(readFileSync(fromEnv, 'utf8')).toContain('\nregion = ap-south-1\n')
    const fallback = join(dir, 'region-fallback-config')
    await configureWith(fallback, roles('ml-reader'), [], { AWS_DEFAULT_REGION: 'us-west-2' })
    expect(readFileSync(fallback, 'utf8')).toContain('\nregion = us-west-2\n')
    const none = join(dir, 'region-none-config')
    await configureWith(none, roles('ml-reader'))
    expect(readFileSync(none, 'utf8')).not.toContain('region')
  })

  it('removes the profiles it wrote for roles no longer allowed, and leaves every other profile as it was', async () => {
    const config = join(dir, 'stale-config')
    const mine = `# my own settings\n[default]\nregion = eu-west-1\n\n[profile mine]\ncredential_process = /usr/local/bin/helper\n`
    const otherBroker = `\n[profile other-broker]\n${marker('profile', 'https://other.example.com')}\n${line('other-broker', 'https://other.example.com')}\n`
    writeFileSync(config, mine + otherBroker)
    const first = await configureWith(config, roles('ml-reader', 'ml-writer'), ['--region', 'eu-west-1'])
    expect(first.code).toBe(0)
    const written = readFileSync(config, 'utf8')
    expect(written).toContain(
      `[profile ml-writer]\n${marker('profile')}\n${line('ml-writer')}\nregion = eu-west-1\n`,
    )

    const second = await configureWith(config, roles('ml-reader'), [
      '--region',
      'eu-west-1',
      '--output',
      'json',
    ])
    expect(second.code).toBe(0)
    expect(readFileSync(config, 'utf8')).toBe(
      `${mine}${otherBroker}\n[profile ml-reader]\n${marker('profile')}\n${line('ml-reader')}\nregion = eu-west-1\n`,
    )
    expect(JSON.parse(second.stdout).profiles).toEqual([
      { profile: 'ml-reader', roleArn: 'arn:aws:iam::111122223333:role/ml-reader', outcome: 'unchanged' },
      { profile: 'ml-writer', outcome: 'removed' },
    ])
    expect(second.stderr).toBe(`irsa-broker: wrote ${config} (1 profile(s), 1 removed)\n`)
  })

  it('a profile that was there before keeps its settings: it gets only a marked credential_process line, taken back when its role goes', async () => {
    const config = join(dir, 'taken-over-config')
    const before = `[profile ml-reader]\nregion = us-east-1\noutput = json\n`
    writeFileSync(config, before)
    await configureWith(config, roles('ml-reader'), ['--region', 'eu-west-1'])
    expect(readFileSync(config, 'utf8')).toBe(
      `[profile ml-reader]\nregion = us-east-1\noutput = json\n${marker('credential_process')}\n${line('ml-reader')}\n`,
    )
    const again = await configureWith(config, roles('ml-reader'), ['--region', 'eu-west-1'])
    expect(again.stderr).toMatch(/^irsa-broker: nothing to change in /)
    await configureWith(config, roles('ml-writer'))
    expect(readFileSync(config, 'utf8')).toBe(
      `${before}\n[profile ml-writer]\n${marker('profile')}\n${line('ml-writer')}\n`,
    )
  })
})

describe('configure --install-executable (the init container of a pod with profiles)', () => {
  const endpoint = parseEndpoint('https://broker.example.com', 'configure')
  const roles = [
    { profile: 'ml-reader', roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader' },
    { profile: 'ml-writer', roleArn: 'arn:aws:iam::111122223333:role/ml-s3-writer' },
  ]
  /** A broker that allows the two roles, counting the requests it answers. */
  const broker = () => {
    const calls: string[] = []
    const client: BrokerClient = {
      call: async (request) => {
        calls.push(`${request.method} ${request.path}`)
        return { status: 200, headers: new Headers(), body: { roles } }
      },
    }
    return { client, calls }
  }
  /** A pod's emptyDir and a stand-in for the executable running configure. */
  const pod = () => {
    const root = mkdtempSync(join(dir, 'pod-'))
    const executable = join(root, 'image', 'irsa-broker')
    mkdirSync(dirname(executable))
    writeFileSync(executable, '#!/bin/sh\n# stands in for the executable\n', { mode: 0o755 })
    const emptyDir = join(root, 'var', 'run', 'irsa-broker')
    mkdirSync(emptyDir, { recursive: true })
    return {
      executable,
      emptyDir,
      context: { env: {}, cwd: root, homedir: join(root, 'home'), self: { node: executable } },
    }
  }

  it('copies the executable (0755) into the folder, writes the config 0644 for every user of the pod, and the profiles run the copy', async () => {
    const { executable, emptyDir, context } = pod()
    const { client, calls } = broker()
    const result = await configure(context, {
      client,
      endpoint,
      tokenFile: '/var/run/secrets/irsa-broker/serviceaccount/token',
      configFile: join(emptyDir, 'config'),
      installExecutable: join(emptyDir, 'irsa-broker'),
      dryRun: false,
    })
    expect(calls).toEqual(['GET /v1/roles'])
    expect(readFileSync(join(emptyDir, 'irsa-broker'), 'utf8')).toBe(readFileSync(executable, 'utf8'))
    expect(statSync(join(emptyDir, 'irsa-broker')).mode & 0o777).toBe(0o755)
    expect(statSync(join(emptyDir, 'config')).mode & 0o777).toBe(0o644)
    expect(readFileSync(join(emptyDir, 'config'), 'utf8')).toBe(
      roles
        .map(
          ({ profile }) =>
            `[profile ${profile}]\n# irsa-broker configure: profile of endpoint=https://broker.example.com token-file=/var/run/secrets/irsa-broker/serviceaccount/token\ncredential_process = ${join(emptyDir, 'irsa-broker')} credential-process --endpoint https://broker.example.com --token-file /var/run/secrets/irsa-broker/serviceaccount/token --role ${profile}\n`,
        )
        .join('\n'),
    )
    expect(result.changed).toBe(true)
    expect(readdirSync(emptyDir).sort()).toEqual(['config', 'irsa-broker'])
  })

  it('--dry-run copies nothing and writes nothing', async () => {
    const { emptyDir, context } = pod()
    const result = await configure(context, {
      client: broker().client,
      endpoint,
      tokenFile: '/t/token',
      configFile: join(emptyDir, 'config'),
      installExecutable: join(emptyDir, 'irsa-broker'),
      dryRun: true,
    })
    expect(result.text).toContain(`credential_process = ${join(emptyDir, 'irsa-broker')} credential-process`)
    expect(readdirSync(emptyDir)).toEqual([])
  })

  it('is refused, before any request and with nothing written, when the CLI runs as node and a script (there is no executable to copy)', async () => {
    const { emptyDir, context } = pod()
    const { client, calls } = broker()
    await expect(
      configure(
        { ...context, self: { node: process.execPath, script: '/opt/irsa-broker/irsa-broker.mjs' } },
        {
          client,
          endpoint,
          tokenFile: '/t/token',
          configFile: join(emptyDir, 'config'),
          installExecutable: join(emptyDir, 'irsa-broker'),
          dryRun: false,
        },
      ),
    ).rejects.toThrow(UsageError)
    expect(calls).toEqual([])
    expect(readdirSync(emptyDir)).toEqual([])
  })
})
