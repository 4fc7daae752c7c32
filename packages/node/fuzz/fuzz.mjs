#!/usr/bin/env node
/**
 * wirecall fuzz script (issue 8, "Fuzzing as a habit"). Not a timed test.
 *
 * Sends hostile frames of many kinds (see KINDS below) to a wirecall server
 * running in a child process (`test/child/server.mjs`, built packages,
 * Node's default unhandled-rejection behaviour: a stray rejection kills it),
 * then checks that a normal client still gets right answers, that
 * Object.prototype (and friends) are untouched and that memory came back.
 *
 *   npm run fuzz                                   # 1,000,000 frames, random seed
 *   node packages/node/fuzz/fuzz.mjs --seed 42     # reproducible run
 *   node packages/node/fuzz/fuzz.mjs --short       # 20,000 frames (what npm test runs)
 *   node packages/node/fuzz/fuzz.mjs --kinds ref-coercion,bomb --frames 5000
 *   node packages/node/fuzz/fuzz.mjs --kinds K --step-seed S   # replay one step exactly
 *
 * Options: --seed N, --frames N, --short, --kinds a,b, --step-seed N (one step of
 * the first kind, exactly as printed in a failure), --stop-on-failure, --json
 * (last line `FUZZ-RESULT {...}`), --quiet, --log (the server's
 * warnings to stderr; off by default because a flood of them is slow; crashes print anyway), --memory-slack-mb N (default 32).
 *
 * Everything is bounded (frames, connections, bytes per step, time per sync)
 * and talks to 127.0.0.1 only. When the child dies or stops answering, the
 * script prints the kind of frame, the step, the run seed and the step seed,
 * the child's stderr, and the command that replays that step; it then starts
 * a fresh child and goes on (unless --stop-on-failure). Exit code 1 when
 * anything was found.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import net from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { MsgpackCodec, service } from '@wirecall/core'
import { connect } from '@wirecall/node'

const here = dirname(fileURLToPath(import.meta.url))
const packagesDir = join(here, '..', '..')
const CHILD = join(here, '..', 'test', 'child', 'server.mjs')
const HOST = '127.0.0.1'

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { seed: undefined, frames: 1_000_000, short: false, kinds: undefined, stepSeed: undefined, stopOnFailure: false, json: false, quiet: false, memorySlackMb: 32, maxFailures: 20 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--seed') o.seed = Number(next()) >>> 0
    else if (a === '--frames') o.frames = Number(next())
    else if (a === '--short') o.short = true
    else if (a === '--kinds') o.kinds = next().split(',').filter(Boolean)
    else if (a === '--step-seed') o.stepSeed = Number(next()) >>> 0
    else if (a === '--stop-on-failure') o.stopOnFailure = true
    else if (a === '--json') o.json = true
    else if (a === '--quiet') o.quiet = true
    else if (a === '--log') o.log = true
    else if (a === '--memory-slack-mb') o.memorySlackMb = Number(next())
    else if (a === '--max-failures') o.maxFailures = Number(next())
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${readHeader()}\n`)
      process.exit(0)
    } else throw new Error(`unknown option ${a} (try --help)`)
  }
  if (o.short && !argv.includes('--frames')) o.frames = 20_000
  if (!Number.isFinite(o.frames) || o.frames < 1) throw new Error('--frames must be a positive number')
  if (o.seed === undefined) o.seed = (Math.random() * 2 ** 32) >>> 0
  return o
}

function readHeader() {
  return 'usage: node packages/node/fuzz/fuzz.mjs [--seed N] [--frames N] [--short] [--kinds a,b] [--step-seed N] [--stop-on-failure] [--json] [--quiet]\nkinds: ' + Object.keys(KINDS).join(', ')
}

// ------------------------------------------------------------------ PRNG

/** mulberry32: small, fast, good enough to pick frames; same seed, same frames. */
function prng(seed) {
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
function stepSeedOf(seed, i) {
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
function mp(value) {
  writer.pos = 0
  writer.write(value)
  return Buffer.from(writer.buf.subarray(0, writer.pos))
}

const u32be = (n) => Uint8Array.of((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255)
const fnRef = (id) => ({ $ext: 64, data: u32be(id) })
const svcRef = (id) => ({ $ext: 65, data: u32be(id) })
const backRef = (id) => ({ $ext: 66, data: u32be(id) })
const extOf = (type, value) => ({ $ext: type, data: mp(value) })
const pmap = (...pairs) => ({ $map: pairs })

// ------------------------------------------------------------------ value generators

const METHODS = ['add', 'echo', 'len', 'slow', 'waitSignal', 'throws', 'throwsAsync', 'notifyThrows', 'callMeBack', 'makeCallback', 'fsError', 'nested.deep.add']
const HOSTILE_PATHS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__proto__.polluted', 'constructor.prototype', 'add.constructor', 'add.__proto__', 'echo.call', 'echo.apply', 'echo.bind', 'nested.__proto__', 'nested.constructor.prototype', 'nested..deep.add', '.add', 'add.', '', '.', '#', '#0', '#1', '#4294967295', '#-1', '#1.__proto__', '#1.constructor', '#0x1', '#1e3', '# 1', 'then', 'Symbol.iterator', '__defineGetter__', '__lookupSetter__', 'nested.deep.add.length', 'add.name']
const ODD_STRINGS = ['\uFEFFadd', 'add\uFEFF', '\uFEFF', '\ud800', '\udfff', 'a\ud800b', '\udc00\ud800', '\u0000', 'add\u0000', '\u2028\u2029', '😀'.repeat(3), '\uffff', 'ǅ', 'x'.repeat(300)]
const LONE_SURROGATE_BYTES = [Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xed, 0xbf, 0xbf), Uint8Array.of(0xc0, 0x80), Uint8Array.of(0xff), Uint8Array.of(0xe0, 0x80), Uint8Array.of(0xef, 0xbb, 0xbf, 0x61, 0x64, 0x64), Uint8Array.of(0xf4, 0x90, 0x80, 0x80)]
const INT64S = [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n, -(2n ** 63n), -(2n ** 53n) - 1n, 2n ** 32n, 0n, -1n]
const ODD_IDS = [0, -1, -0.0, 0.5, NaN, Infinity, 2 ** 32, 2 ** 32 - 1, 2 ** 53, null, false, true, '', '1', [], {}, 1.5, 2n ** 64n - 1n, -(2n ** 63n), { $f32: 1 }, new Uint8Array(4), fnRef(1)]

/** A random value of any type the wire can carry, hostile ones included. */
function anyValue(r, depth = 0) {
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

function errorMap(r, depth) {
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
function nestedExt(r, depth) {
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

// ------------------------------------------------------------------ connections

const clientCodec = new MsgpackCodec()
const SYNC_BASE = 0xf0000000
let syncCounter = 0

/**
 * A raw `ws` client that keeps reading (unless paused), answers the server's
 * callback requests the way the current step asks, and can sync: send a
 * request and wait for its response, which proves every earlier frame on
 * this socket was handled.
 */
class Conn {
  constructor(ws) {
    this.ws = ws
    this.callbackMode = 'ignore'
    this.rand = prng(1)
    this.syncs = new Map()
    this.closed = false
    this.closeInfo = undefined
    this.received = 0
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary))
    ws.on('error', () => {})
    this.closedPromise = new Promise((resolve) => ws.once('close', (code, reason) => {
      this.closed = true
      this.closeInfo = { code, reason: String(reason) }
      for (const s of this.syncs.values()) s('closed')
      this.syncs.clear()
      resolve()
    }))
  }

  static open(port, options = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${HOST}:${port}/`, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024, ...options })
      const conn = new Conn(ws)
      const timer = setTimeout(() => {
        ws.terminate()
        reject(new Error('connect timeout'))
      }, 10_000)
      ws.once('open', () => {
        clearTimeout(timer)
        resolve(conn)
      })
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer)
        ws.terminate()
        reject(new Error(`refused with HTTP ${res.statusCode}`))
      })
      ws.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  get open() {
    return !this.closed && this.ws.readyState === WebSocket.OPEN
  }

  onMessage(data, isBinary) {
    this.received++
    if (!isBinary) return
    // Only responses to syncs and the server's requests matter; skip the rest cheaply.
    const b0 = data[0]
    if (b0 !== 0x94 || data.length < 2) return
    const type = data[1]
    if (type !== 0 && type !== 1) return
    let frame
    try {
      frame = clientCodec.decode(data, undefined, data.length + 16)
    } catch {
      return
    }
    if (!Array.isArray(frame)) return
    if (frame[0] === 1 && typeof frame[1] === 'number' && frame[1] >= SYNC_BASE) {
      const done = this.syncs.get(frame[1])
      if (done) {
        this.syncs.delete(frame[1])
        done(frame)
      }
    } else if (frame[0] === 0) this.answerCallback(frame[1])
  }

  /** The server called one of "our" references (a fake ext 64 we sent). */
  answerCallback(id) {
    const r = this.rand
    switch (this.callbackMode) {
      case 'ignore':
        return
      case 'answer':
        return this.send(mp([1, id, null, r.pick([1, 'one', null, [1, 2], fnRef(r.range(1, 9))])]))
      case 'garbage':
        return this.send(mp(r.pick([
          [1, id, r.pick(['plain string error', 42, [], pmap(['__proto__', pmap(['polluted', 1])]), errorMap(r, 0), extOf(70, errorMap(r, 0)), true]), null],
          [1, id, null, anyValue(r)],
          [1, id],
          [1, id, null, 1, 'extra'],
          [1, id, errorMap(r, 0), 'both set'],
        ])))
      case 'twice':
        this.send(mp([1, id, null, 1]))
        this.send(mp([1, id, null, 2]))
        return this.send(mp([1, id, errorMap(r, 0), null]))
      default:
    }
  }

  send(bytes, binary = true) {
    if (!this.open) return false
    this.ws.send(bytes, { binary })
    return true
  }

  /** Wait until the socket's own buffer is small again (bounds client memory). */
  async drain(limit = 1 << 20) {
    for (let i = 0; i < 2000 && this.open && this.ws.bufferedAmount > limit; i++) await sleep(2)
  }

  /** Resolve with the response to a fresh request, 'closed', or 'timeout'. */
  sync(timeoutMs) {
    if (!this.open) return Promise.resolve('closed')
    const id = SYNC_BASE + (syncCounter++ % 0x0fffffff)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.syncs.delete(id)
        resolve('timeout')
      }, timeoutMs)
      this.syncs.set(id, (v) => {
        clearTimeout(timer)
        resolve(v)
      })
      this.send(mp([0, id, 'add', [1, 2]]))
    })
  }

  terminate() {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate()
    return this.closedPromise
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ------------------------------------------------------------------ kinds
//
// Each kind is `async (ctx, r, budget) => framesSent`: it sends at most
// about `budget` frames (a few kinds send fewer, heavier ones) using the PRNG
// `r`, on `ctx.conn()` (a reading connection) or connections it opens itself
// through `ctx.open()` (closed at the end of the step).

function req(r, method, params) {
  return mp([0, r.range(1, 1_000_000), method, params])
}

const KINDS = {
  /** Function/service references where numbers or strings are expected: the server's proxy gets coerced (valueOf, toString, toPrimitive). */
  'ref-coercion': async (ctx, r, budget) => {
    const c = ctx.conn()
    c.callbackMode = r.pick(['ignore', 'answer', 'garbage', 'twice'])
    let n = 0
    for (; n < budget; n++) {
      const ref = r.pick([fnRef(r.range(0, 8)), svcRef(r.range(0, 8)), backRef(r.range(0, 8)), fnRef(r.u32())])
      const other = r.pick([1, 'x', ref, null, r.pick(INT64S)])
      const method = r.pick(['add', 'add', 'nested.deep.add', 'len', 'echo', 'callMeBack', 'slow', 'throws'])
      const params = r.pick([[ref, other], [other, ref], [ref], [ref, ref, ref], [[ref], ref], [pmap(['valueOf', ref], ['toString', ref])]])
      const kind = r.int(10)
      if (kind === 0) c.send(mp([2, method, params]))
      else c.send(mp([0, r.range(1, 5000), method, params]))
      if (n % 256 === 255) await c.drain()
    }
    return n
  },

  /** Huge, deep and odd JSON-RPC 2.0 batches and requests (text frames). */
  'json-rpc': async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const k = r.int(14)
      let text
      if (k === 0) {
        const size = r.pick([1, 10, 1000, 10_000, 50_000])
        const items = []
        for (let i = 0; i < size; i++) items.push(`{"jsonrpc":"2.0","method":"${r.pick(['add', 'echo', 'notifyThrows', 'nope', 'slow'])}","params":[${i},1]${r.bool(0.7) ? `,"id":${i}` : ''}}`)
        text = `[${items.join(',')}]`
      } else if (k === 1) {
        const depth = r.pick([50, 1000, 100_000])
        text = `{"jsonrpc":"2.0","method":"echo","params":[${'['.repeat(depth)}${']'.repeat(depth)}],"id":1}`
      } else if (k === 2) {
        const depth = r.pick([100, 10_000])
        text = `[${'['.repeat(depth)}${']'.repeat(depth)}]`
      } else if (k === 3) text = r.pick(['[]', '{}', 'null', '1', '"x"', '[1,2,3]', '[[]]', '[{}]', '', ' ', '\uFEFF{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}', 'true', '[null]'])
      else if (k === 4) {
        const id = r.pick(['null', '0', 'false', '""', '{}', '[]', '1e308', '-0', '1.5', '"' + 'i'.repeat(1000) + '"', 'true', '9007199254740993'])
        text = `{"jsonrpc":"2.0","method":"add","params":[1,2],"id":${id}}`
      } else if (k === 5) {
        const m = JSON.stringify(r.pick([...HOSTILE_PATHS, ...ODD_STRINGS]))
        text = `{"jsonrpc":"2.0","method":${m},"params":[1,2],"id":${r.range(1, 99)}}`
      } else if (k === 6) text = `{"jsonrpc":"2.0","method":"echo","params":[{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}],"id":2}`
      else if (k === 7) text = `{"__proto__":{"jsonrpc":"2.0","method":"add","params":[1,2]},"id":3}`
      else if (k === 8) text = `{"jsonrpc":"2.0","method":"add","params":${r.pick(['{"a":1}', '"x"', 'null', '1', 'true', '{"__proto__":[1,2]}', '{"length":2,"0":1,"1":2}'])},"id":4}`
      else if (k === 9) text = `{"jsonrpc":"2.0","method":"echo","params":["\\ud800","\\udfff\\ud800","\\ufeff"],"id":5}`
      else if (k === 10) text = `[${Array.from({ length: r.range(1, 50) }, () => `{"jsonrpc":"2.0","method":"add","params":[1,2],"id":7}`).join(',')}]`
      else if (k === 11) text = `{"jsonrpc":"2.0","result":1,"id":${r.range(1, 9)}}`
      else if (k === 12) text = `[{"jsonrpc":"2.0","method":"len","params":[${JSON.stringify('x'.repeat(r.range(0, 3000)))}],"id":1},{"jsonrpc":"1.0","method":"add"},{"method":"add","params":[1,2],"id":1},[{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}]]`
      else text = `{"jsonrpc":"2.0","method":"${r.pick(METHODS)}","params":[${Array.from({ length: r.int(4) }, () => JSON.stringify(r.pick([1, 'x', null, [], {}, -0, 1e21, 'ǅ']))).join(',')}]${r.bool() ? ',"id":1' : ''}}`
      c.send(text, false)
      if (n % 64 === 63 || text.length > 100_000) await c.drain()
    }
    return n
  },

  /** A client that never reads: its socket is paused while big replies pile up, then it goes away. */
  'no-read': async (ctx, r, budget) => {
    const c = await ctx.open()
    c.ws._socket.pause()
    const big = 'x'.repeat(r.pick([1024, 65536, 262144]))
    const count = Math.min(budget, r.range(8, 96))
    for (let i = 0; i < count; i++) {
      c.send(mp(r.bool(0.8) ? [0, i + 1, 'echo', [big]] : [2, 'echo', [big]]))
    }
    await sleep(r.range(5, 60))
    if (r.bool(0.5)) c.ws._socket.resume()
    await c.terminate()
    return count
  },

  /** Many connections at once, each sending a few frames, most dropped abruptly. */
  'many-connections': async (ctx, r, budget) => {
    const count = Math.min(r.range(10, 80), Math.max(1, budget))
    const opened = await Promise.allSettled(Array.from({ length: count }, () => ctx.open()))
    let n = 0
    for (const o of opened) {
      if (o.status !== 'fulfilled') continue
      const c = o.value
      const frames = r.range(0, 3)
      for (let i = 0; i < frames; i++, n++) c.send(mp(r.pick([[0, i, 'slow', [r.range(0, 50)]], [0, i, 'waitSignal', []], [0, i, 'add', [1, 2]], [2, 'notifyThrows', []], [0, i, 'callMeBack', [fnRef(1)]]])))
    }
    // Half-open handshakes: a TCP client that starts an upgrade and stops.
    const raws = []
    for (let i = 0; i < r.range(0, 3); i++) {
      const s = net.connect(ctx.port, HOST)
      s.on('error', () => {})
      s.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`)
      raws.push(s)
    }
    await sleep(r.range(0, 20))
    for (const o of opened) {
      if (o.status !== 'fulfilled') continue
      if (r.bool(0.7)) o.value.terminate()
      else o.value.ws.close(r.pick([1000, 1001, 4000, 3000]))
    }
    for (const s of raws) s.destroy()
    return Math.max(n, 1)
  },

  /** Floods of references: many distinct imports, many exports, releases of every shape. */
  'ref-flood': async (ctx, r, budget) => {
    const c = ctx.conn()
    c.callbackMode = r.pick(['ignore', 'answer'])
    let n = 0
    while (n < budget) {
      const k = r.int(5)
      if (k === 0) {
        const size = r.pick([100, 1000, 17_000])
        const base = r.u32() >>> 1
        c.send(mp([0, r.range(1, 9999), 'echo', [Array.from({ length: size }, (_, i) => fnRef(base + i))]]))
      } else if (k === 1) {
        const size = r.pick([10, 300])
        for (let i = 0; i < size && n < budget; i++, n++) c.send(mp([0, r.range(1, 9999), 'makeCallback', []]))
        await c.drain()
      } else if (k === 2) {
        const list = []
        for (let i = 0; i < r.range(1, 2000); i++) list.push(r.pick([r.range(0, 100), r.u32(), -1, 0.5, 'x', null, 2 ** 40, NaN, fnRef(1)]))
        c.send(mp([4, list]))
      } else if (k === 3) c.send(mp(r.pick([[4], [4, 'x'], [4, {}], [4, [1]], [4, [1, -5]], [4, [1, 1e20]], [4, [1, 1, 2]], [4, null, 1], [4, [r.range(0, 100), 2 ** 32]]])))
      else c.send(mp([2, 'echo', [Array.from({ length: r.pick([10, 500]) }, (_, i) => svcRef(i))]]))
      n++
      if (n % 64 === 0) await c.drain()
    }
    return n
  },

  /** Deeply nested Map/Set/Error extension values (each ext payload is decoded on its own). */
  'nested-ext': async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const depth = r.pick([5, 50, 99, 100, 101, 200, 1000, 3000])
      const value = r.bool(0.7) ? nestedExt(r, depth) : extOf(70, errorMap(r, 0))
      c.send(mp([r.bool(0.8) ? 0 : 2, r.range(1, 99), r.pick(['echo', 'len', 'add']), [value]].filter((_, i, a) => a[0] === 0 || i !== 1)))
      if (n % 16 === 15) await c.drain()
    }
    return n
  },

  /** Decompression-bomb-like frames: megabytes of tiny containers, lying length headers. */
  bomb: async (ctx, r, budget) => {
    const c = ctx.conn()
    const count = Math.min(budget, r.range(1, 3))
    for (let i = 0; i < count; i++) {
      const k = r.int(6)
      let bytes
      if (k === 0 || k === 1) {
        // [0, 1, "echo", [ [], [], ... ]] with 4 MiB of empty arrays (or maps).
        const items = 4 * 1024 * 1024 - 32
        const head = mp([0, 1, 'echo', { $arr: 1 }])
        bytes = Buffer.alloc(head.length + 5 + items, k === 0 ? 0x90 : 0x80)
        head.copy(bytes)
        bytes[head.length] = 0xdd
        bytes.writeUInt32BE(items, head.length + 1)
      } else if (k === 2) bytes = Buffer.concat([mp([0, 2, 'echo', { $arr: 1 }]), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])])
      else if (k === 3) bytes = Buffer.concat([mp([0, 3, 'echo', { $arr: 1 }]), Buffer.from([0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3])])
      else if (k === 4) bytes = Buffer.concat([mp([0, 4, 'echo', { $arr: 1 }]), Buffer.alloc(4 * 1024 * 1024, 0x91)])
      else {
        // Each element a string header claiming 4 GiB.
        bytes = Buffer.concat([mp([0, 5, 'echo', { $arr: 1 }]), Buffer.from([0xdd, 0, 1, 0, 0]), Buffer.alloc(65536 * 5, 0).fill(Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff]))])
      }
      c.send(bytes)
      await c.drain()
    }
    return count
  },

  /** Requests with falsy, huge, fractional and non-number ids; duplicate ids; responses nobody asked for. */
  'odd-ids': async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const k = r.int(5)
      if (k === 0) c.send(mp([0, r.pick(ODD_IDS), r.pick(['add', 'echo', 'nope', 'throws']), [1, 2]]))
      else if (k === 1) {
        // Duplicate ids among running calls, then a cancel of that id.
        const id = r.pick([0, 1, 7, 2 ** 32 - 1])
        c.send(mp([0, id, r.pick(['slow', 'waitSignal']), [r.range(1, 30)]]))
        c.send(mp([0, id, 'slow', [r.range(1, 30)]]))
        c.send(mp([0, id, 'add', [1, 2]]))
        if (r.bool()) c.send(mp([3, id]))
        n += 3
      } else if (k === 2) c.send(mp([1, r.pick(ODD_IDS.concat([r.u32(), 1, 2])), r.pick([null, 'err', errorMap(r, 0)]), anyValue(r)]))
      else if (k === 3) c.send(mp([0, r.u32(), 'add', [1, 2], r.pick([null, pmap(['traceparent', 'x']), 'meta', [], pmap(['__proto__', pmap(['polluted', 1])])])]))
      else c.send(mp([0, r.pick(ODD_IDS), 'waitSignal', []]))
      if (n % 256 === 255) await c.drain()
    }
    return n
  },

  /** Cancels and releases for unknown ids and in every wrong shape, mixed with real cancels. */
  'cancel-release': async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const k = r.int(6)
      if (k === 0) c.send(mp([3, r.pick([r.u32(), ...ODD_IDS])]))
      else if (k === 1) c.send(mp(r.pick([[3], [3, 1, 2], [3, 'x'], [3, [1]], [4, [r.u32(), r.u32()]], [4, []], [4, [r.range(0, 50), r.range(1, 3)]]])))
      else if (k === 2) {
        const id = r.range(1, 1_000_000)
        c.send(mp([0, id, 'waitSignal', []]))
        c.send(mp([3, id]))
        if (r.bool()) c.send(mp([3, id]))
        n += 2
      } else if (k === 3) {
        const id = r.range(1, 1_000_000)
        c.send(mp([0, id, 'slow', [r.range(0, 5)]]))
        c.send(mp([3, id]))
        n++
      } else if (k === 4) c.send(mp([r.pick([5, 6, 7, 127, 255, -1, 3.5]), r.range(1, 99), 'add', [1, 2]]))
      else c.send(mp([4, [r.range(0, 20), r.pick([1, 2, 1000, -1, 0])]]))
      if (n % 256 === 255) await c.drain()
    }
    return n
  },

  /** Random bytes, as binary and as text frames. */
  'random-bytes': async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const b = r.bytes(r.pick([0, 1, 2, 4, 8, 16, 64, 512]))
      if (r.bool(0.2) && b.length) b[0] = r.pick([0x94, 0x93, 0x92, 0xdc, 0xdd])
      c.send(b, r.bool(0.9))
      if (n % 256 === 255) await c.drain()
      if (!c.open) break // invalid UTF-8 in a text frame closes the socket (1007), as it should
    }
    return Math.max(n, 1)
  },

  /** Valid frames cut short at every length, or with a flipped byte. */
  truncated: async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const full = mp(r.pick([
        [0, r.u32(), 'add', [1, 2]],
        [0, r.u32(), 'echo', [anyValue(r)]],
        [2, 'notifyThrows', [anyValue(r)]],
        [1, r.u32(), null, anyValue(r)],
        [0, r.u32(), 'echo', [nestedExt(r, 5)]],
        [0, r.u32(), 'echo', ['x'.repeat(300)]],
      ]))
      let frame
      if (r.bool(0.7)) frame = full.subarray(0, r.int(full.length))
      else {
        frame = Buffer.from(full)
        for (let i = 0; i < r.range(1, 3); i++) frame[r.int(frame.length)] = r.int(256)
      }
      c.send(frame)
      if (n % 256 === 255) await c.drain()
    }
    return n
  },

  /** The right shapes with a wrong type in one (or every) position. */
  'wrong-types': async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const shapes = [[0, 1, 'add', [1, 2]], [1, 1, null, 1], [2, 'add', [1, 2]], [3, 1], [4, [1, 1]]]
      const frame = r.pick(shapes).slice()
      const all = r.bool(0.2)
      for (let i = 0; i < frame.length; i++) if (all || r.bool(1 / frame.length)) frame[i] = anyValue(r)
      if (r.bool(0.1)) frame.push(anyValue(r))
      if (r.bool(0.05)) frame.length = r.int(frame.length)
      c.send(mp(r.bool(0.03) ? pmap(['0', 0], ['1', 1], ['2', 'add'], ['3', [1, 2]]) : frame))
      if (n % 256 === 255) await c.drain()
    }
    return n
  },

  /** `__proto__`, `constructor`, `prototype` as method paths and as keys in params, maps and errors. */
  'proto-keys': async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const k = r.int(5)
      if (k === 0) c.send(mp([0, r.range(1, 99), r.pick(HOSTILE_PATHS), [1, 2]]))
      else if (k === 1) c.send(mp([2, r.pick(HOSTILE_PATHS), [pmap(['polluted', 1])]]))
      else if (k === 2) c.send(mp([0, r.range(1, 99), r.pick(['echo', 'len', 'add']), [pmap(['__proto__', pmap(['polluted', 1], ['length', 5])], ['constructor', pmap(['prototype', pmap(['polluted', 1])])], ['prototype', 1])]]))
      else if (k === 3) c.send(mp([0, r.range(1, 99), 'echo', [extOf(68, ['__proto__', pmap(['polluted', 1]), 'constructor', 1]), extOf(70, pmap(['name', '__proto__'], ['message', 'x'], ['data', pmap(['__proto__', pmap(['polluted', 1])])]))]]))
      else c.send(mp([0, r.range(1, 99), `#${r.range(0, 5)}.${r.pick(['__proto__', 'constructor', 'prototype', 'call', 'apply', 'bind', 'toString'])}`, [1]]))
      if (n % 256 === 255) await c.drain()
    }
    return n
  },

  /** BOMs, lone surrogates, invalid UTF-8 in strings, in methods and in values. */
  strings: async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const s = r.bool() ? r.pick(ODD_STRINGS) : { $str: r.pick(LONE_SURROGATE_BYTES) }
      const k = r.int(4)
      if (k === 0) c.send(mp([0, r.range(1, 99), s, [1, 2]]))
      else if (k === 1) c.send(mp([0, r.range(1, 99), r.pick(['len', 'echo']), [s]]))
      else if (k === 2) c.send(mp([0, r.range(1, 99), 'echo', [pmap([s, s])]]))
      else c.send(`{"jsonrpc":"2.0","method":"${r.pick(['len', 'echo'])}","params":[${JSON.stringify(typeof s === 'string' ? s : 'x')}],"id":1}`, false)
      if (n % 256 === 255) await c.drain()
    }
    return n
  },

  /** 64-bit integers (int64/uint64) as ids, params and counts. */
  int64: async (ctx, r, budget) => {
    const c = ctx.conn()
    let n = 0
    for (; n < budget; n++) {
      const big = r.pick(INT64S)
      const k = r.int(5)
      if (k === 0) c.send(mp([0, r.range(1, 99), 'add', [big, r.pick([1, big, 'x', 0.5])]]))
      else if (k === 1) c.send(mp([0, big, 'add', [1, 2]]))
      else if (k === 2) c.send(mp([0, r.range(1, 99), r.pick(['slow', 'len', 'echo']), [big]]))
      else if (k === 3) c.send(mp([big, 1, 'add', [1, 2]]))
      else c.send(mp([4, [big, big]]))
      if (n % 256 === 255) await c.drain()
    }
    return n
  },

  /** Notification floods to throwing, rejecting, slow and missing handlers. */
  'notify-flood': async (ctx, r, budget) => {
    const c = ctx.conn()
    c.callbackMode = r.pick(['ignore', 'garbage'])
    let n = 0
    const target = r.pick(['notifyThrows', 'throwsAsync', 'fsError', 'throws', 'nope', 'slow', 'callMeBack', 'waitSignal'])
    for (; n < budget; n++) {
      const t = r.bool(0.8) ? target : r.pick(METHODS)
      if (r.bool(0.1)) c.send(`{"jsonrpc":"2.0","method":"${t}","params":[1]}`, false)
      else c.send(mp([2, t, t === 'callMeBack' ? [fnRef(r.range(1, 99))] : t === 'slow' ? [r.range(0, 20)] : [r.int(3)]]))
      if (n % 512 === 511) await c.drain()
    }
    return n
  },

  /** Handlers that are mid-flight (callbacks, waits, failures) when their connection drops. */
  'drop-mid-call': async (ctx, r, budget) => {
    const c = await ctx.open()
    c.callbackMode = r.pick(['ignore', 'answer', 'garbage', 'twice'])
    const count = Math.min(budget, r.range(1, 40))
    for (let i = 0; i < count; i++) {
      const m = r.pick(['callMeBack', 'waitSignal', 'slow', 'throwsAsync', 'fsError', 'callMeBack'])
      const params = m === 'callMeBack' ? [r.pick([fnRef(r.range(1, 9)), svcRef(1), backRef(1), 5])] : m === 'slow' ? [r.range(0, 30)] : []
      c.send(mp(r.bool(0.8) ? [0, i + 1, m, params] : [2, m, params]))
    }
    await sleep(r.range(0, 15))
    if (r.bool(0.7)) await c.terminate()
    else {
      c.ws.close()
      await Promise.race([c.closedPromise, sleep(500)])
      await c.terminate()
    }
    return count
  },
}

