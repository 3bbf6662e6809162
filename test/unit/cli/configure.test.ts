// The pieces of `configure` that need no broker: where the AWS config file is, the
// credential_process line, and the atomic replacement of the file.
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  configFilePath,
  credentialProcessLine,
  parseRolesAnswer,
  writeFileAtomically,
} from '../../../cli/configure.js'
import { parseEndpoint } from '../../../cli/endpoint.js'
import { UsageError } from '../../../cli/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'irsa-broker-cli-configure-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

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
