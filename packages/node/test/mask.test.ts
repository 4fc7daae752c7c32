/**
 * The client's masking (src/mask.ts), with the native `bufferutil` add-on
 * and word-wise without it, against the definition of RFC 6455 section 5.3,
 * byte by byte: every size around the word and threshold boundaries, every
 * key position, sources at every alignment.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { NATIVE_MASKING, maskInto, maskedCopy, wordwiseMaskInto, wordwiseMaskedCopy } from '../src/mask.js'

/** RFC 6455 5.3: octet i of the payload XOR octet (i mod 4) of the key, for a part starting at `offset`. */
function reference(part: Uint8Array, key: Uint8Array, offset: number): Uint8Array {
  return part.map((b, i) => b ^ key[(offset + i) % 4]!)
}

const key = Uint8Array.of(0xa5, 0x3c, 0x0f, 0xf0)

/**
 * `maskInto` as a copy: into a fresh Buffer after `at` bytes of filler (a frame's header is 2 to 14
 * bytes), checking that the filler is left alone, then the masked bytes alone.
 */
const into = (maskIntoFn: typeof maskInto, at: number) => (part: Uint8Array, key: Uint8Array, offset: number): Buffer => {
  const out = Buffer.alloc(at + part.length, 0xee)
  maskIntoFn(part, key, offset, out, at)
  expect(out.subarray(0, at).every((b) => b === 0xee), `the ${at} bytes before the payload are left alone`).toBe(true)
  return out.subarray(at)
}

describe.each([
  ['maskedCopy', maskedCopy],
  ['wordwiseMaskedCopy', wordwiseMaskedCopy],
  ['maskInto after 6 bytes', into(maskInto, 6)],
  ['maskInto after 14 bytes', into(maskInto, 14)],
  ['wordwiseMaskInto after 2 bytes', into(wordwiseMaskInto, 2)],
  ['wordwiseMaskInto after 11 bytes', into(wordwiseMaskInto, 11)],
])('%s', (_name, maskedCopy) => {
  test('equals the byte-by-byte definition for every size, key position and source alignment', () => {
    const backing = Uint8Array.from({ length: 100_020 }, (_, i) => (i * 31 + 7) & 0xff)
    for (const size of [0, 1, 3, 7, 8, 9, 47, 48, 49, 63, 64, 65, 71, 72, 88, 96, 97, 103, 104, 112, 120, 127, 128, 1000, 65_536, 100_003]) {
      for (let start = 0; start < 8; start++) {
        const part = backing.subarray(start, start + size)
        const before = Uint8Array.from(part)
        for (let offset = 0; offset < 4; offset++) {
          const out = maskedCopy(part, key, offset + 4 * start)
          expect(out.length).toBe(size)
          expect(Buffer.compare(out, reference(part, key, offset + 4 * start)), `size ${size}, start ${start}, offset ${offset}`).toBe(0)
        }
        expect(Buffer.compare(part, before), 'the source is left as it was').toBe(0)
      }
    }
  })

  test('masking twice gives the bytes back; an all-zero key changes nothing', () => {
    const part = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff)
    expect(Buffer.compare(maskedCopy(maskedCopy(part, key, 3), key, 3), part)).toBe(0)
    expect(Buffer.compare(maskedCopy(part, new Uint8Array(4), 1), part)).toBe(0)
  })
})

describe('the native add-on', () => {
  const require = createRequire(import.meta.url)
  /** The installed `bufferutil` loaded its native binary (not its JavaScript fallback); false when it is not installed. */
  const addonIsNative = (): boolean => {
    try {
      return (require('bufferutil') as { mask: unknown }).mask !== (require('bufferutil/fallback') as { mask: unknown }).mask
    } catch {
      return false
    }
  }

  test('is used when it loads natively, unless WS_NO_BUFFER_UTIL turns it off', () => {
    expect(NATIVE_MASKING).toBe(addonIsNative() && !process.env.WS_NO_BUFFER_UTIL)
  })

  test('loads natively where the optional dependency is installed with a prebuilt binary for this platform', () => {
    let root: string
    try {
      root = dirname(require.resolve('bufferutil/package.json'))
    } catch {
      return // not installed (npm ci --omit=optional): the word loop is used, checked above
    }
    if (existsSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`))) expect(addonIsNative()).toBe(true)
  })
})
