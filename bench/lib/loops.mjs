// Client-side timed loops shared by scenarios. Times are in ms from performance.now().
import { percentile, sleep } from './stats.mjs'
import { cpuMicrosOf, ownCpuMicros } from './cpu.mjs' // node:fs: Vite gives the page an empty stand-in, never called there

const now = () => performance.now()

/** Run `op` back to back: warm-up for warmup s, then measure for duration s. */
export async function sequentialLoop(op, { warmup, duration }) {
  let end = now() + warmup * 1000
  while (now() < end) await op()
  let lat = new Float64Array(1 << 16)
  let n = 0
  const t0 = now()
  end = t0 + duration * 1000
  let t = t0
  while (t < end) {
    const s = t
    await op()
    t = now()
    if (n === lat.length) { const bigger = new Float64Array(lat.length * 2); bigger.set(lat); lat = bigger }
    lat[n++] = t - s
  }
  const samples = lat.subarray(0, n)
  return {
    ops: n,
    seconds: (t - t0) / 1000,
    opsPerSec: n / ((t - t0) / 1000),
    p50ms: percentile(samples, 0.5),
    p99ms: percentile(samples, 0.99),
  }
}

/**
 * Keep `inflight` operations outstanding at all times; count completions inside the window.
 * With `serverPid`, also the CPU µs per completed operation of this process and of the server
 * over the same window (`clientCpuUs`, `serverCpuUs`).
 */
export async function pipelinedLoop(op, { warmup, duration, inflight, serverPid }) {
  let stop = false
  let counting = false
  let count = 0
  let failure = null
  const worker = async () => {
    while (!stop) {
      try {
        await op()
      } catch (err) {
        failure ??= err
        stop = true
        return
      }
      if (counting) count++
    }
  }
  const workers = Array.from({ length: inflight }, worker)
  await sleep(warmup * 1000)
  count = 0
  counting = true
  const t0 = now()
  // CPU figures only when asked (the page runs this loop too, where there is no `process`).
  const cpu0 = serverPid ? ownCpuMicros() : 0
  const server0 = serverPid ? cpuMicrosOf(serverPid) : undefined
  await sleep(duration * 1000)
  const n = count
  const t1 = now()
  const cpu1 = serverPid ? ownCpuMicros() : 0
  const server1 = serverPid ? cpuMicrosOf(serverPid) : undefined
  counting = false
  stop = true
  await Promise.all(workers) // drain: every outstanding call must still complete
  if (failure) throw failure
  const cpu = serverPid ? { clientCpuUs: (cpu1 - cpu0) / n, serverCpuUs: server0 === undefined ? undefined : (server1 - server0) / n } : {}
  return { ops: n, seconds: (t1 - t0) / 1000, opsPerSec: n / ((t1 - t0) / 1000), ...cpu }
}

/** Connect and check that add and echo really work before measuring anything. */
export async function sanityCheck(client) {
  const sum = await client.call(1, 2)
  if (sum !== 3) throw new Error(`sanity check: add(1,2) returned ${JSON.stringify(sum)}`)
  const probe = Uint8Array.from([0, 1, 2, 250, 255, 7])
  const back = await client.echo(probe)
  if (!(back instanceof Uint8Array) || back.length !== probe.length || back.some((b, i) => b !== probe[i])) {
    throw new Error(`sanity check: echo returned ${Object.prototype.toString.call(back)} of length ${back?.length}`)
  }
}
