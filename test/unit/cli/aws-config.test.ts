// The AWS config file as `configure` edits it: parsed line by line, one key set in a profile,
// every other byte kept; refused where botocore's configparser would refuse it; and the quoting
// of credential_process arguments, checked against a POSIX shell-word splitter.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  getConfigValue,
  parseAwsConfig,
  profileSection,
  renderAwsConfig,
  setConfigValue,
  shellQuote,
  unsafeInConfigValue,
} from '../../../cli/aws-config.js'
import { InputError } from '../../../cli/errors.js'

const PATH = '/home/me/.aws/config'

const EXISTING = `# machine settings
[default]
region = eu-west-1

[profile ml-reader]
region = us-east-1
credential_process = /old/helper --role ml-reader
  --continued-argument

; a comment about sso
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
[profile other]
s3 =
  max_concurrent_requests = 10
`

const set = (text: string, profile: string, value: string) => {
  const file = parseAwsConfig(text, PATH)
  const outcome = setConfigValue(file, profileSection(profile), 'credential_process', value)
  return { outcome, text: renderAwsConfig(file), file }
}

const parseError = (text: string): string => {
  try {
    parseAwsConfig(text, PATH)
  } catch (error) {
    expect(error).toBeInstanceOf(InputError)
    return (error as InputError).message
  }
  throw new Error('expected a parse error')
}

describe('setConfigValue', () => {
  it('replaces the value of an existing profile in place, dropping its continuation lines, and keeps the rest byte for byte', () => {
    const { outcome, text } = set(EXISTING, 'ml-reader', 'new-command --role ml-reader')
    expect(outcome).toBe('updated')
    expect(text).toBe(
      EXISTING.replace(
        'credential_process = /old/helper --role ml-reader\n  --continued-argument\n',
        'credential_process = new-command --role ml-reader\n',
      ),
    )
  })

  it('adds the key after the last setting of a profile that lacks it, before the blank line and comments that follow', () => {
    const { outcome, text } = set(EXISTING, 'other', 'cmd')
    expect(outcome).toBe('added')
    expect(text).toBe(`${EXISTING}credential_process = cmd\n`)
    const inDefault = set(EXISTING, 'default', 'cmd')
    expect(inDefault.text).toBe(
      EXISTING.replace('region = eu-west-1\n', 'region = eu-west-1\ncredential_process = cmd\n'),
    )
  })

  it('appends a missing profile as a new [profile NAME] section, separated by one blank line', () => {
    const { outcome, text } = set(EXISTING, 'ml-writer', 'cmd')
    expect(outcome).toBe('added')
    expect(text).toBe(`${EXISTING}\n[profile ml-writer]\ncredential_process = cmd\n`)
    expect(set('', 'ml-writer', 'cmd').text).toBe('[profile ml-writer]\ncredential_process = cmd\n')
    expect(set('[default]\nregion = x', 'a', 'cmd').text).toBe(
      '[default]\nregion = x\n\n[profile a]\ncredential_process = cmd\n',
    )
  })

  it('is idempotent: setting the same value again reports "unchanged" and renders the same text', () => {
    const once = set(EXISTING, 'ml-writer', 'cmd --x').text
    const twice = set(once, 'ml-writer', 'cmd --x')
    expect(twice.outcome).toBe('unchanged')
    expect(twice.text).toBe(once)
  })

  it('keeps CRLF line endings and a missing final newline as they were', () => {
    const crlf = '[profile a]\r\nregion = x\r\n'
    expect(set(crlf, 'a', 'cmd').text).toBe('[profile a]\r\nregion = x\r\ncredential_process = cmd\r\n')
    expect(set('[profile a]\nregion = x', 'a', 'cmd').text).toBe(
      '[profile a]\nregion = x\ncredential_process = cmd',
    )
  })

  it('treats the profile "default" as [default], also when written [profile default]', () => {
    expect(profileSection('default')).toBe('default')
    expect(set('[profile default]\nregion = x\n', 'default', 'cmd').text).toBe(
      '[profile default]\nregion = x\ncredential_process = cmd\n',
    )
    expect(
      getConfigValue(parseAwsConfig(set('', 'default', 'cmd').text, PATH), 'default', 'credential_process'),
    ).toBe('cmd')
  })

  it('property: for any profile and value, the rendered file parses again, holds the value, and every other line is unchanged', () => {
    const profile = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/)
    const value = fc
      .stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,60}$/)
      .filter((v) => unsafeInConfigValue(v) === undefined)
    fc.assert(
      fc.property(profile, value, (name, command) => {
        const { text } = set(EXISTING, name, command)
        const reparsed = parseAwsConfig(text, PATH)
        expect(getConfigValue(reparsed, profileSection(name), 'credential_process')).toBe(command.trim())
        const removed = EXISTING.split('\n').filter((line) => !text.split('\n').includes(line))
        // Only the old value of ml-reader (and its continuation) may disappear.
        for (const line of removed)
          expect(['credential_process = /old/helper --role ml-reader', '  --continued-argument']).toContain(
            line,
          )
      }),
    )
  })
})

