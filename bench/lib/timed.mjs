// Parent-side scaffolding for the common scenario shape: one server process and one client
// process per (scenario, implementation), kept alive across repetitions so that repetitions of
// different implementations can be interleaved (rep 1 of every impl, then rep 2, ...), which
// spreads the machine's noise evenly. The client half does connect + sanity check + warm-up in
// `setup`, and one timed run per `measure` call.

/**
 * @param {object} o
 * @param {(opts) => object} [o.setupArgs]   extra args for client.setup (port is added)
 * @param {(opts) => object} [o.measureArgs] args for client.measure
 */
export function timedScenario({ setupArgs = () => ({}), measureArgs = () => ({}) } = {}) {
  return {
    async open(ctx) {
      const h = { server: null, client: null }
      try {
        h.server = await ctx.startServer(ctx.implId, { scenario: ctx.scenarioId })
        h.client = await ctx.startClient(ctx.implId, ctx.scenarioId)
        const setupTimeout = 30_000 + ctx.opts.warmup * 1000
        await h.client.call('setup', { port: h.server.port, warmup: ctx.opts.warmup, ...setupArgs(ctx.opts) }, setupTimeout)
        return h
      } catch (err) {
        await closeHandle(h)
        throw err
      }
    },
    async rep(h, ctx) {
      const o = ctx.opts
      const rewarm = Math.min(0.25, o.warmup)
      const timeout = (o.duration + rewarm) * 1000 + 30_000
      return h.client.call('measure', { duration: o.duration, warmup: rewarm, ...measureArgs(o) }, timeout)
    },
    close: closeHandle,
  }
}

async function closeHandle(h) {
  if (!h) return
  if (h.client && !h.client.exited) {
    try { await h.client.call('teardown', {}, 5000) } catch {}
  }
  await Promise.all([h.client?.stop(), h.server?.stop()])
}
