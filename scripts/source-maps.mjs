// Trims a bundle's source map (v3) to the repository's own sources. Node reads and decodes the
// whole map of every module it loads when source maps are on (NODE_OPTIONS=--enable-source-maps
// in serverless.yml), and in a Lambda bundle nine tenths of the mappings point into
// node_modules: about 8 ms of every cold start on the bench machine. After trimming, a stack
// frame in our code still names its .ts file and line; a frame inside a dependency names the
// bundle's own line and column (that range is marked unmapped, so no frame is ever attributed
// to the wrong source).

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const DIGIT = new Map([...BASE64].map((char, value) => [char, value]))

/** The VLQ numbers of one segment. */
const decodeSegment = (text) => {
  const values = []
  let value = 0
  let shift = 0
  for (const char of text) {
    const digit = DIGIT.get(char)
    if (digit === undefined) throw new Error(`source map: "${char}" is not base64`)
    value += (digit & 31) << shift
    if (digit & 32) {
      shift += 5
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1)
      value = 0
      shift = 0
    }
  }
  return values
}

const encodeNumber = (number) => {
  let value = number < 0 ? (-number << 1) | 1 : number << 1
  let text = ''
  do {
    let digit = value & 31
    value >>>= 5
    if (value > 0) digit |= 32
    text += BASE64[digit]
  } while (value > 0)
  return text
}

/**
 * A new map holding only the mappings whose source `keep(source)` accepts, with `sources`,
 * `sourcesContent` and `names` reduced to what those mappings use.
 *
 * @param {{ version: 3, sources: string[], sourcesContent?: (string | null)[], names: string[], mappings: string }} map
 * @param {(source: string) => boolean} keep
 */
export const keepSources = (map, keep) => {
  const sourceIndex = new Map()
  const nameIndex = new Map()
  const sources = []
  const sourcesContent = []
  const names = []
  // Absolute values across the input, and the last ones written (for the output's deltas).
  let inSource = 0
  let inLine = 0
  let inColumn = 0
  let inName = 0
  let outSource = 0
  let outLine = 0
  let outColumn = 0
  let outName = 0
  const lines = map.mappings.split(';').map((line) => {
    let generated = 0
    let outGenerated = 0
    // Whether a dropped range must first be marked unmapped: at a line's start too, since a
    // position with no segment before it on its line takes the last segment of an earlier line.
    let mapped = true
    const segments = []
    for (const text of line === '' ? [] : line.split(',')) {
      const values = decodeSegment(text)
      generated += values[0] ?? 0
      if (values.length < 4) {
        // Already an unmapped range: keep it only where it ends a mapped one.
        if (mapped) {
          segments.push(encodeNumber(generated - outGenerated))
          outGenerated = generated
          mapped = false
        }
        continue
      }
      inSource += values[1] ?? 0
      inLine += values[2] ?? 0
      inColumn += values[3] ?? 0
      if (values.length >= 5) inName += values[4] ?? 0
      const source = map.sources[inSource] ?? ''
      if (!keep(source)) {
        if (mapped) {
          segments.push(encodeNumber(generated - outGenerated))
          outGenerated = generated
          mapped = false
        }
        continue
      }
      if (!sourceIndex.has(inSource)) {
        sourceIndex.set(inSource, sources.length)
        sources.push(source)
        sourcesContent.push(map.sourcesContent?.[inSource] ?? null)
      }
      const target = sourceIndex.get(inSource)
      let segment =
        encodeNumber(generated - outGenerated) +
        encodeNumber(target - outSource) +
        encodeNumber(inLine - outLine) +
        encodeNumber(inColumn - outColumn)
      if (values.length >= 5) {
        if (!nameIndex.has(inName)) {
          nameIndex.set(inName, names.length)
          names.push(map.names[inName] ?? '')
        }
        const name = nameIndex.get(inName)
        segment += encodeNumber(name - outName)
        outName = name
      }
      segments.push(segment)
      outGenerated = generated
      outSource = target
      outLine = inLine
      outColumn = inColumn
      mapped = true
    }
    return segments.join(',')
  })
  return {
    ...map,
    sources,
    ...(map.sourcesContent ? { sourcesContent } : {}),
    names,
    mappings: lines.join(';'),
  }
}