/** Relative weights: cheap kinds often, heavy ones (bombs, connection churn) rarely. */
const WEIGHTS = {
  'ref-coercion': 10, 'json-rpc': 6, 'no-read': 1, 'many-connections': 1, 'ref-flood': 3, 'nested-ext': 4, bomb: 0.4,
  'odd-ids': 8, 'cancel-release': 8, 'random-bytes': 8, truncated: 8, 'wrong-types': 10, 'proto-keys': 8, strings: 8,
  int64: 6, 'notify-flood': 8, 'drop-mid-call': 2,
}
/** Frames per step: small enough that a crash is pinned to a step, big enough to go fast. */
const STEP_FRAMES = { 'json-rpc': 200, 'nested-ext': 200, 'ref-flood': 300, default: 1000 }

// ------------------------------------------------------------------ the child server

function assertDistFresh() {
  const stale = []
  for (const name of ['core', 'node']) {
    const src = join(packagesDir, name, 'src')
    for (const file of readdirSync(src).filter((f) => f.endsWith('.ts'))) {
      const built = join(packagesDir, name, 'dist', file.replace(/\.ts$/, '.js'))
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(src, file)).mtimeMs) stale.push(`packages/${name}/dist/${file.replace(/\.ts$/, '.js')}`)
    }
  }
  if (stale.length) throw new Error(`dist is missing or older than src (${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', ...' : ''}); run \`npm run build\` first (\`npm run fuzz\` does)`)
}

