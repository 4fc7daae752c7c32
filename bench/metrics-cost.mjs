// What metrics cost on the hot path (issue 14: "within 5% of today's throughput with metrics on").
//
//   node bench/metrics-cost.mjs [--reps=12] [--seconds=1.5] [--inflight=256]
//
// A server process (pinned to CPU 0) serves the same service on two ports, one plain and one with
// `observer: createMetrics()`; this process (run it pinned to CPU 1: `taskset -c 1`) drives pipelined
// add(1, 2) with --inflight calls outstanding, alternating plain and metered repetitions so that the
// machine's drift hits both alike, the metered client observed by createMetrics() too. Reported per
// pair of neighbouring repetitions, then the median over pairs: calls/s on ÷ off, and CPU µs per call
// on ÷ off for the server process and for the client process. On a shared 2-core machine the
// per-pair ratio is far steadier than either side's absolute figures; quote the ratios.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connect, serve } from '@wirecall/node'
import { service, createMetrics } from '@wirecall/core'
import { numberArg } from './lib/number-arg.mjs'

const arg = numberArg

const api = service({
  add: (a, b) => a + b,
  /** This process's CPU time in µs (read between repetitions, never during one). */
  cpu: () => {
    const c = process.cpuUsage()
    return c.user + c.system
  },
})

if (process.argv.includes('--serve')) {
  const plain = await serve({ host: '127.0.0.1', port: 0, service: api })
  const metered = await serve({ host: '127.0.0.1', port: 0, service: api, observer: createMetrics() })
  process.stdout.write(`${JSON.stringify({ plain: plain.port, metered: metered.port })}\n`)
  // Ends with its parent: stdin closes.
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
} else {
  await main()
}

async function main() {
  const REPS = arg('reps', 12)
  const SECONDS = arg('seconds', 1.5)
  const INFLIGHT = arg('inflight', 256)
  const pin = process.platform === 'linux' ? ['taskset', ['-c', '0', process.execPath]] : [process.execPath, []]
  const child = spawn(pin[0], [...pin[1], fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server process did not start within 10 s')), 10_000)
    child.stdout.once('data', (line) => (clearTimeout(timer), resolve(JSON.parse(String(line)))))
    child.once('exit', (code) => reject(new Error(`the server process exited (${code})`)))
  })

  async function rep(metered) {
    const client = await connect(`ws://127.0.0.1:${metered ? ports.metered : ports.plain}`, metered ? { observer: createMetrics() } : {})
    const remote = client.remote
    for (let i = 0; i < 2000; i++) await remote.add(1, 2) // warm the connection and the JIT
    let done = 0
    let stop = false
    const serverBefore = await remote.cpu()
    const clientBefore = process.cpuUsage()
    const started = performance.now()
    await new Promise((resolve, reject) => {
      let live = 0
      const next = () => {
        done++
        live--
        if (!stop) send()
        else if (live === 0) resolve()
      }
      const send = () => {
        live++
        remote.add(1, 2).then(next, reject)
      }
      for (let i = 0; i < INFLIGHT; i++) send()
      setTimeout(() => (stop = true), SECONDS * 1000)
    })
    const ms = performance.now() - started
    const clientCpu = process.cpuUsage(clientBefore)
    const serverCpu = (await remote.cpu()) - serverBefore
    await client.close()
    return { callsPerSec: (done / ms) * 1000, serverUs: serverCpu / done, clientUs: (clientCpu.user + clientCpu.system) / done }
  }

  const off = []
  const on = []
  try {
    await rep(false)
    await rep(true)
    for (let i = 0; i < REPS; i++) {
      off.push(await rep(false))
      on.push(await rep(true))
      process.stderr.write(`rep ${i + 1}/${REPS}\n`)
    }
  } finally {
    child.stdin.end()
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  const rows = [
    ['calls/s', 'callsPerSec', 0],
    ['server CPU µs/call', 'serverUs', 2],
    ['client CPU µs/call', 'clientUs', 2],
  ]
  console.log(`metrics cost · ${new Date().toISOString().slice(0, 16)} UTC · ${REPS} pairs of ${SECONDS} s, ${INFLIGHT} calls outstanding · load ${(await import('node:os')).loadavg()[0].toFixed(1)}`)
  console.log('figure                 metrics off   metrics on   on ÷ off (median of pairs)   range of pairs')
  for (const [label, key, digits] of rows) {
    const ratios = on.map((r, i) => r[key] / off[i][key])
    console.log(
      `${label.padEnd(22)} ${median(off.map((r) => r[key])).toFixed(digits).padStart(11)}  ${median(on.map((r) => r[key])).toFixed(digits).padStart(11)}   ${median(ratios).toFixed(3).padStart(8)}x                   ${Math.min(...ratios).toFixed(2)}x-${Math.max(...ratios).toFixed(2)}x`,
    )
  }
  console.log('aim: calls/s at least 0.95x, CPU per call at most 1.05x')
}
