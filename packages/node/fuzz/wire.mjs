/**
 * What the fuzzer writes: a seeded PRNG and a msgpack writer that can say
 * what an honest encoder never would (lying headers, `__proto__` keys,
 * invalid UTF-8, any extension type), plus generators of hostile values.
 */

// ------------------------------------------------------------------ PRNG

/** mulberry32: small, fast, good enough to pick frames; same seed, same frames. */
export function prng(seed) {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) | 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    range: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    bool: (p = 0.5) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    u32: () => (next() * 4294967296) >>> 0,
    bytes: (n) => {
      const b = new Uint8Array(n)
      for (let i = 0; i < n; i++) b[i] = (next() * 256) | 0
      return b
    },
  }
  return r
}

/** The seed of step `i` of a run: steps can be replayed one by one. */
export function stepSeedOf(seed, i) {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

// ------------------------------------------------------------------ raw msgpack writer

/**
 * A msgpack writer with full control over what goes out: plain JS values,
 * plus markers for what an honest encoder would never write:
 *   {$map: [[k, v], ...]}   a map with exactly these pairs (`__proto__` keys, duplicates)
 *   {$ext: type, data}      an extension value (any type, any payload length)
 *   {$str: bytes}           a str whose bytes are taken as-is (invalid UTF-8, lone surrogates)
 *   {$raw: bytes}           bytes spliced in verbatim
 *   {$arr: n}               an array header claiming n items (the items follow, or do not)
 *   {$f32: x}               a float32
 * A bigint is written as int64/uint64.
 */
class Writer {
  constructor() {
    this.buf = new Uint8Array(1 << 16)
    this.view = new DataView(this.buf.buffer)
    this.pos = 0
  }
  ensure(n) {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }
  u8(b) {
    this.ensure(1)
    this.buf[this.pos++] = b
  }
  u16(n) {
    this.ensure(2)
    this.view.setUint16(this.pos, n)
    this.pos += 2
  }
  u32(n) {
    this.ensure(4)
    this.view.setUint32(this.pos, n >>> 0)
    this.pos += 4
  }
  bytes(b) {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }
  header(n, fix, fixMax, c8, c16, c32) {
    if (n <= fixMax && fix !== undefined) this.u8(fix | n)
    else if (n < 0x100 && c8 !== undefined) {
      this.u8(c8)
      this.u8(n)
    } else if (n < 0x10000) {
      this.u8(c16)
      this.u16(n)
    } else {
      this.u8(c32)
      this.u32(n)
    }
  }
  str(bytes) {
    this.header(bytes.length, 0xa0, 31, 0xd9, 0xda, 0xdb)
    this.bytes(bytes)
  }
  write(v) {
    if (v === null || v === undefined) return this.u8(0xc0)
    if (v === true) return this.u8(0xc3)
    if (v === false) return this.u8(0xc2)
    if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 32) {
        if (v >= 0 && v < 128) return this.u8(v)
        if (v < 0 && v >= -32) return this.u8(v & 0xff)
        if (v >= 0) {
          this.u8(0xce)
          return this.u32(v)
        }
        this.u8(0xd2)
        this.ensure(4)
        this.view.setInt32(this.pos, v)
        this.pos += 4
        return
      }
      this.u8(0xcb)
      this.ensure(8)
      this.view.setFloat64(this.pos, v)
      this.pos += 8
      return
    }
    if (typeof v === 'bigint') {
      this.ensure(9)
      if (v >= 0n) {
        this.u8(0xcf)
        this.view.setBigUint64(this.pos, BigInt.asUintN(64, v))
      } else {
        this.u8(0xd3)
        this.view.setBigInt64(this.pos, BigInt.asIntN(64, v))
      }
      this.pos += 8
      return
    }
    if (typeof v === 'string') return this.str(Buffer.from(v, 'utf8'))
    if (v instanceof Uint8Array) {
      this.header(v.length, undefined, -1, 0xc4, 0xc5, 0xc6)
      return this.bytes(v)
    }
    if (Array.isArray(v)) {
      this.header(v.length, 0x90, 15, undefined, 0xdc, 0xdd)
      for (const item of v) this.write(item)
      return
    }
    if (v.$map) {
      this.header(v.$map.length, 0x80, 15, undefined, 0xde, 0xdf)
      for (const [k, val] of v.$map) {
        this.write(k)
        this.write(val)
      }
      return
    }
    if (v.$ext !== undefined) {
      const n = v.data.length
      const fix = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[n]
      if (fix) this.u8(fix)
      else this.header(n, undefined, -1, 0xc7, 0xc8, 0xc9)
      this.u8(v.$ext & 0xff)
      return this.bytes(v.data)
    }
    if (v.$str) return this.str(v.$str)
    if (v.$raw) return this.bytes(v.$raw)
    if (v.$arr !== undefined) return this.header(v.$arr, 0x90, 15, undefined, 0xdc, 0xdd)
    if (v.$f32 !== undefined) {
      this.u8(0xca)
      this.ensure(4)
      this.view.setFloat32(this.pos, v.$f32)
      this.pos += 4
      return
    }
    const entries = Object.entries(v)
    this.header(entries.length, 0x80, 15, undefined, 0xde, 0xdf)
    for (const [k, val] of entries) {
      this.write(k)
      this.write(val)
    }
  }
}

