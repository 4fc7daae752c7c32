// Scenario: wirecall's browser client in a page. One headless Chromium page holds wirecall's
// browser client and the floor's raw loop (the browser's WebSocket + @msgpack/msgpack); their
// servers run in one Node process (page/server.mjs). Per repetition, for each implementation:
// pipelined add(1, 2) (--inflight outstanding), sequential add(1, 2), callback pushes (the server
// keeps --inflight cb(n) calls to the page outstanding), a notification push (the server publishes
// NOTIFY_COUNT tick notifications to the page's topic, with the fan-out scenario's flow control),
// a sequential 1 MiB binary echo; and once per implementation the page's heap growth over
// HEAP_CALLS pipelined calls. Only implementations with `capabilities.page` (raw, wirecall) take
// part; they share one page, opened by the first and closed by the last, and their repetitions
// interleave.
import { openPageSession } from '../lib/page.mjs'

export const id = 'page'
export const requires = ['page']
export const columns = [
  { key: 'pipeCallsPerSec', header: 'page pipe calls/s', better: 'higher', digits: 0 },
  { key: 'seqCallsPerSec', header: 'page seq calls/s', better: 'higher', digits: 0 },
  { key: 'seqP50us', header: 'page seq p50 µs', better: 'lower', digits: 0 },
  { key: 'cbPushPerSec', header: 'page cb push/s', better: 'higher', digits: 0 },
  { key: 'notifyPerSec', header: 'page notify/s', better: 'higher', digits: 0 },
  { key: 'echoPerSec', header: 'page 1MiB echo/s', better: 'higher', digits: 1 },
  { key: 'heapKb', header: 'page heap KB', better: 'lower', digits: 0 },
]

const NOTIFY_COUNT = 20_000
const HEAP_CALLS = 100_000

let session = null // Promise of the shared page session
let users = 0
let about = ''

export function legend() {
  return `page: one headless Chromium page${about} holds wirecall's browser client and the floor (WebSocket + @msgpack/msgpack), servers in one Node process. pipe: add(1,2) with --inflight outstanding, calls/s; seq: add(1,2) one at a time, calls/s and p50 (the page's clock has 100 µs steps); cb push: the server keeps --inflight calls to a page callback outstanding, calls/s; notify: ${NOTIFY_COUNT} server notifications to the page, received/s; echo: 1 MiB binary sent and returned, one at a time; heap: the page's JS heap growth (after GC) over ${HEAP_CALLS / 1000}k pipelined calls, measured once after the warm-up`
}

/** A page.evaluate that cannot hang the run: a call that never settles fails the cell instead. */
function bounded(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${Math.round(ms / 1000)} s`)), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function release() {
  if (--users > 0 || !session) return
  const s = session
  session = null
  await s.then((x) => x.close(), () => {})
}

export async function open(ctx) {
  users++
  try {
    session ??= openPageSession({ verbose: ctx.opts.verbose })
    const s = await session
    about = ` (Chromium ${s.chromium}${s.from === 'src' ? '; @wirecall/* bundled from src/' : ''})`
    await bounded(s.setup(ctx.implId), 20_000, `${ctx.implId} page setup`)
    const o = ctx.opts
    await bounded(s.measure(ctx.implId, 'pipelined', { warmup: 0, duration: o.warmup, inflight: o.inflight }), o.warmup * 1000 + 30_000, `${ctx.implId} page warm-up`)
    // Heap first, before any 1 MiB echo: buffers that a large frame grew (and later gives back)
    // must not make the growth over small calls look negative.
    const heapKb = (await bounded(s.heapAfter(ctx.implId, HEAP_CALLS), 300_000, `${ctx.implId} page heap`)) / 1024
    return { s, impl: ctx.implId, heapKb }
  } catch (err) {
    await release()
    throw err
  }
}

export async function rep(h, ctx) {
  const o = ctx.opts
  const { s, impl } = h
  const rewarm = Math.min(0.25, o.warmup)
  const limit = (o.duration + rewarm) * 1000 + 30_000
  const args = { warmup: rewarm, duration: o.duration, inflight: o.inflight }
  const pipe = await bounded(s.measure(impl, 'pipelined', args), limit, `${impl} page pipelined`)
  const seq = await bounded(s.measure(impl, 'sequential', args), limit, `${impl} page sequential`)
  const cb = await bounded(s.server('callbackPipelined', { impl, ...args }, limit), limit, `${impl} page callback push`)
  // Counted in the page, on the page's clock: from before the server starts publishing to the last one in.
  const [before, t0] = await s.tickCount(impl)
  await bounded(s.server('fanout', { impl, topic: `page-${impl}`, count: NOTIFY_COUNT }, 60_000), 61_000, `${impl} page notify push`)
  const t1 = await bounded(s.ticksReached(impl, before + NOTIFY_COUNT, 60_000), 61_000, `${impl} page notifications`)
  const notifySeconds = (t1 - t0) / 1000
  const echo = await bounded(s.measure(impl, 'echo', args), limit + 30_000, `${impl} page echo`)
  return {
    pipeCallsPerSec: pipe.opsPerSec,
    seqCallsPerSec: seq.opsPerSec,
    seqP50us: seq.p50ms * 1000,
    cbPushPerSec: cb.callsPerSec,
    notifyPerSec: NOTIFY_COUNT / notifySeconds,
    echoPerSec: echo.opsPerSec,
    heapKb: h.heapKb,
  }
}

export async function close(h) {
  try { await h.s.closeClient(h.impl) } catch {}
  await release()
}
