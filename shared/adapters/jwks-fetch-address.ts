// Which IP addresses the JWKS fetcher may connect to. Only public unicast addresses: never
// loopback, private, carrier-grade NAT, link-local (IMDS 169.254.169.254, ECS 169.254.170.2),
// unique-local, multicast, unspecified or reserved ranges, in any IPv6 form that embeds IPv4.

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'unspecified'
  | 'reserved'
  | 'invalid'

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

/** Dotted-quad IPv4 in canonical form only (the URL parser and DNS give nothing else). */
const parseIpv4 = (text: string): number[] | undefined => {
  const match = IPV4.exec(text)
  if (!match) return undefined
  const bytes = match.slice(1).map(Number)
  return bytes.every((byte) => byte <= 255) ? bytes : undefined
}

/** Any textual IPv6 (with `::` and an optional dotted IPv4 tail) to 16 bytes. */
const parseIpv6 = (text: string): number[] | undefined => {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined
  let head = text
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1))
    if (!v4) return undefined
    tail = [((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0)]
    head = text.slice(0, lastColon + 1)
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1)
  }
  const halves = head.split('::')
  if (halves.length > 2) return undefined
  const groups = (part: string | undefined): number[] | undefined => {
    if (part === undefined || part === '') return []
    const out: number[] = []
    for (const group of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined
      out.push(Number.parseInt(group, 16))
    }
    return out
  }
  const left = groups(halves[0])
  const right = groups(halves[1])
  if (!left || !right) return undefined
  const present = left.length + right.length + tail.length
  let words: number[]
  if (halves.length === 2) {
    if (present > 7) return undefined
    words = [...left, ...new Array<number>(8 - present).fill(0), ...right, ...tail]
  } else {
    if (present !== 8) return undefined
    words = [...left, ...tail]
  }
  return words.flatMap((word) => [word >> 8, word & 0xff])
}

const inV4 = (bytes: number[], prefix: number[], bits: number): boolean => {
  for (let bit = 0; bit < bits; bit++) {
    const index = bit >> 3
    const mask = 0x80 >> (bit & 7)
    if (((bytes[index] ?? 0) & mask) !== ((prefix[index] ?? 0) & mask)) return false
  }
  return true
}

const V4_RANGES: [number[], number, AddressClass][] = [
  [[0, 0, 0, 0], 8, 'unspecified'],
  [[10, 0, 0, 0], 8, 'private'],
  [[100, 64, 0, 0], 10, 'private'],
  [[127, 0, 0, 0], 8, 'loopback'],
  [[169, 254, 0, 0], 16, 'link-local'],
  [[172, 16, 0, 0], 12, 'private'],
  [[192, 0, 0, 0], 24, 'reserved'],
  [[192, 0, 2, 0], 24, 'reserved'],
  [[192, 88, 99, 0], 24, 'reserved'],
  [[192, 168, 0, 0], 16, 'private'],
  [[198, 18, 0, 0], 15, 'reserved'],
  [[198, 51, 100, 0], 24, 'reserved'],
  [[203, 0, 113, 0], 24, 'reserved'],
  [[224, 0, 0, 0], 4, 'multicast'],
  [[240, 0, 0, 0], 4, 'reserved'],
]

const classifyV4 = (bytes: number[]): AddressClass => {
  for (const [prefix, bits, kind] of V4_RANGES) if (inV4(bytes, prefix, bits)) return kind
  return 'public'
}

const V6_RANGES: [number[], number, AddressClass][] = [
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'reserved'], // 100::/64 discard-only
  [[0x20, 0x01, 0x00, 0x00], 32, 'reserved'], // 2001::/32 Teredo (tunnels to anywhere)
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'reserved'], // 2001:db8::/32 documentation
  [[0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, 'reserved'], // 64:ff9b:1::/48 local-use NAT64
  [[0xfc], 7, 'unique-local'],
  [[0xfe, 0x80], 10, 'link-local'],
  [[0xfe, 0xc0], 10, 'private'], // deprecated site-local
  [[0xff], 8, 'multicast'],
]

const classifyV6 = (bytes: number[]): AddressClass => {
  const v4At = (offset: number) => bytes.slice(offset, offset + 4)
  const zeroUpTo = (end: number) => bytes.slice(0, end).every((byte) => byte === 0)
  if (zeroUpTo(16)) return 'unspecified'
  if (zeroUpTo(15) && bytes[15] === 1) return 'loopback'
  // ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (NAT64) reach the IPv4 address they embed.
  if (zeroUpTo(10) && bytes[10] === 0xff && bytes[11] === 0xff) return classifyV4(v4At(12))
  if (inV4(bytes, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) return classifyV4(v4At(12))
  // ::a.b.c.d (IPv4-compatible, deprecated) and ::ffff:0:a.b.c.d (SIIT) are never a public target.
  if (zeroUpTo(12)) return classifyV4(v4At(12)) === 'public' ? 'reserved' : classifyV4(v4At(12))
  if (zeroUpTo(8) && bytes[8] === 0xff && bytes[9] === 0xff && bytes[10] === 0 && bytes[11] === 0)
    return classifyV4(v4At(12)) === 'public' ? 'reserved' : classifyV4(v4At(12))
  // 2002:a.b.c.d::/48 (6to4) is routed to the embedded IPv4 address.
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return classifyV4(v4At(2))
  for (const [prefix, bits, kind] of V6_RANGES) if (inV4(bytes, prefix, bits)) return kind
  // Global unicast is 2000::/3; everything else is unassigned or special.
  return ((bytes[0] ?? 0) & 0xe0) === 0x20 ? 'public' : 'reserved'
}

/**
 * Classifies an IP address as a connection target. Accepts dotted-quad IPv4 and any IPv6 text
 * (brackets and a `%zone` are allowed); anything else is `invalid`.
 */
export const classifyAddress = (address: string): AddressClass => {
  let text = address
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1)
  const zone = text.indexOf('%')
  if (zone !== -1) text = text.slice(0, zone)
  const v4 = parseIpv4(text)
  if (v4) return classifyV4(v4)
  if (!text.includes(':')) return 'invalid'
  const v6 = parseIpv6(text)
  return v6 ? classifyV6(v6) : 'invalid'
}
