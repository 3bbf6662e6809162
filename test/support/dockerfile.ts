// Just enough of the Dockerfile syntax (https://docs.docker.com/reference/dockerfile/) to check
// infra/kubernetes/agent/Dockerfile without a container engine: comments, line continuations,
// ARG defaults substituted into FROM, stages, and the exec (JSON) and shell forms of arguments.
// Anything it does not know (a heredoc, a parser directive other than syntax) is an error, so
// the file cannot grow a step the tests would silently skip.

export interface Instruction {
  /** Upper case: FROM, RUN, COPY, … */
  keyword: string
  /** The text after the keyword, continuations joined. */
  text: string
  /** The arguments: the JSON array of the exec form, else the text split on blanks. */
  args: string[]
  /** Whether the arguments were given in the exec (JSON array) form. */
  exec: boolean
  line: number
}

export interface Stage {
  image: string
  name: string | undefined
  instructions: Instruction[]
}

export interface Dockerfile {
  /** ARGs before the first FROM, with their defaults. */
  args: Record<string, string>
  stages: Stage[]
}

const KEYWORDS = new Set([
  'FROM',
  'ARG',
  'ENV',
  'WORKDIR',
  'COPY',
  'RUN',
  'USER',
  'ENTRYPOINT',
  'CMD',
  'LABEL',
  'EXPOSE',
])

const splitArgs = (text: string): { args: string[]; exec: boolean } => {
  if (text.startsWith('[')) {
    const parsed: unknown = JSON.parse(text)
    if (!Array.isArray(parsed) || !parsed.every((arg) => typeof arg === 'string'))
      throw new Error(`not a JSON array of strings: ${text}`)
    return { args: parsed, exec: true }
  }
  return { args: text.split(/\s+/).filter(Boolean), exec: false }
}

export const parseDockerfile = (source: string): Dockerfile => {
  const instructions: Instruction[] = []
  const lines = source.split('\n')
  for (let index = 0; index < lines.length; index++) {
    const first = index + 1
    let text = lines[index]?.trim() ?? ''
    if (text === '' || text.startsWith('#')) continue
    while (text.endsWith('\\')) {
      index++
      const next = lines[index]
      if (next === undefined) throw new Error(`line ${first}: a continuation at the end of the file`)
      if (next.trim().startsWith('#')) continue
      text = `${text.slice(0, -1).trimEnd()} ${next.trim()}`
    }
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(text)
    if (!match) throw new Error(`line ${first}: not an instruction: ${text}`)
    const keyword = (match[1] as string).toUpperCase()
    if (!KEYWORDS.has(keyword)) throw new Error(`line ${first}: ${keyword} is not checked by this parser`)
    const rest = (match[2] as string).trim()
    if (rest.includes('<<')) throw new Error(`line ${first}: heredocs are not checked by this parser`)
    instructions.push({ keyword, text: rest, ...splitArgs(rest), line: first })
  }

  const args: Record<string, string> = {}
  const stages: Stage[] = []
  for (const instruction of instructions) {
    const stage = stages.at(-1)
    if (instruction.keyword === 'ARG' && stage === undefined) {
      const [name, value] = instruction.text.split('=', 2)
      args[name as string] = value ?? ''
      continue
    }
    if (instruction.keyword === 'FROM') {
      const [image, as, name, ...extra] = instruction.args
      if (image === undefined || (as !== undefined && (as.toUpperCase() !== 'AS' || !name)) || extra.length)
        throw new Error(`line ${instruction.line}: FROM image [AS name] expected`)
      const resolved = image.replace(/\$\{(\w+)\}/g, (_, variable: string) => {
        const value = args[variable]
        if (value === undefined) throw new Error(`line ${instruction.line}: no ARG ${variable} before FROM`)
        return value
      })
      stages.push({ image: resolved, name, instructions: [] })
      continue
    }
    if (stage === undefined) throw new Error(`line ${instruction.line}: ${instruction.keyword} before FROM`)
    stage.instructions.push(instruction)
  }
  return { args, stages }
}

/** COPY's sources and destination, and its --from stage if any (other flags are refused). */
export const copyOf = (
  instruction: Instruction,
): { from: string | undefined; sources: string[]; dest: string } => {
  let from: string | undefined
  const rest: string[] = []
  for (const arg of instruction.args) {
    if (arg.startsWith('--from=')) from = arg.slice('--from='.length)
    else if (arg.startsWith('--')) throw new Error(`line ${instruction.line}: COPY ${arg} is not checked`)
    else rest.push(arg)
  }
  const dest = rest.pop()
  if (dest === undefined || rest.length === 0)
    throw new Error(`line ${instruction.line}: COPY needs sources and a destination`)
  return { from, sources: rest, dest }
}
