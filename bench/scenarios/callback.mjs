// Scenario: callback round trip. The client subscribes once, passing a callback (wirecall: a
// function by reference, `await remote.subscribe(cb)`; raw: the server calls the client's `cb`
// method; birpc: likewise; socket.io: server-side emitWithAck('cb')). Then the *server* calls it,
// awaiting each result (n + 1, checked) before the next call, for --duration s.
// The timed loop runs in the server process; the client process only answers.

export const id = 'callback'
export const requires = ['callback']
export const legend = 'cb: the server awaits the client\'s callback cb(n) → n+1 one call after another (wirecall: a function passed once to subscribe(cb), called through its proxy); calls/s and median round trip in µs'
export const columns = [
  { key: 'callsPerSec', header: 'cb calls/s', better: 'higher', digits: 0 },
  { key: 'p50us', header: 'cb p50 µs', better: 'lower', digits: 0 },
]

export async function open(ctx) {
  const h = { server: null, client: null }
  try {
    h.server = await ctx.startServer(ctx.implId)
    h.client = await ctx.startClient(ctx.implId, ctx.scenarioId)
    await h.client.call('setup', { port: h.server.port }, 30_000)
    await h.server.call('callbackCheck', {}, 10_000)
    const warmup = ctx.opts.warmup
    await h.server.call('callbackRun', { warmup, duration: 0 }, warmup * 1000 + 30_000)
    const seen = await h.client.call('count', {}, 10_000)
    if (!(seen >= 5)) throw new Error(`the client's callback ran ${seen} times, expected at least 5`)
    return h
  } catch (err) {
    await close(h)
    throw err
  }
}

export async function rep(h, ctx) {
  const o = ctx.opts
  const rewarm = Math.min(0.25, o.warmup)
  return h.server.call('callbackRun', { warmup: rewarm, duration: o.duration }, (o.duration + rewarm) * 1000 + 30_000)
}

export async function close(h) {
  if (!h) return
  if (h.client && !h.client.exited) {
    try { await h.client.call('teardown', {}, 5000) } catch {}
  }
  await Promise.all([h.client?.stop(), h.server?.stop()])
}

export const client = {
  async setup(impl, { port }) {
    const c = await impl.createClient(port)
    const state = { c, calls: 0 }
    // Sanity: the ordinary direction works too.
    const sum = await c.call(1, 2)
    if (sum !== 3) throw new Error(`sanity check: add(1,2) returned ${JSON.stringify(sum)}`)
    await c.subscribe((n) => { state.calls++; return n + 1 })
    return state
  },
  count(state) { return state.calls },
  async teardown({ c }) { await c.close() },
}
