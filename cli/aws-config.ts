// The AWS shared config file (~/.aws/config) as lines, so `configure` can set one key in
// some profiles and leave every other byte alone: other sections, comments, blank lines,
// nested blocks. The parser refuses what botocore's configparser refuses (a key outside a
// section, a line that is neither key, section, comment nor continuation, a duplicate
// section or key), because a file the SDKs cannot read must not be made worse.
import { InputError } from './errors.js'

export interface ConfigLine {
  text: string
  kind: 'blank' | 'comment' | 'section' | 'key' | 'continuation'
  /** For `section`: the normalized section name (`profile x`, `default`, `sso-session y`). */
  section?: string
  /** For `key`: the key as written, trimmed. */
  key?: string
}

export interface ConfigFile {
  lines: ConfigLine[]
  eol: '\n' | '\r\n'
  /** Whether the original text ended with a newline (kept as it was). */
  finalNewline: boolean
}

const SECTION = /^\[([^\]]*)\]$/
const KEY = /^([^=:\s][^=:]*?)\s*[=:]/

const normalizeSection = (name: string): string => name.trim().replace(/\s+/g, ' ')

export const parseAwsConfig = (text: string, path: string): ConfigFile => {
  const eol = text.includes('\r\n') ? '\r\n' : '\n'
  const finalNewline = text === '' || text.endsWith('\n')
  const raw = text.split(/\r?\n/)
  if (finalNewline) raw.pop()
  const lines: ConfigLine[] = []
  const sections = new Set<string>()
  let keys: Set<string> | undefined
  let inValue = false
  raw.forEach((textLine, index) => {
    const fail = (why: string): never => {
      throw new InputError('ConfigFile', `cannot parse ${path}, line ${index + 1}: ${why}`)
    }
    const trimmed = textLine.trim()
    if (trimmed === '') {
      lines.push({ text: textLine, kind: 'blank' })
      return
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) {
      lines.push({ text: textLine, kind: 'comment' })
      return
    }
    if (inValue && /^\s/.test(textLine)) {
      lines.push({ text: textLine, kind: 'continuation' })
      return
    }
    inValue = false
    if (trimmed.startsWith('[')) {
      const match = SECTION.exec(trimmed)
      if (!match) fail('a section header must look like [profile name]')
      const section = normalizeSection(match?.[1] ?? '')
      if (section === '') fail('empty section name')
      if (sections.has(section)) fail(`section [${section}] appears twice`)
      sections.add(section)
      keys = new Set()
      lines.push({ text: textLine, kind: 'section', section })
      return
    }
    const key = KEY.exec(trimmed)
    if (!key) fail('expected "name = value", a [section], or a comment')
    if (!keys) fail('a setting before the first [section]')
    const name = (key?.[1] ?? '').trim()
    if (keys?.has(name.toLowerCase())) fail(`"${name}" appears twice in its section`)
    keys?.add(name.toLowerCase())
    inValue = true
    lines.push({ text: textLine, kind: 'key', key: name })
  })
  return { lines, eol, finalNewline }
}

export const renderAwsConfig = (file: ConfigFile): string => {
  const body = file.lines.map((line) => line.text).join(file.eol)
  return file.lines.length > 0 && file.finalNewline ? `${body}${file.eol}` : body
}

/** `[default]` for the profile named default, `[profile NAME]` for every other one. */
export const profileSection = (profile: string): string =>
  profile === 'default' ? 'default' : `profile ${profile}`

const sameSection = (line: ConfigLine, section: string): boolean =>
  line.kind === 'section' &&
  (line.section === section || (section === 'default' && line.section === 'profile default'))

export type SetOutcome = 'added' | 'updated' | 'unchanged'

/**
 * Sets `key = value` in `section`, creating the section at the end when it is missing.
 * An existing value (with its continuation lines) is replaced in place; a new key goes after
 * the section's last setting, before trailing comments and blank lines.
 */
