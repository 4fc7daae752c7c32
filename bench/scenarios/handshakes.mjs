// Scenario: connection setup rate with authentication on. The server checks an `authorization`
// header on every handshake (wirecall: `serve({ authenticate })`; the floor: ws's `verifyClient`,
// the same check, lib/auth.mjs). The client process runs the same plain `ws` client against every
// server, so the figure is the server's: HANDSHAKE_CONCURRENCY loops that each open a WebSocket
// with the header, wait for it to be open, close it and wait for the close, over and over. Next to
// the rate, the server's CPU time per handshake (process.cpuUsage over the same window): on a
// 2-core machine the client may set the pace, and then only the CPU figure tells servers apart.
import WebSocket from 'ws'
import { timedScenario } from '../lib/timed.mjs'
import { AUTH_HEADER } from '../lib/auth.mjs'

const HANDSHAKE_CONCURRENCY = 32

/**
 * Seconds of handshakes before the first repetition, at least (`--warmup` if longer). Both servers
 * and the client take about 2 to 2.5 s of handshakes to reach their steady rate (measured in 0.5 s
 * windows, 2026-12-04: 1,300 to 1,700/s in the first second, 4,000 to 4,800/s from the third on,
 * with the server's CPU per handshake falling from about 500 to 150 µs, for the floor as for
 * wirecall). With the default 0.5 s warm-up the first repetition fell in that ramp, ran at about
 * half the rate of the others for both, and the median of three was then the lower of the other two.
 */
const HANDSHAKE_WARMUP_S = 3

/**
 * Repetitions at least (`--reps` if more). The rate swings more from one repetition to the next than
 * any other figure: in the full runs of 2026-12-05 the floor read 2,681, 3,838 and 4,261/s in one run
 * and wirecall 2,754, 2,271 and 4,241/s beside it, so a median of three could land anywhere from
 * 0.72x to 1.03x, while runs of this scenario alone (five repetitions) read 0.95x to 0.97x. Only the
 * implementations with `auth` take part (the floor and wirecall): two more repetitions cost about 9 s.
 */
export const minReps = 5

export const id = 'handshakes'
export const requires = ['auth']
export const legend = `setup: WebSocket handshakes/s with an authorization header checked by the server (wirecall: serve({ authenticate }); floor: ws verifyClient), a plain ws client opening and closing connections, ${HANDSHAKE_CONCURRENCY} at a time`
export const columns = [
  { key: 'perSec', header: 'handshakes/s', better: 'higher', digits: 0 },
  { key: 'serverCpuUs', header: 'srv CPU µs/handshake', better: 'lower', digits: 0 },
]

const timed = timedScenario()
export const { open, close } = timed

/**
 * The rate, and the server's CPU time (user + system) per handshake over the same window: the
 * figure that says what the server pays even when the client or the wire sets the pace.
 */
export async function rep(h, ctx) {
  const o = ctx.opts
  const rewarm = Math.min(0.25, o.warmup)
  await h.client.call('warm', { seconds: rewarm }, rewarm * 1000 + 30_000)
  const before = await h.server.call('cpu', {}, 10_000)
  const r = await h.client.call('measure', { duration: o.duration }, o.duration * 1000 + 30_000)
  const after = await h.server.call('cpu', {}, 10_000)
  const cpuUs = after.user - before.user + after.system - before.system
  return { ...r, serverCpuUs: cpuUs / r.handshakes }
}

/** Open one authenticated connection (or one without the header) and resolve with how it went. */
function cycle(url, headers) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false })
    let status
    ws.once('unexpected-response', (_req, res) => {
      status = res.statusCode
      res.resume()
      ws.terminate()
      resolve(status)
    })
    ws.once('open', () => {
      ws.close()
      ws.once('close', () => resolve(101))
    })
    ws.once('error', (err) => { if (status === undefined) reject(err) })
  })
}

async function loop(url, seconds) {
  const end = performance.now() + seconds * 1000
  let n = 0
  const worker = async () => {
    while (performance.now() < end) {
      const status = await cycle(url, { authorization: AUTH_HEADER })
      if (status !== 101) throw new Error(`an authorized handshake got HTTP ${status}`)
      n++
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: HANDSHAKE_CONCURRENCY }, worker))
  return { perSec: n / ((performance.now() - t0) / 1000), handshakes: n }
}

export const client = {
  async setup(_impl, { port, warmup }) {
    const url = `ws://127.0.0.1:${port}/`
    // The check is really on: without the header the server refuses with 401.
    const refused = await cycle(url, {})
    if (refused !== 401) throw new Error(`a handshake without the header got ${refused}, expected HTTP 401`)
    await loop(url, Math.max(warmup, HANDSHAKE_WARMUP_S))
    return { url }
  },
  async warm({ url }, { seconds }) {
    await loop(url, seconds)
  },
  measure: ({ url }, { duration }) => loop(url, duration),
  async teardown() {},
}
