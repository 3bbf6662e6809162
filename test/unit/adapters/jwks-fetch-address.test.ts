// The address rule of the JWKS fetcher: only public unicast targets, whatever the notation.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { classifyAddress } from '../../../shared/adapters/jwks-fetch-address.js'

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['2002:7f00:1::', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.255', 'private'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:a01:203', 'private'],
    ['fec0::1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['169.254.170.2', 'link-local'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:a9fe:a9fe::1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fd00:ec2::254', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['fdff:ffff::1', 'unique-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['::ffff:224.0.0.251', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['::8.8.8.8', 'reserved'],
    ['::ffff:0:8.8.8.8', 'reserved'],
    ['100::1', 'reserved'],
    ['64:ff9b:1::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['100.63.255.255', 'public'],
    ['100.128.0.0', 'public'],
    ['169.253.255.255', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::808:808', 'public'],
    ['2002:808:808::1', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:80b::200e', 'public'],
    ['localhost', 'invalid'],
    ['2130706433', 'invalid'],
    ['0x7f000001', 'invalid'],
    ['0177.0.0.1', 'invalid'],
    ['127.1', 'invalid'],
    ['256.0.0.1', 'invalid'],
    ['1:2:3:4:5:6:7:8:9', 'invalid'],
    ['1::2::3', 'invalid'],
    ['::fffff', 'invalid'],
    ['', 'invalid'],
  ])('classifies %s as %s', (address, expected) => {
    // Act / Assess
    expect(classifyAddress(address)).toBe(expected)
  })

  it('classifies every IPv4 address and its IPv4-mapped IPv6 forms alike', () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number]
        const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
        const kind = classifyAddress(v4)
        expect(classifyAddress(`::ffff:${v4}`)).toBe(kind)
        expect(classifyAddress(`::ffff:${hex}`)).toBe(kind)
        expect(classifyAddress(`[0:0:0:0:0:ffff:${hex}]`)).toBe(kind)
      }),
    )
  })

  it('never calls an address of 10/8, 172.16/12, 192.168/16, 100.64/10, 127/8 or 169.254/16 public', () => {
    const inRange = (base: [number, number], prefix: number) =>
      fc.tuple(fc.integer({ min: 0, max: 2 ** (32 - prefix) - 1 })).map(([offset]) => {
        const value = (((base[0] << 24) | (base[1] << 16)) >>> 0) + offset
        return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.')
      })
    fc.assert(
      fc.property(
        fc.oneof(
          inRange([10, 0], 8),
          inRange([172, 16], 12),
          inRange([192, 168], 16),
          inRange([100, 64], 10),
          inRange([127, 0], 8),
          inRange([169, 254], 16),
        ),
        (address) => {
          expect(classifyAddress(address)).not.toBe('public')
        },
      ),
    )
  })
})