export const setConfigValue = (file: ConfigFile, section: string, key: string, value: string): SetOutcome => {
  const newLine: ConfigLine = { text: `${key} = ${value}`, kind: 'key', key }
  const start = file.lines.findIndex((line) => sameSection(line, section))
  if (start < 0) {
    const last = file.lines.at(-1)
    if (last && last.kind !== 'blank') file.lines.push({ text: '', kind: 'blank' })
    file.lines.push({ text: section === 'default' ? '[default]' : `[${section}]`, kind: 'section', section })
    file.lines.push(newLine)
    file.finalNewline = true
    return 'added'
  }
  let end = file.lines.findIndex((line, index) => index > start && line.kind === 'section')
  if (end < 0) end = file.lines.length
  for (let index = start + 1; index < end; index++) {
    const line = file.lines[index]
    if (line?.kind !== 'key' || line.key?.toLowerCase() !== key.toLowerCase()) continue
    let valueEnd = index + 1
    while (valueEnd < end && file.lines[valueEnd]?.kind === 'continuation') valueEnd++
    if (valueEnd === index + 1 && line.text.trim() === newLine.text) return 'unchanged'
    file.lines.splice(index, valueEnd - index, newLine)
    return 'updated'
  }
  let insertAt = start + 1
  for (let index = start + 1; index < end; index++) {
    const kind = file.lines[index]?.kind
    if (kind === 'key' || kind === 'continuation') insertAt = index + 1
  }
  file.lines.splice(insertAt, 0, newLine)
  return 'added'
}

/** Where `section` is: its header's index, and the index after its last line (blank lines included). */
export const sectionRange = (
  file: ConfigFile,
  section: string,
): { start: number; end: number } | undefined => {
  const start = file.lines.findIndex((line) => sameSection(line, section))
  if (start < 0) return undefined
  const next = file.lines.findIndex((line, index) => index > start && line.kind === 'section')
  return { start, end: next < 0 ? file.lines.length : next }
}

/** Removes `section` whole, and the blank line that set it apart when it was the last one. */
export const removeSection = (file: ConfigFile, section: string): boolean => {
  const range = sectionRange(file, section)
  if (!range) return false
  file.lines.splice(range.start, range.end - range.start)
  while (range.start === file.lines.length && file.lines.at(-1)?.kind === 'blank') file.lines.pop()
  return true
}

/** The index of `key`'s line in `section`, or -1. */
export const keyIndex = (file: ConfigFile, section: string, key: string): number => {
  const range = sectionRange(file, section)
  if (!range) return -1
  for (let index = range.start + 1; index < range.end; index++) {
    const line = file.lines[index]
    if (line?.kind === 'key' && line.key?.toLowerCase() === key.toLowerCase()) return index
  }
  return -1
}

/** Removes `key` (with its continuation lines) from `section`. */
export const removeConfigValue = (file: ConfigFile, section: string, key: string): boolean => {
  const index = keyIndex(file, section, key)
  if (index < 0) return false
  let end = index + 1
  while (file.lines[end]?.kind === 'continuation') end++
  file.lines.splice(index, end - index)
  return true
}

/** The value of `key` in `section`, continuation lines not included. */
export const getConfigValue = (file: ConfigFile, section: string, key: string): string | undefined => {
  const start = file.lines.findIndex((line) => sameSection(line, section))
  if (start < 0) return undefined
  for (let index = start + 1; index < file.lines.length; index++) {
    const line = file.lines[index]
    if (!line || line.kind === 'section') return undefined
    if (line.kind === 'key' && line.key?.toLowerCase() === key.toLowerCase())
      return line.text.replace(/^[^=:]*[=:]/, '').trim()
  }
  return undefined
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * One argument for a credential_process line. botocore splits the line with shlex (POSIX),
 * the AWS SDK for JavaScript hands it to /bin/sh: single quotes mean the same to both.
 */
export const shellQuote = (arg: string): string =>
  SHELL_SAFE.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`

/**
 * Characters no quoting makes safe in a config value: line breaks end the value, and the
 * AWS SDK for JavaScript cuts a value at whitespace followed by `#` or `;` (a comment).
 */
export const unsafeInConfigValue = (arg: string): string | undefined => {
  if (/[\r\n\0]/.test(arg)) return 'a line break'
  if (/[#;]/.test(arg)) return '"#" or ";" (the AWS SDK for JavaScript reads them as a comment)'
  return undefined
}
