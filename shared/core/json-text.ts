// What JSON.parse does not say about a text: whether an object names a member twice. JSON.parse
// keeps the last one silently, so `{"subjects": ["ml"], "subjects": ["*"]}` would be stored as
// something the sender may not have meant; the broker refuses such a body (docs/decisions.md,
// "Admin documents round-trip").

const WHITESPACE = new Set([' ', '\t', '\n', '\r'])

/**
 * The path of the first member named twice in the same object, like `sessionTags.team` or
 * `jwks.keys[0].kid`; undefined when there is none. `text` must already be valid JSON (it is
 * read, not validated). Iterative: nesting depth costs no stack.
 */
export const duplicateMember = (text: string): string | undefined => {
  /** One open object or array: the members seen (objects), the next index (arrays). */
  interface Open {
    path: string
    members?: Set<string>
    index: number
  }
  const open: Open[] = []
  let at = 0
  const skipWhitespace = () => {
    while (at < text.length && WHITESPACE.has(text[at] as string)) at++
  }
  const readString = (): string => {
    const start = at
    let escaped = false
    at++
    for (let code = text.charCodeAt(at); code !== 0x22; code = text.charCodeAt(at)) {
      if (code === 0x5c) {
        escaped = true
        at += 2
      } else {
        at++
      }
    }
    at++
    return escaped ? (JSON.parse(text.slice(start, at)) as string) : text.slice(start + 1, at - 1)
  }
  /** Where the value about to be read sits: the member's or the element's path. */
  let pending = ''
  /** Right after `{` or after `,` in an object: the next string names a member. */
  let expectName = false
  for (;;) {
    skipWhitespace()
    if (at >= text.length) return undefined
    const char = text[at]
    const top = open[open.length - 1]
    if (char === '{' || char === '[') {
      open.push(char === '{' ? { path: pending, members: new Set(), index: 0 } : { path: pending, index: 0 })
      at++
      skipWhitespace()
      if (text[at] === '}' || text[at] === ']') {
        open.pop()
        at++
      } else if (char === '[') {
        pending = `${pending}[0]`
      } else {
        expectName = true
      }
      continue
    }
    if (char === ',' && top) {
      at++
      if (top.members) {
        expectName = true
      } else {
        top.index++
        pending = `${top.path}[${top.index}]`
      }
      continue
    }
    if (char === '}' || char === ']') {
      open.pop()
      at++
      continue
    }
    if (char === '"' && expectName && top?.members) {
      expectName = false
      const name = readString()
      const path = top.path ? `${top.path}.${name}` : name
      if (top.members.has(name)) return path
      top.members.add(name)
      skipWhitespace()
      at++ // the colon
      pending = path
      continue
    }
    if (char === '"') {
      readString()
      continue
    }
    // A number, true, false or null: up to the next delimiter.
    while (at < text.length && !WHITESPACE.has(text[at] as string) && !',]}'.includes(text[at] as string))
      at++
  }
}
