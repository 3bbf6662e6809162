// The ROCA fingerprint (CVE-2017-15361): RSA moduli from Infineon's vulnerable key generator
// have the form N ≡ 65537^k (mod r) for every small prime r, so their private keys can be
// recovered and tokens forged. Testing a modulus takes 38 small remainders.

/** The odd primes up to 167, as in the published detector (crocs-muni/roca). */
const PRIMES = Array.from({ length: 166 }, (_, index) => index + 3).filter((candidate) => {
  for (let divisor = 2; divisor * divisor <= candidate; divisor++) if (candidate % divisor === 0) return false
  return true
})

/** For each prime r, the residues 65537^k mod r (the subgroup that ROCA primes live in). */
const SUBGROUPS = PRIMES.map((prime) => {
  const residues = new Set<number>()
  for (let value = 1; !residues.has(value); value = (value * (65537 % prime)) % prime) residues.add(value)
  return residues
})

const remainder = (modulus: Uint8Array, prime: number): number => {
  let rest = 0
  for (const byte of modulus) rest = (rest * 256 + byte) % prime
  return rest
}

/**
 * True when the big-endian modulus has the ROCA fingerprint. A random modulus has it with a
 * probability of about 4·10⁻⁹, so a false refusal is practically impossible.
 */
export const hasRocaFingerprint = (modulus: Uint8Array): boolean =>
  PRIMES.every((prime, index) => SUBGROUPS[index]?.has(remainder(modulus, prime)) === true)
