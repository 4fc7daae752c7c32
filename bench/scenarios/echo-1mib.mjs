// Scenario: binary echo, one call at a time, at 1 MiB and at 64 KiB, in both directions:
// client to server (the client calls the server's echo and awaits its bytes back) and server to
// client (the server calls the client's echo callback, passed once to subscribe, and awaits its
// bytes back). The id stays `echo-1mib` so that baseline.json and earlier JSON keep their key for
// the first column.
import { sequentialLoop, sanityCheck } from '../lib/loops.mjs'
import { echoPayload } from '../lib/push.mjs'

export const id = 'echo-1mib'
export const legend = 'echo: a Uint8Array sent and echoed back, one call at a time, MiB/s of payload (each byte crosses the wire twice); c→s: the client calls the server\'s echo; s→c: the server calls the client\'s echo callback (impls with callbacks); 1 MiB and 64 KiB'
export const columns = [
  { key: 'mibPerSec', header: 'echo MiB/s', better: 'higher', digits: 1 },
  { key: 'mib64kPerSec', header: 'echo 64K MiB/s', better: 'higher', digits: 1 },
  { key: 's2cMibPerSec', header: 's→c echo MiB/s', better: 'higher', digits: 1 },
  { key: 's2c64kPerSec', header: 's→c 64K MiB/s', better: 'higher', digits: 1 },
]

const MIB = 1024 * 1024
const SIZES = [[MIB, 'mibPerSec', 's2cMibPerSec'], [64 * 1024, 'mib64kPerSec', 's2c64kPerSec']]

export async function open(ctx) {
  const h = { server: null, client: null, s2c: false }
  try {
    h.server = await ctx.startServer(ctx.implId, { scenario: ctx.scenarioId })
    h.client = await ctx.startClient(ctx.implId, ctx.scenarioId)
    const warmup = ctx.opts.warmup
    await h.client.call('setup', { port: h.server.port, warmup }, 30_000 + warmup * 2000)
    h.s2c = await h.client.call('serverToClient', {}, 10_000)
    if (h.s2c) for (const [size] of SIZES) await h.server.call('echoRun', { size, duration: warmup }, warmup * 1000 + 30_000)
    return h
  } catch (err) {
    await close(h)
    throw err
  }
}

export async function rep(h, ctx) {
  const o = ctx.opts
  const rewarm = Math.min(0.25, o.warmup)
  const timeout = (o.duration + rewarm) * 1000 + 30_000
  const out = {}
  for (const [size, c2s, s2c] of SIZES) {
    out[c2s] = (await h.client.call('measure', { size, duration: o.duration, warmup: rewarm }, timeout)).mibPerSec
    if (h.s2c) out[s2c] = (await h.server.call('echoRun', { size, duration: o.duration, warmup: rewarm }, timeout)).mibPerSec
  }
  return out
}

export async function close(h) {
  if (!h) return
  if (h.client && !h.client.exited) {
    try { await h.client.call('teardown', {}, 5000) } catch {}
  }
  await Promise.all([h.client?.stop(), h.server?.stop()])
}

export const client = {
  async setup(impl, { port, warmup }) {
    const c = await impl.createClient(port)
    await sanityCheck(c)
    const bufs = new Map()
    for (const [size] of SIZES) {
      const buf = echoPayload(size)
      const back = await c.echo(buf)
      if (back.length !== size || back.some((b, i) => b !== buf[i])) throw new Error(`echo of ${size} bytes came back wrong (length ${back.length})`)
      await sequentialLoop(() => c.echo(buf), { warmup: 0, duration: warmup })
      bufs.set(size, buf)
    }
    // Server to client: the client's echo, passed by reference (raw and the peers: the function
    // the server's `cb` requests reach).
    const s2c = impl.capabilities?.callback === true
    if (s2c) await c.subscribe((x) => x)
    return { c, bufs, s2c }
  },
  serverToClient: (state) => state.s2c,
  async measure({ c, bufs }, { size, warmup, duration }) {
    const buf = bufs.get(size)
    const r = await sequentialLoop(() => c.echo(buf), { warmup, duration })
    return { mibPerSec: (r.ops * size) / MIB / r.seconds, calls: r.ops }
  },
  async teardown({ c }) { await c.close() },
}
