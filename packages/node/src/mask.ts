/**
 * Client-to-server masking (RFC 6455 section 5.3) of the frames the client
 * writes itself (frames.ts).
 *
 * A WebSocket client must XOR every payload byte with a 4-byte key, and a
 * server XORs it back. `ws` does both with the native `bufferutil` add-on
 * when that can be loaded, otherwise with a loop over single bytes: about
 * 1.6 ms per MiB here, a third of a 1 MiB echo between two processes.
 * `bufferutil` is an optional dependency of this package, so most installs
 * have it (prebuilt binaries for Linux x64, macOS and Windows; elsewhere npm
 * compiles it when it can and drops it when it cannot). Here, as in `ws`,
 * `WS_NO_BUFFER_UTIL` turns it off. With it, a part is masked as it is
 * copied (about 0.05 ms per MiB); without it, the part is copied (a
 * `memcpy`) and the copy XORed in 64-bit words, about 0.11 ms per MiB in V8
 * (copy and XOR).
 */
import { createRequire } from 'node:module'

/** `bufferutil`'s `mask`: `output[offset + i] = source[i] ^ mask[i & 3]` for `i < length`. */
type NativeMask = (source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number) => void

/**
 * The native add-on's `mask`, or undefined when it is not installed, is turned off, or only its
 * JavaScript fallback loaded (a byte loop, slower than the word loop here).
 */
function loadNativeMask(): NativeMask | undefined {
  if (process.env.WS_NO_BUFFER_UTIL) return undefined
  try {
    const require = createRequire(import.meta.url)
    const addon = require('bufferutil') as { mask?: unknown }
    const fallback = require('bufferutil/fallback') as { mask?: unknown }
    return typeof addon.mask === 'function' && addon.mask !== fallback.mask ? addon.mask as NativeMask : undefined
  } catch {
    return undefined
  }
}

const nativeMask = loadNativeMask()

/** @internal Whether parts are masked by the native `bufferutil` add-on (tests check that an install has it). */
export const NATIVE_MASKING = nativeMask !== undefined

/** Below this many bytes the add-on is not called (`ws` draws the line at 48 bytes too). */
const NATIVE_MIN_BYTES = 48

/** The key rotated to start at a part's payload offset, for the add-on (which starts at key byte 0). */
const rotatedKey = new Uint8Array(4)

/** Below this many bytes a part is masked byte by byte (setting up the word view costs more). */
const WORDWISE_MIN_BYTES = 64

/** Scratch for building the 8-byte key in the machine's byte order. */
const keyBytes = new Uint8Array(8)
const keyWord = new BigUint64Array(keyBytes.buffer)

/**
 * A masked copy of `part`, which starts `offset` bytes into the frame's
 * payload (the key is applied from that position: byte `i` of the payload
 * is XORed with `key[i % 4]`). `part` itself is left as it is.
 */
export function maskedCopy(part: Uint8Array, key: Uint8Array, offset: number): Buffer {
  const out = Buffer.allocUnsafe(part.length)
  maskInto(part, key, offset, out, 0)
  return out
}

/**
 * Write `part` masked into `out` from index `at` (`maskedCopy` into a buffer
 * that already holds something, e.g. the frame's header): `part`, which starts
 * `offset` bytes into the frame's payload, is left as it is.
 */
export function maskInto(part: Uint8Array, key: Uint8Array, offset: number, out: Uint8Array, at: number): void {
  if (nativeMask === undefined || part.length < NATIVE_MIN_BYTES) return wordwiseMaskInto(part, key, offset, out, at)
  for (let k = 0; k < 4; k++) rotatedKey[k] = key[(offset + k) & 3]!
  nativeMask(part, rotatedKey, out, at, part.length)
}

/** @internal `maskedCopy` without the add-on. */
export function wordwiseMaskedCopy(part: Uint8Array, key: Uint8Array, offset: number): Buffer {
  const out = Buffer.allocUnsafe(part.length)
  wordwiseMaskInto(part, key, offset, out, 0)
  return out
}

/** @internal `maskInto` without the add-on: copy, then XOR in 64-bit words. */
export function wordwiseMaskInto(part: Uint8Array, key: Uint8Array, offset: number, out: Uint8Array, at: number): void {
  const length = part.length
  out.set(part, at)
  if (length < WORDWISE_MIN_BYTES) {
    for (let i = 0; i < length; i++) out[at + i] = out[at + i]! ^ key[(offset + i) & 3]!
    return
  }
  // Bytes up to the first 8-byte boundary of the target memory, one by one (a pooled Buffer may start anywhere).
  let i = 0
  const lead = (8 - ((out.byteOffset + at) & 7)) & 7
  for (; i < lead; i++) out[at + i] = out[at + i]! ^ key[(offset + i) & 3]!
  // Then whole words: the key as it falls from payload position `offset + i` on, read in machine order,
  // so that each byte of a word meets the key byte it would meet one at a time.
  for (let k = 0; k < 8; k++) keyBytes[k] = key[(offset + i + k) & 3]!
  const word = keyWord[0]!
  const words = new BigUint64Array(out.buffer, out.byteOffset + at + i, (length - i) >>> 3)
  const count = words.length
  // Four words per iteration: V8 runs this loop about 1.6 times as fast as one word at a
  // time (0.07 against 0.12 ms per MiB, measured on Node 20).
  let w = 0
  for (const unrolled = count & ~3; w < unrolled; w += 4) {
    words[w] = words[w]! ^ word
    words[w + 1] = words[w + 1]! ^ word
    words[w + 2] = words[w + 2]! ^ word
    words[w + 3] = words[w + 3]! ^ word
  }
  for (; w < count; w++) words[w] = words[w]! ^ word
  // And the bytes after the last whole word.
  for (i += count * 8; i < length; i++) out[at + i] = out[at + i]! ^ key[(offset + i) & 3]!
}