async function startChild(childOptions) {
  const child = spawn(process.execPath, ['--expose-gc', CHILD], {
    env: { ...process.env, WIRECALL_CHILD_OPTIONS: JSON.stringify(childOptions) },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => {
    stderr += d
    if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19))
  })
  child.stdin.on('error', () => {})
  const state = { child, exit: undefined, stderr: () => stderr }
  state.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    state.exit = { code, signal }
    setTimeout(resolve, 100, state.exit) // let stderr drain
  }))
  const waiters = []
  let buffered = ''
  let ready
  const readyP = new Promise((resolve) => (ready = resolve))
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d) => {
    buffered += d
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line.startsWith('READY ')) ready(Number(line.slice(6)))
      else if (line.startsWith('STATS ') || line.startsWith('GC ')) waiters.shift()?.(JSON.parse(line.slice(line.indexOf(' ') + 1)))
    }
  })
  state.ask = (what, timeoutMs = 15_000) => new Promise((resolve, reject) => {
    if (state.exit) return reject(new Error('child is not running'))
    const t = setTimeout(() => reject(new Error(`child did not answer ${what} within ${timeoutMs} ms`)), timeoutMs)
    waiters.push((v) => {
      clearTimeout(t)
      resolve(v)
    })
    child.stdin.write(`${what}\n`)
  })
  state.port = await Promise.race([
    readyP,
    state.exited.then((e) => {
      throw new Error(`child exited before READY (${JSON.stringify(e)}):\n${stderr}`)
    }),
    sleep(15_000).then(() => {
      throw new Error(`child not READY in 15 s:\n${stderr}`)
    }),
  ])
  state.stop = async () => {
    if (state.exit) return
    child.stdin.end()
    const killer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await state.exited
    clearTimeout(killer)
  }
  return state
}