const writer = new Writer()
export function mp(value) {
  writer.pos = 0
  writer.write(value)
  return Buffer.from(writer.buf.subarray(0, writer.pos))
}

export const u32be = (n) => Uint8Array.of((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255)
export const fnRef = (id) => ({ $ext: 64, data: u32be(id) })
export const svcRef = (id) => ({ $ext: 65, data: u32be(id) })
export const backRef = (id) => ({ $ext: 66, data: u32be(id) })
export const extOf = (type, value) => ({ $ext: type, data: mp(value) })
export const pmap = (...pairs) => ({ $map: pairs })

// ------------------------------------------------------------------ value generators

export const METHODS = ['add', 'echo', 'len', 'slow', 'waitSignal', 'throws', 'throwsAsync', 'notifyThrows', 'callMeBack', 'makeCallback', 'fsError', 'nested.deep.add']
export const HOSTILE_PATHS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__proto__.polluted', 'constructor.prototype', 'add.constructor', 'add.__proto__', 'echo.call', 'echo.apply', 'echo.bind', 'nested.__proto__', 'nested.constructor.prototype', 'nested..deep.add', '.add', 'add.', '', '.', '#', '#0', '#1', '#4294967295', '#-1', '#1.__proto__', '#1.constructor', '#0x1', '#1e3', '# 1', 'then', 'Symbol.iterator', '__defineGetter__', '__lookupSetter__', 'nested.deep.add.length', 'add.name']
export const ODD_STRINGS = ['\uFEFFadd', 'add\uFEFF', '\uFEFF', '\ud800', '\udfff', 'a\ud800b', '\udc00\ud800', '\u0000', 'add\u0000', '\u2028\u2029', '😀'.repeat(3), '\uffff', 'ǅ', 'x'.repeat(300)]
export const LONE_SURROGATE_BYTES = [Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xed, 0xbf, 0xbf), Uint8Array.of(0xc0, 0x80), Uint8Array.of(0xff), Uint8Array.of(0xe0, 0x80), Uint8Array.of(0xef, 0xbb, 0xbf, 0x61, 0x64, 0x64), Uint8Array.of(0xf4, 0x90, 0x80, 0x80)]
export const INT64S = [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n, -(2n ** 63n), -(2n ** 53n) - 1n, 2n ** 32n, 0n, -1n]
export const ODD_IDS = [0, -1, -0.0, 0.5, NaN, Infinity, 2 ** 32, 2 ** 32 - 1, 2 ** 53, null, false, true, '', '1', [], {}, 1.5, 2n ** 64n - 1n, -(2n ** 63n), { $f32: 1 }, new Uint8Array(4), fnRef(1)]

