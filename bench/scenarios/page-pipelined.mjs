// Scenario: the pipelined loop in a browser page. One headless Chromium page holds wirecall's
// browser client and the floor's raw loop (the browser's WebSocket + @msgpack/msgpack); both keep
// --inflight add(1, 2) calls outstanding against their servers, which run in one Node process
// (page/server.mjs). Only implementations with `capabilities.page` (raw, wirecall) take part; they
// share one page, opened by the first and closed by the last, and their repetitions interleave.
import { openPageSession } from '../lib/page.mjs'

export const id = 'page-pipelined'
export const requires = ['page']
export const columns = [
  { key: 'callsPerSec', header: 'page pipe calls/s', better: 'higher', digits: 0 },
]

let session = null // Promise of the shared page session
let users = 0
let about = ''

export function legend() {
  return `page pipe: add(1,2) with --inflight calls outstanding, run in one headless Chromium page${about} (wirecall's browser client; the floor: WebSocket + @msgpack/msgpack), servers in one Node process; completed calls/s`
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
    await bounded(s.measure(ctx.implId, { warmup: 0, duration: o.warmup, inflight: o.inflight }), o.warmup * 1000 + 30_000, `${ctx.implId} page warm-up`)
    return { s, impl: ctx.implId }
  } catch (err) {
    await release()
    throw err
  }
}

export async function rep(h, ctx) {
  const o = ctx.opts
  const rewarm = Math.min(0.25, o.warmup)
  const r = await bounded(h.s.measure(h.impl, { warmup: rewarm, duration: o.duration, inflight: o.inflight }), (o.duration + rewarm) * 1000 + 30_000, `${h.impl} page run`)
  return { callsPerSec: r.opsPerSec, calls: r.ops }
}

export async function close(h) {
  try { await h.s.closeClient(h.impl) } catch {}
  await release()
}
