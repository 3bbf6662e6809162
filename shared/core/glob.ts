// `*` globs as IAM's StringLike reads them: `*` matches any run of characters (also none);
// every other character is literal. Linear-time matching, so no pattern can be a ReDoS.

export const matchGlob = (pattern: string, value: string): boolean => {
  let p = 0
  let v = 0
  let starP = -1
  let starV = 0
  while (v < value.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starP = p++
      starV = v
    } else if (p < pattern.length && pattern[p] === value[v]) {
      p++
      v++
    } else if (starP !== -1) {
      p = starP + 1
      v = ++starV
    } else {
      return false
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++
  return p === pattern.length
}

export const matchAnyGlob = (patterns: readonly string[], value: string): boolean =>
  patterns.some((pattern) => matchGlob(pattern, value))
