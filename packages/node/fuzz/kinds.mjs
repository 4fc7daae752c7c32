/**
 * The kinds of hostile frames. Each is `async (ctx, r, budget) => framesSent`:
 * it sends about `budget` frames (heavy kinds fewer) chosen with the PRNG
 * `r`, on `ctx.conn()` (a fresh reading connection of the step) or on
 * connections it opens with `ctx.open()`.
 */
import net from 'node:net'
import { HOST, sleep } from './conn.mjs'
import {
  HOSTILE_PATHS, INT64S, LONE_SURROGATE_BYTES, METHODS, ODD_IDS, ODD_STRINGS,
  anyValue, backRef, errorMap, extOf, fnRef, mp, nestedExt, pmap, svcRef,
} from './wire.mjs'

export const KINDS = {
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
export const WEIGHTS = {
  'ref-coercion': 10, 'json-rpc': 6, 'no-read': 1, 'many-connections': 1, 'ref-flood': 3, 'nested-ext': 4, bomb: 0.4,
  'odd-ids': 8, 'cancel-release': 8, 'random-bytes': 8, truncated: 8, 'wrong-types': 10, 'proto-keys': 8, strings: 8,
  int64: 6, 'notify-flood': 8, 'drop-mid-call': 2,
}
/** Frames per step: small enough that a crash is pinned to a step, big enough to go fast. */
export const STEP_FRAMES = { 'json-rpc': 200, 'nested-ext': 200, 'ref-flood': 300, default: 1000 }