// ------------------------------------------------------------------ the run

const PROBE_KEYS = ['polluted', 'isAdmin', 'length', '0']

function protoSnapshot() {
  return [Object.prototype, Array.prototype, Function.prototype].map((p) => Reflect.ownKeys(p).map(String).sort().join(','))
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const log = (...a) => {
    if (!opts.quiet) console.log(...a)
  }
  for (const k of opts.kinds ?? []) if (!KINDS[k]) throw new Error(`unknown kind ${k}; kinds: ${Object.keys(KINDS).join(', ')}`)
  assertDistFresh()
  const kinds = opts.kinds ?? Object.keys(KINDS)
  const childOptions = { logger: opts.log ? 'stderr' : 'silent', limits: { heartbeatIntervalMs: 600_000, deadPeerTimeoutMs: 1_200_000 } }
  const ownProto = protoSnapshot()
  console.log(`wirecall fuzz: seed ${opts.seed}, ${opts.stepSeed !== undefined ? `replaying one step (step seed ${opts.stepSeed}) of ${kinds[0]}` : `${opts.frames} frames`}, kinds ${kinds.join(',')}`)

  const failures = []
  const perKind = Object.fromEntries(kinds.map((k) => [k, 0]))
  let server = await startChild(childOptions)
  let pool = []
  const extra = new Set()
  const history = []

  const ctx = {
    get port() {
      return server.port
    },
    conn: () => pool[ctx.turn++ % pool.length],
    turn: 0,
    open: async () => {
      const c = await Conn.open(server.port)
      extra.add(c)
      void c.closedPromise.then(() => extra.delete(c))
      return c
    },
  }

  /** Every step gets fresh connections and closes them at its end, so anything that fails on close is pinned to the step. */
  async function openPool() {
    pool = []
    for (let i = 0; i < 2; i++) pool.push(await Conn.open(server.port))
  }

  async function closeAll() {
    const all = [...pool, ...extra]
    for (const c of all) c.terminate()
    await Promise.all(all.map((c) => Promise.race([c.closedPromise, sleep(2000)])))
    pool = []
    extra.clear()
  }

  async function newChild(reason) {
    await closeAll()
    await server.stop()
    log(`  (starting a fresh child: ${reason})`)
    server = await startChild(childOptions)
  }

  let base = await warmUpAndMeasure(server)

  const rand = prng(opts.seed)
  const totalWeight = kinds.reduce((s, k) => s + (WEIGHTS[k] ?? 1), 0)
  const pickKind = () => {
    let x = rand.next() * totalWeight
    for (const k of kinds) {
      x -= WEIGHTS[k] ?? 1
      if (x < 0) return k
    }
    return kinds[kinds.length - 1]
  }

  const started = Date.now()
  let sent = 0
  let step = 0
  let lastReport = started
  const targetFrames = opts.stepSeed !== undefined ? 1 : opts.frames
  while (sent < targetFrames) {
    const kind = opts.stepSeed !== undefined ? kinds[0] : pickKind()
    const stepSeed = opts.stepSeed ?? stepSeedOf(opts.seed, step)
    const budget = opts.stepSeed !== undefined ? STEP_FRAMES[kind] ?? STEP_FRAMES.default : Math.min(STEP_FRAMES[kind] ?? STEP_FRAMES.default, targetFrames - sent)
    const r = prng(stepSeed)
    history.push({ kind, step, stepSeed })
    if (history.length > 5) history.shift()
    let n = 0
    let error
    let problem
    const opened = await openPool().then(() => undefined, (err) => err)
    let blame = { kind, step, stepSeed }
    if (opened) {
      // The child was dying from the previous step (its connections had just closed).
      const exit = await Promise.race([server.exited, sleep(1000).then(() => undefined)])
      problem = exit ? 'child died (just after the step\'s connections closed)' : `cannot connect: ${opened.message}`
      blame = history.length > 1 ? history[history.length - 2] : blame
    } else {
      for (const c of pool) c.rand = prng(stepSeed ^ 0x5bd1e995)
      try {
        n = await KINDS[kind](ctx, r, budget)
      } catch (err) {
        error = err
      }
      sent += Math.max(1, n)
      perKind[kind] += Math.max(1, n)
      // Did that step kill the server or jam it? A sync on each pooled connection
      // proves the server handled every frame sent on it.
      const results = await Promise.all(pool.map((c) => c.sync(kind === 'bomb' || kind === 'json-rpc' || kind === 'nested-ext' ? 30_000 : 10_000)))
      if (server.exit || !(await aliveAfter(server, 5))) problem = 'child died (while handling the frames)'
      else if (results.includes('timeout')) problem = 'no answer within the sync timeout (the server or a connection is stuck)'
      else {
        // Dropping the connections rejects what the server still waits for (its calls to our fake references).
        await closeAll()
        if (server.exit || !(await aliveAfter(server, 40))) problem = 'child died (when the step\'s connections closed)'
      }
    }
    if (problem) {
      const exit = problem.startsWith('child died') ? await server.exited : undefined
      const f = failure(problem, { ...blame, seed: opts.seed, sent, exit, stderr: server.stderr(), history: [...history] })
      failures.push(f)
      report(f, failures, log)
      if (opts.stopOnFailure || failures.length >= opts.maxFailures) break
      await newChild(problem)
      base = await warmUpAndMeasure(server)
    } else if (error) {
      log(`  note: step ${step} (${kind}) threw in the fuzzer itself: ${error.message}`)
    }
    step++
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now()
      log(`  ${sent} frames, ${step} steps, ${Math.round(sent / ((Date.now() - started) / 1000))} frames/s, ${failures.length} findings`)
    }
  }
  const elapsed = (Date.now() - started) / 1000

  // ---------------------------------------------------------------- after: answers, prototypes, memory
  const checks = []
  await closeAll()
  await sleep(200)
  if (server.exit && failures.length && failures[failures.length - 1].exit) {
    // Stopped because of a death already reported: check on a fresh child.
    server = await startChild(childOptions)
    base = await warmUpAndMeasure(server)
  } else if (server.exit) {
    // Dropping the fuzz connections (handlers mid-flight, callbacks pending) killed it.
    const last = history[history.length - 1] ?? { kind: 'none', step, stepSeed: 0 }
    const f = failure('child died when the fuzz connections were closed at the end', { ...last, seed: opts.seed, sent, exit: await server.exited, stderr: server.stderr(), history: [...history] })
    failures.push(f)
    report(f, failures, log)
    server = await startChild(childOptions)
    base = await warmUpAndMeasure(server)
  }
  try {
    const drained = await until(async () => (await server.ask('STATS')).connections === 0, 10_000)
    checks.push({ check: 'server dropped every fuzz connection', ok: drained, detail: drained ? '' : JSON.stringify((await server.ask('STATS')).connectionStats.slice(0, 5)) })
    checks.push(await normalClientCheck(server.port))
    const st = await server.ask('STATS')
    checks.push({ check: 'Object/Array/Function/String.prototype untouched in the server', ok: st.prototypeChanges.length === 0, detail: st.prototypeChanges.join('; ') })
    const mine = protoSnapshot()
    checks.push({ check: 'prototypes untouched in the fuzzing client', ok: mine.every((s, i) => s === ownProto[i]) && !PROBE_KEYS.some((k) => k in {} && k !== 'length'), detail: '' })
    const end = await settleMemory(server)
    const slack = opts.memorySlackMb * 1024 * 1024
    const heapOk = end.heapUsed <= base.heapUsed + slack
    const extOk = end.external + end.arrayBuffers <= base.external + base.arrayBuffers + slack
    checks.push({
      check: `memory came back (heapUsed and external within ${opts.memorySlackMb} MiB of the start)`,
      ok: heapOk && extOk,
      detail: `heapUsed ${mb(base.heapUsed)} -> ${mb(end.heapUsed)}, external+arrayBuffers ${mb(base.external + base.arrayBuffers)} -> ${mb(end.external + end.arrayBuffers)}, rss ${mb(base.rss)} -> ${mb(end.rss)}`,
    })
  } catch (err) {
    checks.push({ check: 'server alive and answering during the final checks', ok: false, detail: `${err.message}; exit ${JSON.stringify(server.exit)}; stderr: ${failure('', { history: [], stderr: server.stderr() }).signature}` })
  }
  await server.stop()

  const ok = failures.length === 0 && checks.every((c) => c.ok)
  console.log(`\nwirecall fuzz: ${sent} frames in ${elapsed.toFixed(1)} s (${Math.round(sent / elapsed)} frames/s), ${step} steps, seed ${opts.seed}`)
  log(`  frames per kind: ${Object.entries(perKind).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}${c.detail ? ` (${c.detail})` : ''}`)
  if (failures.length) {
    console.log(`  ${failures.length} finding(s):`)
    for (const f of failures) console.log(`    - ${f.what}: kind ${f.kind}, step ${f.step}, step seed ${f.stepSeed}, ${f.signature}\n      reproduce: ${f.reproduce}`)
  }
  console.log(ok ? 'FUZZ OK' : 'FUZZ FAILED')
  if (opts.json) {
    console.log(`FUZZ-RESULT ${JSON.stringify({ ok, seed: opts.seed, frames: sent, seconds: elapsed, perKind, checks, failures: failures.map(({ stderr, ...f }) => f) })}`)
  }
  return ok ? 0 : 1
}