/** A random value of any type the wire can carry, hostile ones included. */
export function anyValue(r, depth = 0) {
  const k = r.int(depth > 3 ? 14 : 20)
  switch (k) {
    case 0: return null
    case 1: return r.bool()
    case 2: return r.range(-100, 100)
    case 3: return r.pick([r.u32(), -r.u32(), r.next() * 1e6, 1e308, -0, NaN, Infinity, -Infinity, Number.MIN_VALUE])
    case 4: return r.pick(INT64S)
    case 5: return r.pick(ODD_STRINGS)
    case 6: return { $str: r.pick(LONE_SURROGATE_BYTES) }
    case 7: return r.bytes(r.int(40))
    case 8: return r.pick([fnRef(r.range(0, 5)), svcRef(r.range(0, 5)), backRef(r.range(0, 5)), fnRef(r.u32()), backRef(r.u32())])
    case 9: return extOf(67, r.pick(['12345678901234567890', '-1', '', 'abc', '1e5', '0x10', ' 1', '9'.repeat(2000), '\ud800']))
    case 10: return { $ext: r.pick([-1, 72, 71, 64, 65, 66, 67, 73, 100, 127, 0, 5, 63]), data: r.bytes(r.pick([0, 1, 2, 3, 4, 8, 12, 16, 17])) }
    case 11: return r.pick(HOSTILE_PATHS)
    case 12: return pmap(['__proto__', pmap(['polluted', 1], ['isAdmin', true])], ['constructor', pmap(['prototype', pmap(['polluted', 1])])])
    case 13: return { $f32: r.next() }
    case 14: return Array.from({ length: r.int(4) }, () => anyValue(r, depth + 1))
    case 15: return pmap(...Array.from({ length: r.int(4) }, () => [r.pick(['a', '__proto__', 'constructor', 'prototype', 1, null, [], 'toString', 'valueOf']), anyValue(r, depth + 1)]))
    case 16: return extOf(68, Array.from({ length: r.int(3) * 2 }, () => anyValue(r, depth + 1)))
    case 17: return extOf(69, Array.from({ length: r.int(4) }, () => anyValue(r, depth + 1)))
    case 18: return extOf(70, errorMap(r, depth + 1))
    default: return pmap(['valueOf', fnRef(r.range(0, 3))], ['toString', fnRef(r.range(0, 3))], ['then', fnRef(r.range(0, 3))])
  }
}

export function errorMap(r, depth) {
  const pairs = [
    ['name', r.pick(['Error', 'TypeError', 'NotFoundError', '__proto__', 'constructor', 'Object', 'Function', 'hasOwnProperty', '', 42, null, pmap()])],
    ['message', r.pick(['m', 42, null, [], pmap(['toString', fnRef(1)])])],
    ['code', r.pick(['WIRECALL_TIMEOUT', 'X', 7, null, pmap()])],
  ]
  if (r.bool()) pairs.push(['stack', r.pick(['at x', 5, [], null])])
  if (r.bool()) pairs.push(['data', depth > 4 ? null : anyValue(r, depth)])
  if (r.bool(0.3)) pairs.push(['__proto__', pmap(['polluted', 1])])
  if (r.bool(0.3)) pairs.push(['cause', depth > 4 ? 1 : extOf(70, errorMap(r, depth + 1))])
  return pmap(...pairs)
}

/** An ext value nested `depth` times through Map/Set/Error/Array. */
export function nestedExt(r, depth) {
  let v = r.pick([1, 'x', null, fnRef(1), pmap(['__proto__', 1])])
  for (let i = 0; i < depth; i++) {
    const k = r.int(4)
    if (k === 0) v = extOf(68, [r.pick(['k', '__proto__', 1]), v])
    else if (k === 1) v = extOf(69, [v])
    else if (k === 2) v = extOf(70, pmap(['name', 'Error'], ['message', 'm'], ['data', v]))
    else v = [v]
  }
  return v
}