describe('parseAwsConfig refuses what botocore cannot read, naming the line', () => {
  it.each([
    [
      'a line that is not a setting',
      '[default]\nregion = x\nnot a setting\n',
      'line 3: expected "name = value", a [section], or a comment',
    ],
    ['a setting before any section', 'region = x\n', 'line 1: a setting before the first [section]'],
    [
      'an unclosed section header',
      '[profile a\nregion = x\n',
      'line 1: a section header must look like [profile name]',
    ],
    [
      'a section that appears twice',
      '[profile a]\n[default]\n[profile  a]\n',
      'line 3: section [profile a] appears twice',
    ],
    [
      'a key that appears twice in a section',
      '[default]\nRegion = x\nregion = y\n',
      'line 3: "region" appears twice in its section',
    ],
    ['an empty section name', '[ ]\n', 'line 1: empty section name'],
  ])('%s', (_name, text, detail) => {
    expect(parseError(text)).toBe(`cannot parse ${PATH}, ${detail}`)
  })

  it('accepts comments, blank lines, "key: value", indented nested blocks and empty files', () => {
    expect(() => parseAwsConfig('', PATH)).not.toThrow()
    expect(() => parseAwsConfig(EXISTING, PATH)).not.toThrow()
    expect(getConfigValue(parseAwsConfig('[default]\nregion: us-east-2\n', PATH), 'default', 'region')).toBe(
      'us-east-2',
    )
  })
})

/** POSIX shell word splitting for quoted words (what shlex.split and /bin/sh do), for the round trip below. */
const splitWords = (line: string): string[] => {
  const words: string[] = []
  let word: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string
    if (c === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) throw new Error('unterminated quote')
      word = (word ?? '') + line.slice(i + 1, end)
      i = end
    } else if (c === '\\') {
      word = (word ?? '') + (line[i + 1] ?? '')
      i++
    } else if (c === ' ') {
      if (word !== undefined) words.push(word)
      word = undefined
    } else if (/[A-Za-z0-9_@%+=:,./-]/.test(c)) {
      word = (word ?? '') + c
    } else {
      throw new Error(`unquoted special character ${JSON.stringify(c)}`)
    }
  }
  if (word !== undefined) words.push(word)
  return words
}

describe('shellQuote', () => {
  it('leaves plain paths and flags alone and single-quotes the rest', () => {
    expect(shellQuote('/usr/bin/node')).toBe('/usr/bin/node')
    expect(shellQuote('--endpoint')).toBe('--endpoint')
    expect(shellQuote('https://broker.example.com:8443/prod')).toBe('https://broker.example.com:8443/prod')
    expect(shellQuote("/var/run/pod's token")).toBe(`'/var/run/pod'\\''s token'`)
    expect(shellQuote('')).toBe("''")
    expect(shellQuote('$(rm -rf ~)')).toBe("'$(rm -rf ~)'")
  })

  it('property: any argument list survives quoting and POSIX word splitting unchanged', () => {
    const arg = fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => !/[\0\r\n]/.test(s))
    fc.assert(
      fc.property(fc.array(arg, { minLength: 1, maxLength: 6 }), (args) => {
        expect(splitWords(args.map(shellQuote).join(' '))).toEqual(args)
      }),
    )
  })

  it('names the characters no quoting makes safe in a config value', () => {
    expect(unsafeInConfigValue('/tmp/a#b')).toMatch(/"#" or ";"/)
    expect(unsafeInConfigValue('/tmp/a;b')).toMatch(/"#" or ";"/)
    expect(unsafeInConfigValue('/tmp/a\nb')).toBe('a line break')
    expect(unsafeInConfigValue("/tmp/pod's token")).toBeUndefined()
  })
})