function failure(what, info) {
  const stderrTail = (info.stderr ?? '').split('\n').filter((l) => !/^\[warn\]/.test(l)).slice(-40).join('\n')
  const lines = stderrTail.split('\n')
  const firstError = lines.find((l) => /^(Uncaught )?[A-Za-z]*(Error|Exception)\b.*:/.test(l.trim())) ?? lines.find((l) => /Error/.test(l)) ?? ''
  return {
    what,
    kind: info.kind,
    step: info.step,
    stepSeed: info.stepSeed,
    seed: info.seed,
    framesBefore: info.sent,
    exit: info.exit,
    signature: firstError.trim().slice(0, 200),
    stderr: stderrTail,
    recentSteps: info.history.map((h) => `${h.kind}#${h.step}(${h.stepSeed})`),
    reproduce: `node packages/node/fuzz/fuzz.mjs --kinds ${info.kind} --step-seed ${info.stepSeed}   (or the whole run: --seed ${info.seed} --frames ${info.sent})`,
  }
}

function report(f, all, log) {
  const seen = all.slice(0, -1).some((o) => o.signature === f.signature && o.kind === f.kind)
  console.log(`\nFUZZ FAILURE: ${f.what}, after frames of kind "${f.kind}" (step ${f.step}, step seed ${f.stepSeed}, run seed ${f.seed}, ${f.framesBefore} frames sent)`)
  if (f.exit) console.log(`  exit code ${f.exit.code}, signal ${f.exit.signal}`)
  console.log(`  recent steps: ${f.recentSteps.join(' ')}`)
  console.log(`  reproduce: ${f.reproduce}`)
  if (!seen) console.log(`  child stderr (tail):\n${f.stderr.split('\n').map((l) => `    | ${l}`).join('\n')}`)
  else log('  (same signature as an earlier finding; stderr not repeated)')
}

