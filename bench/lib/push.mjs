// Server-side halves of the push scenarios (callback round trip, topic fan-out), shared by the
// implementations. Each implementation only says how to call the subscribed client callback, how
// to publish one notification to a topic, and how many bytes are queued for its slowest member;
// the loops, the checks and the flow control are the same for all of them.
import { createConnection } from 'node:net'
import { pipelinedLoop, sequentialLoop } from './loops.mjs'
import { percentile } from './stats.mjs'
import { toU8 } from './wsutil.mjs'

const immediate = () => new Promise((r) => setImmediate(r))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const now = () => performance.now()

/**
 * Methods for the server handle (callable from the parent as server.call(name, args)):
 * `callbackCheck` and `callbackRun`. `getCallback()` returns `(n) => Promise<n + 1>` calling the
 * latest subscriber's callback, or undefined before anyone subscribed.
 */
export function callbackMethods(getCallback) {
  const cb = () => {
    const f = getCallback()
    if (!f) throw new Error('no client has subscribed a callback')
    return f
  }
  return {
    /** A few calls whose results must be n + 1: proves the round trip before anything is timed. */
    async callbackCheck() {
      const f = cb()
      for (const n of [0, 1, 41, 65_535, 2 ** 31]) {
        const r = await f(n)
        if (r !== n + 1) throw new Error(`callback check: cb(${n}) returned ${JSON.stringify(r)}, expected ${n + 1}`)
      }
      return true
    },
    /** The server keeps `inflight` cb(n) calls outstanding for `duration` s (after `warmup` s); every result is checked. */
    async callbackPipelined({ warmup = 0, duration, inflight = 256 }) {
      const f = cb()
      const op = async () => {
        const n = (Math.random() * 0x3fffffff) | 0
        const r = await f(n)
        if (r !== n + 1) throw new Error(`cb(${n}) returned ${JSON.stringify(r)}, expected ${n + 1}`)
      }
      const r = await pipelinedLoop(op, { warmup, duration, inflight })
      return { callsPerSec: r.opsPerSec, calls: r.ops }
    },
    /**
     * The echo scenario, server to client: the subscribed callback is the client's echo `(x) => x`;
     * the server sends `size` bytes and awaits them back, one call after another, for `duration` s
     * (after `warmup` s). The first echo is checked byte for byte, every later one by its length
     * and three samples.
     */
    async echoRun({ size, warmup = 0, duration }) {
      const f = cb()
      const buf = echoPayload(size)
      const check = (back, full) => {
        const u8 = toU8(back)
        const ok = u8.length === size && (full
          ? u8.every((b, i) => b === buf[i])
          : u8[0] === buf[0] && u8[size >> 1] === buf[size >> 1] && u8[size - 1] === buf[size - 1])
        if (!ok) throw new Error(`server-to-client echo of ${size} bytes came back wrong (length ${u8.length})`)
      }
      check(await f(buf), true)
      const r = await sequentialLoop(async () => check(await f(buf), false), { warmup, duration })
      return { mibPerSec: (r.ops * size) / (1024 * 1024) / r.seconds, calls: r.ops }
    },
    /** The server awaits cb(n) one after another for `duration` s (after `warmup` s); every result is checked. */
    async callbackRun({ warmup = 0, duration }) {
      const f = cb()
      let n = 0
      const op = async () => {
        const expected = n + 1
        const r = await f(n)
        if (r !== expected) throw new Error(`cb(${n}) returned ${JSON.stringify(r)}, expected ${expected}`)
        n = expected & 0x3fffffff
      }
      const r = await sequentialLoop(op, { warmup, duration })
      return { callsPerSec: r.opsPerSec, p50us: r.p50ms * 1000, p99us: r.p99ms * 1000, calls: r.ops }
    },
  }
}

/**
 * Methods `topicSize` and `fanout` for the server handle.
 * - `publish(topic, i)` sends the notification tick(i) to every member of `topic`;
 * - `backlog()` is the largest number of bytes queued in user space (not yet taken by the kernel)
 *   for any one connection;
 * - `size(topic)` is the number of members the server sees.
 *
 * Flow control, identical for every implementation: publish `burst` notifications, then yield
 * with setImmediate so the sockets drain; before each burst, if the slowest member has more than
 * `maxBacklog` bytes queued, wait (yielding) instead of publishing. The backlog is thus bounded,
 * nothing is dropped, and the publisher runs as fast as the slowest receiver allows.
 */
