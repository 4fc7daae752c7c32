// Scenario: server memory per idle connection. Each repetition uses a fresh server process
// (started with --expose-gc) and a fresh client process:
//   1. client opens WARM connections (each makes one call) so lazy module/JIT state is paid up front;
//   2. server: forced GC, baseline memoryUsage();
//   3. client opens --conns more connections, each making one add(1,2) call, then stays idle;
//   4. server: forced GC, memoryUsage() again; growth / conns = bytes per connection.
import { execFileSync } from 'node:child_process'
import { sleep } from '../lib/stats.mjs'

export const id = 'idle-memory'
export const legend = 'mem: server growth per idle connection after forced GC, --conns connections from another process; heap+ext = heapUsed+external, RSS = resident set'
export const columns = [
  { key: 'heapPerConn', header: 'mem heap+ext B/conn', better: 'lower', digits: 0 },
  { key: 'rssPerConn', header: 'mem RSS B/conn', better: 'lower', digits: 0 },
]

export const WARM = 200
const BATCH = 25

export async function open() {
  return {}
}

/** The open-file limit the server and client processes inherit (`ulimit -n`), or Infinity when unknown. */
export function openFileLimit() {
  try {
    const out = String(execFileSync('sh', ['-c', 'ulimit -n'])).trim()
    return out === 'unlimited' ? Infinity : Number(out) || Infinity
  } catch {
    return Infinity
  }
}

/** Descriptors a bench process holds besides its connections (stdio, IPC, the listener, libuv). */
export const SPARE_FDS = 64

export async function rep(_h, ctx) {
  return measureIdleMemory(ctx, ctx.opts.conns)
}

/**
 * One repetition at `conns` connections (also used by idle-memory-many). Besides the columns, the
 * JSON has each V8 heap space's growth per connection (`spaces`): at 1,000 connections most of the
 * RSS growth is the young generation V8 enlarges while the connections open (the same 8 MiB for
 * every implementation) and whole 256 KiB pages of old and code space, which is why the
 * many-connections scenario measures again where those fixed steps are spread thin.
 */
export async function measureIdleMemory(ctx, conns) {
  // Each process holds one descriptor per connection: say so up front rather than fail with EMFILE.
  const limit = openFileLimit()
  if (conns + WARM + SPARE_FDS > limit) {
    throw new Error(`--conns=${conns} needs about ${conns + WARM + SPARE_FDS} open files per process, ulimit -n is ${limit}: raise it (ulimit -n ${conns + WARM + SPARE_FDS}) or lower --conns`)
  }
  const server = await ctx.startServer(ctx.implId, { gc: true })
  let client
  try {
    client = await ctx.startClient(ctx.implId, ctx.scenarioId)
    await client.call('setup', { port: server.port }, 30_000)
    await client.call('open', { count: WARM }, 30_000)
    await sleep(100)
    const before = await server.call('mem', {}, 30_000)
    await client.call('open', { count: conns }, 60_000 + conns * 100)
    await sleep(300)
    const after = await server.call('mem', {}, 30_000)
    const serverSees = await server.call('connections', {}, 10_000)
    if (typeof serverSees === 'number' && serverSees < WARM + conns) {
      throw new Error(`server reports ${serverSees} connections, expected ${WARM + conns}`)
    }
    return {
      heapPerConn: (after.heapUsed + after.external - before.heapUsed - before.external) / conns,
      rssPerConn: (after.rss - before.rss) / conns,
      heapUsedPerConn: (after.heapUsed - before.heapUsed) / conns,
      externalPerConn: (after.external - before.external) / conns,
      // In the JSON only: what the heap reserved (RSS follows it, not heapUsed), in all and per space.
      heapTotalPerConn: (after.heapTotal - before.heapTotal) / conns,
      spaces: Object.fromEntries(Object.keys(after.spaces).map((name) => [name, (after.spaces[name] - (before.spaces[name] ?? 0)) / conns])),
      conns,
      serverConnections: serverSees,
    }
  } finally {
    if (client && !client.exited) { try { await client.call('teardown', {}, 10_000) } catch {} }
    await Promise.all([client?.stop(), server.stop()])
  }
}

export async function close() {}

export const client = {
  async setup(impl, { port }) {
    return { impl, port, clients: [] }
  },
  async open(state, { count }) {
    for (let done = 0; done < count; done += BATCH) {
      const n = Math.min(BATCH, count - done)
      const batch = await Promise.all(Array.from({ length: n }, async () => {
        const c = await state.impl.createClient(state.port)
        state.clients.push(c)
        const r = await c.call(1, 2)
        if (r !== 3) throw new Error(`add(1,2) returned ${r}`)
        return c
      }))
      void batch
    }
    return state.clients.length
  },
  async teardown(state) {
    await Promise.allSettled(state.clients.map((c) => c.close()))
  },
}