async function aliveAfter(server, ms) {
  await sleep(ms)
  return !server.exit
}

async function until(cond, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return true
    await sleep(50)
  }
  return false
}

const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`

async function warmUpAndMeasure(server) {
  const check = await normalClientCheck(server.port)
  if (!check.ok) throw new Error(`the fresh child does not answer correctly before any fuzzing: ${check.detail}`)
  return settleMemory(server)
}

/** GC until heapUsed stops falling (bounded), then return memoryUsage. */
async function settleMemory(server) {
  let last = (await server.ask('GC')).memory
  for (let i = 0; i < 6; i++) {
    await sleep(100)
    const now = (await server.ask('GC')).memory
    if (now.heapUsed >= last.heapUsed * 0.98) return now
    last = now
  }
  return last
}

/** A well-behaved wirecall client: right answers, callbacks, errors, cancellation. */
async function normalClientCheck(port) {
  const problems = []
  let client
  try {
    client = await connect(`ws://${HOST}:${port}`, { timeout: 10_000, logger: { warn() {}, error() {} } })
    const r = client.remote
    const expect = async (what, got, want) => {
      const g = JSON.stringify(await got)
      if (g !== JSON.stringify(want)) problems.push(`${what}: got ${g}, want ${JSON.stringify(want)}`)
    }
    await expect('add(3, 4)', r.add(3, 4), 7)
    await expect('nested.deep.add(1, 2)', r.nested.deep.add(1, 2), 3)
    await expect('len("abcd")', r.len('abcd'), 4)
    const value = { a: [1, 'two', null, { b: true }], s: 'ǅ\u2028😀', n: -1.5 }
    await expect('echo(object)', r.echo(value), value)
    const m = await r.echo(new Map([['k', new Set([1, 2])]]))
    if (!(m instanceof Map) || !(m.get('k') instanceof Set) || m.get('k').size !== 2) problems.push('echo(Map of Set) did not come back as a Map of a Set')
    await expect('callMeBack(x => x + 41)', r.callMeBack((x) => x + 41), 42)
    const cb = await r.makeCallback()
    await expect('the returned callback', cb(5), 5)
    cb[Symbol.dispose]?.()
    try {
      await r.throws()
      problems.push('throws() did not throw')
    } catch (e) {
      if (e?.message !== 'boom') problems.push(`throws(): message ${JSON.stringify(e?.message)}`)
    }
    try {
      await client.with({ timeout: 100 }).remote.waitSignal()
      problems.push('waitSignal() with timeout 100 ms resolved')
    } catch (e) {
      if (e?.code !== 'WIRECALL_TIMEOUT') problems.push(`waitSignal() with timeout: ${e?.code ?? e}`)
    }
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => r.add(i, i)))
    if (many.some((v, i) => v !== 2 * i)) problems.push('200 pipelined adds gave wrong answers')
    await expect('service path "nope" is not found', r.nope().then(() => 'resolved', (e) => e.code), 'WIRECALL_NOT_FOUND')
  } catch (e) {
    problems.push(`the normal client failed: ${e?.name}: ${e?.message}`)
  } finally {
    await client?.close().catch(() => {})
  }
  return { check: 'a normal client gets right answers (calls, callbacks, errors, timeouts)', ok: problems.length === 0, detail: problems.join('; ') }
}

// Wire only what the script itself needs from core; `service` import keeps the check honest that the built package loads.
void service

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`fuzz: ${err?.stack ?? err}`)
    process.exit(2)
  },
)