export function fanoutMethods({ publish, backlog, size }) {
  return {
    topicSize: ({ topic }) => size(topic),
    async fanout({ topic, count = Infinity, duration = Infinity, burst = 32, maxBacklog = 64 * 1024, stallMs = 10_000 }) {
      if (!Number.isFinite(count) && !Number.isFinite(duration)) throw new Error('fanout: give a count or a duration')
      const t0 = now()
      const end = t0 + duration * 1000
      let sent = 0
      let waits = 0
      let peak = 0
      let lastProgress = t0
      let spins = 0
      while (sent < count) {
        const t = now()
        if (t >= end) break
        const b = backlog()
        if (b > peak) peak = b
        if (b > maxBacklog) {
          waits++
          if (t - lastProgress > stallMs) throw new Error(`fanout: members stopped reading (${b} bytes queued for ${stallMs} ms)`)
          // Yield to I/O; after a while of spinning, sleep 1 ms instead so an idle wait costs no CPU.
          if (++spins < 64) await immediate()
          else await sleep(1)
          continue
        }
        spins = 0
        const n = Math.min(burst, count - sent)
        for (let k = 0; k < n; k++) publish(topic, sent++)
        lastProgress = now()
        await immediate()
      }
      return { sent, seconds: (now() - t0) / 1000, waits, peakBacklog: peak, members: size(topic) }
    },
  }
}

/** Track the TCP sockets of an http.Server (for `backlog()`): a Set kept up to date. */
export function trackSockets(httpServer) {
  const sockets = new Set()
  httpServer.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  return sockets
}

/** Largest user-space write queue among the sockets, in bytes. */
export function maxWritable(sockets) {
  let max = 0
  for (const s of sockets) if (s.writableLength > max) max = s.writableLength
  return max
}

/**
 * Methods `pageIds` and `callCompare` for a cluster node's handle (cluster-fanout scenario):
 * `ids()` lists the ids of this node's connections (cluster-wide ids), `callPage(id, n)` calls the
 * page method `inc(n)` on the connection `id`, wherever in the cluster it is, and resolves with its
 * result. Every result is checked (n + 1).
 *
 * `callCompare` times three things one after another, round robin, in the same window: a call to
 * a page of another node (`remoteId`), a call to a page of this node (`localId`), and one Redis
 * `PING` round trip from this process (raw RESP on one socket with no delay, no client library:
 * the cost of the network hop itself). So the cross-node call, the local call it is compared to,
 * and the Redis round trip in the aim (cross-node p50 ≤ 2 × local p50 + PING p50) all see the
 * same load, the same client processes and the same placement.
 */
export function clusterCallMethods({ ids, callPage }) {
  return {
    pageIds: () => ids(),
    async callCompare({ remoteId, localId, redisPort, warmup = 0, warmupRounds = 0, duration }) {
      const ping = await redisPinger(redisPort)
      try {
        let n = 0
        const call = async (id) => {
          const r = await callPage(id, n)
          if (r !== n + 1) throw new Error(`inc(${n}) on ${id} returned ${JSON.stringify(r)}, expected ${n + 1}`)
          n = (n + 1) & 0x3fffffff
        }
        const ops = [() => call(remoteId), () => call(localId), ping.once]
        const samples = ops.map(() => [])
        // Warm-up: at least `warmup` s and `warmupRounds` rounds. By time alone, a loaded machine
        // leaves only a few dozen rounds, and the first repetition then times cold code paths.
        const end0 = now() + warmup * 1000
        for (let r = 0; r < warmupRounds || now() < end0; r++) for (const op of ops) await op()
        const end = now() + duration * 1000
        while (now() < end) {
          for (let k = 0; k < ops.length; k++) {
            const t = now()
            await ops[k]()
            samples[k].push(now() - t)
          }
        }
        const us = (a, p) => percentile(a, p) * 1000
        const [remote, local, redis] = samples
        return {
          rounds: remote.length,
          remoteP50us: us(remote, 0.5), remoteP99us: us(remote, 0.99),
          localP50us: us(local, 0.5), localP99us: us(local, 0.99),
          redisPingP50us: us(redis, 0.5), redisPingP99us: us(redis, 0.99),
        }
      } finally {
        ping.close()
      }
    },
  }
}

/** One TCP connection to Redis on 127.0.0.1 that times `PING` round trips (`once()` resolves on `+PONG`). */
async function redisPinger(port) {
  const socket = createConnection({ host: '127.0.0.1', port, noDelay: true })
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  let waiting = null
  let buf = ''
  socket.setEncoding('latin1')
  socket.on('error', (err) => waiting?.reject(err))
  socket.on('close', () => waiting?.reject(new Error('redis closed the PING connection')))
  socket.on('data', (d) => {
    buf += d
    if (!buf.endsWith('\r\n')) return
    const w = waiting
    waiting = null
    const line = buf
    buf = ''
    if (line === '+PONG\r\n') w?.resolve()
    else w?.reject(new Error(`redis answered PING with ${JSON.stringify(line.slice(0, 80))}`))
  })
  return {
    once: () => new Promise((resolve, reject) => {
      waiting = { resolve, reject }
      socket.write('*1\r\n$4\r\nPING\r\n')
    }),
    close: () => socket.destroy(),
  }
}

/** `size` pseudo-random bytes (xorshift, the same for every implementation and both directions of the echo). */
export function echoPayload(size) {
  const buf = new Uint8Array(size)
  let x = 0x12345678
  for (let i = 0; i < size; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; buf[i] = x & 0xff }
  return buf
}
