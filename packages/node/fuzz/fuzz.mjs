#!/usr/bin/env node
/**
 * wirecall fuzz script. Not a timed test.
 *
 * Sends hostile frames of many kinds (see KINDS below) to a wirecall server
 * running in a child process (`test/child/server.mjs`, built packages,
 * Node's default unhandled-rejection behaviour: a stray rejection kills it),
 * then checks that a normal client still gets right answers, that
 * Object.prototype (and friends) are untouched and that memory came back.
 *
 *   npm run fuzz                                   # 1,000,000 frames, random seed
 *   node packages/node/fuzz/fuzz.mjs --seed 42     # reproducible run
 *   node packages/node/fuzz/fuzz.mjs --short       # 20,000 frames (what npm test runs)
 *   node packages/node/fuzz/fuzz.mjs --kinds ref-coercion,bomb --frames 5000
 *   node packages/node/fuzz/fuzz.mjs --kinds K --step-seed S   # replay one step exactly
 *
 * Options: --seed N, --frames N, --short, --kinds a,b, --step-seed N (one step of
 * the first kind, exactly as printed in a failure), --stop-on-failure, --json
 * (last line `FUZZ-RESULT {...}`), --quiet, --log (the server's
 * warnings to stderr; off by default because a flood of them is slow; crashes print anyway), --memory-slack-mb N (default 32).
 *
 * Everything is bounded (frames, connections, bytes per step, time per sync)
 * and talks to 127.0.0.1 only. When the child dies or stops answering, the
 * script prints the kind of frame, the step, the run seed and the step seed,
 * the child's stderr, and the command that replays that step; it then starts
 * a fresh child and goes on (unless --stop-on-failure). Exit code 1 when
 * anything was found.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect } from '@wirecall/node'
import { Conn, HOST, sleep } from './conn.mjs'
import { KINDS, STEP_FRAMES, WEIGHTS } from './kinds.mjs'
import { prng, stepSeedOf } from './wire.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const packagesDir = join(here, '..', '..')
const CHILD = join(here, '..', 'test', 'child', 'server.mjs')

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { seed: undefined, frames: 1_000_000, short: false, kinds: undefined, stepSeed: undefined, stopOnFailure: false, json: false, quiet: false, memorySlackMb: 32, maxFailures: 20 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--seed') o.seed = Number(next()) >>> 0
    else if (a === '--frames') o.frames = Number(next())
    else if (a === '--short') o.short = true
    else if (a === '--kinds') o.kinds = next().split(',').filter(Boolean)
    else if (a === '--step-seed') o.stepSeed = Number(next()) >>> 0
    else if (a === '--stop-on-failure') o.stopOnFailure = true
    else if (a === '--json') o.json = true
    else if (a === '--quiet') o.quiet = true
    else if (a === '--log') o.log = true
    else if (a === '--memory-slack-mb') o.memorySlackMb = Number(next())
    else if (a === '--max-failures') o.maxFailures = Number(next())
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${readHeader()}\n`)
      process.exit(0)
    } else throw new Error(`unknown option ${a} (try --help)`)
  }
  if (o.short && !argv.includes('--frames')) o.frames = 20_000
  if (!Number.isFinite(o.frames) || o.frames < 1) throw new Error('--frames must be a positive number')
  if (o.seed === undefined) o.seed = (Math.random() * 2 ** 32) >>> 0
  return o
}

function readHeader() {
  return 'usage: node packages/node/fuzz/fuzz.mjs [--seed N] [--frames N] [--short] [--kinds a,b] [--step-seed N] [--stop-on-failure] [--json] [--quiet]\nkinds: ' + Object.keys(KINDS).join(', ')
}


// ------------------------------------------------------------------ the child server

function assertDistFresh() {
  const stale = []
  for (const name of ['core', 'node']) {
    const src = join(packagesDir, name, 'src')
    for (const file of readdirSync(src).filter((f) => f.endsWith('.ts'))) {
      const built = join(packagesDir, name, 'dist', file.replace(/\.ts$/, '.js'))
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(src, file)).mtimeMs) stale.push(`packages/${name}/dist/${file.replace(/\.ts$/, '.js')}`)
    }
  }
  if (stale.length) throw new Error(`dist is missing or older than src (${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', ...' : ''}); run \`npm run build\` first (\`npm run fuzz\` does)`)
}

async function startChild(childOptions) {
  const child = spawn(process.execPath, ['--expose-gc', CHILD], {
    env: { ...process.env, WIRECALL_CHILD_OPTIONS: JSON.stringify(childOptions) },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => {
    stderr += d
    if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19))
  })
  child.stdin.on('error', () => {})
  const state = { child, exit: undefined, stderr: () => stderr }
  state.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    state.exit = { code, signal }
    setTimeout(resolve, 100, state.exit) // let stderr drain
  }))
  const waiters = []
  let buffered = ''
  let ready
  const readyP = new Promise((resolve) => (ready = resolve))
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d) => {
    buffered += d
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line.startsWith('READY ')) ready(Number(line.slice(6)))
      else if (line.startsWith('STATS ') || line.startsWith('GC ')) waiters.shift()?.(JSON.parse(line.slice(line.indexOf(' ') + 1)))
    }
  })
  state.ask = (what, timeoutMs = 15_000) => new Promise((resolve, reject) => {
    if (state.exit) return reject(new Error('child is not running'))
    const t = setTimeout(() => reject(new Error(`child did not answer ${what} within ${timeoutMs} ms`)), timeoutMs)
    waiters.push((v) => {
      clearTimeout(t)
      resolve(v)
    })
    child.stdin.write(`${what}\n`)
  })
  state.port = await Promise.race([
    readyP,
    state.exited.then((e) => {
      throw new Error(`child exited before READY (${JSON.stringify(e)}):\n${stderr}`)
    }),
    sleep(15_000).then(() => {
      throw new Error(`child not READY in 15 s:\n${stderr}`)
    }),
  ])
  state.stop = async () => {
    if (state.exit) return
    child.stdin.end()
    const killer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await state.exited
    clearTimeout(killer)
  }
  return state
}

// ------------------------------------------------------------------ the run

const PROBE_KEYS = ['polluted', 'isAdmin', 'length', '0']

function protoSnapshot() {
  return [Object.prototype, Array.prototype, Function.prototype].map((p) => Reflect.ownKeys(p).map(String).sort().join(','))
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const log = (...a) => {
    if (!opts.quiet) console.log(...a)
  }
  for (const k of opts.kinds ?? []) if (!KINDS[k]) throw new Error(`unknown kind ${k}; kinds: ${Object.keys(KINDS).join(', ')}`)
  assertDistFresh()
  const kinds = opts.kinds ?? Object.keys(KINDS)
  const childOptions = { logger: opts.log ? 'stderr' : 'silent', limits: { heartbeatIntervalMs: 600_000, deadPeerTimeoutMs: 1_200_000 } }
  const ownProto = protoSnapshot()
  console.log(`wirecall fuzz: seed ${opts.seed}, ${opts.stepSeed !== undefined ? `replaying one step (step seed ${opts.stepSeed}) of ${kinds[0]}` : `${opts.frames} frames`}, kinds ${kinds.join(',')}`)

  const failures = []
  const perKind = Object.fromEntries(kinds.map((k) => [k, 0]))
  let server = await startChild(childOptions)
  let pool = []
  const extra = new Set()
  const history = []

  const ctx = {
    get port() {
      return server.port
    },
    conn: () => pool[ctx.turn++ % pool.length],
    turn: 0,
    open: async () => {
      const c = await Conn.open(server.port)
      extra.add(c)
      void c.closedPromise.then(() => extra.delete(c))
      return c
    },
  }

  /** Every step gets fresh connections and closes them at its end, so anything that fails on close is pinned to the step. */
  async function openPool() {
    pool = []
    for (let i = 0; i < 2; i++) pool.push(await Conn.open(server.port))
  }

  async function closeAll() {
    const all = [...pool, ...extra]
    for (const c of all) c.terminate()
    await Promise.all(all.map((c) => Promise.race([c.closedPromise, sleep(2000)])))
    pool = []
    extra.clear()
  }

  async function newChild(reason) {
    await closeAll()
    await server.stop()
    log(`  (starting a fresh child: ${reason})`)
    server = await startChild(childOptions)
  }

  let base = await warmUpAndMeasure(server)

  const rand = prng(opts.seed)
  const totalWeight = kinds.reduce((s, k) => s + (WEIGHTS[k] ?? 1), 0)
  const pickKind = () => {
    let x = rand.next() * totalWeight
    for (const k of kinds) {
      x -= WEIGHTS[k] ?? 1
      if (x < 0) return k
    }
    return kinds[kinds.length - 1]
  }

  const started = Date.now()
  let sent = 0
  let step = 0
  let lastReport = started
  const targetFrames = opts.stepSeed !== undefined ? 1 : opts.frames
  while (sent < targetFrames) {
    // A tour first (every kind once, so short runs cover them all), then weighted picks.
    const kind = opts.stepSeed !== undefined ? kinds[0] : step < kinds.length ? kinds[step] : pickKind()
    const stepSeed = opts.stepSeed ?? stepSeedOf(opts.seed, step)
    const budget = opts.stepSeed !== undefined ? STEP_FRAMES[kind] ?? STEP_FRAMES.default : Math.min(STEP_FRAMES[kind] ?? STEP_FRAMES.default, targetFrames - sent)
    const r = prng(stepSeed)
    history.push({ kind, step, stepSeed })
    if (history.length > 5) history.shift()
    let n = 0
    let error
    let problem
    const opened = await openPool().then(() => undefined, (err) => err)
    let blame = { kind, step, stepSeed }
    if (opened) {
      // The child was dying from the previous step (its connections had just closed).
      const exit = await Promise.race([server.exited, sleep(1000).then(() => undefined)])
      problem = exit ? 'child died (just after the step\'s connections closed)' : `cannot connect: ${opened.message}`
      blame = history.length > 1 ? history[history.length - 2] : blame
    } else {
      for (const c of pool) c.rand = prng(stepSeed ^ 0x5bd1e995)
      try {
        n = await KINDS[kind](ctx, r, budget)
      } catch (err) {
        error = err
      }
      sent += Math.max(1, n)
      perKind[kind] += Math.max(1, n)
      // Did that step kill the server or jam it? A sync on each pooled connection
      // proves the server handled every frame sent on it.
      const results = await Promise.all(pool.map((c) => c.sync(kind === 'bomb' || kind === 'json-rpc' || kind === 'nested-ext' ? 30_000 : 10_000)))
      if (server.exit || !(await aliveAfter(server, 5))) problem = 'child died (while handling the frames)'
      else if (results.includes('timeout')) problem = 'no answer within the sync timeout (the server or a connection is stuck)'
      else {
        // Dropping the connections rejects what the server still waits for (its calls to our fake references).
        await closeAll()
        if (server.exit || !(await aliveAfter(server, 40))) problem = 'child died (when the step\'s connections closed)'
      }
    }
    if (problem) {
      const exit = problem.startsWith('child died') ? await server.exited : undefined
      const f = failure(problem, { ...blame, seed: opts.seed, sent, exit, stderr: server.stderr(), history: [...history] })
      failures.push(f)
      report(f, failures, log)
      if (opts.stopOnFailure || failures.length >= opts.maxFailures) break
      await newChild(problem)
      base = await warmUpAndMeasure(server)
    } else if (error) {
      log(`  note: step ${step} (${kind}) threw in the fuzzer itself: ${error.message}`)
    }
    step++
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now()
      log(`  ${sent} frames, ${step} steps, ${Math.round(sent / ((Date.now() - started) / 1000))} frames/s, ${failures.length} findings`)
    }
  }
  const elapsed = (Date.now() - started) / 1000

  // ---------------------------------------------------------------- after: answers, prototypes, memory
  const checks = []
  await closeAll()
  await sleep(200)
  if (server.exit && failures.length && failures[failures.length - 1].exit) {
    // Stopped because of a death already reported: check on a fresh child.
    server = await startChild(childOptions)
    base = await warmUpAndMeasure(server)
  } else if (server.exit) {
    // Dropping the fuzz connections (handlers mid-flight, callbacks pending) killed it.
    const last = history[history.length - 1] ?? { kind: 'none', step, stepSeed: 0 }
    const f = failure('child died when the fuzz connections were closed at the end', { ...last, seed: opts.seed, sent, exit: await server.exited, stderr: server.stderr(), history: [...history] })
    failures.push(f)
    report(f, failures, log)
    server = await startChild(childOptions)
    base = await warmUpAndMeasure(server)
  }
  try {
    const drained = await until(async () => (await server.ask('STATS')).connections === 0, 10_000)
    checks.push({ check: 'server dropped every fuzz connection', ok: drained, detail: drained ? '' : JSON.stringify((await server.ask('STATS')).connectionStats.slice(0, 5)) })
    checks.push(await normalClientCheck(server.port))
    const st = await server.ask('STATS')
    checks.push({ check: 'Object/Array/Function/String.prototype untouched in the server', ok: st.prototypeChanges.length === 0, detail: st.prototypeChanges.join('; ') })
    const mine = protoSnapshot()
    checks.push({ check: 'prototypes untouched in the fuzzing client', ok: mine.every((s, i) => s === ownProto[i]) && !PROBE_KEYS.some((k) => k in {} && k !== 'length'), detail: '' })
    const end = await settleMemory(server)
    const slack = opts.memorySlackMb * 1024 * 1024
    const heapOk = end.heapUsed <= base.heapUsed + slack
    const extOk = end.external + end.arrayBuffers <= base.external + base.arrayBuffers + slack
    checks.push({
      check: `memory came back (heapUsed and external within ${opts.memorySlackMb} MiB of the start)`,
      ok: heapOk && extOk,
      detail: `heapUsed ${mb(base.heapUsed)} -> ${mb(end.heapUsed)}, external+arrayBuffers ${mb(base.external + base.arrayBuffers)} -> ${mb(end.external + end.arrayBuffers)}, rss ${mb(base.rss)} -> ${mb(end.rss)}`,
    })
  } catch (err) {
    checks.push({ check: 'server alive and answering during the final checks', ok: false, detail: `${err.message}; exit ${JSON.stringify(server.exit)}; stderr: ${failure('', { history: [], stderr: server.stderr() }).signature}` })
  }
  await server.stop()

  const ok = failures.length === 0 && checks.every((c) => c.ok)
  console.log(`\nwirecall fuzz: ${sent} frames in ${elapsed.toFixed(1)} s (${Math.round(sent / elapsed)} frames/s), ${step} steps, seed ${opts.seed}`)
  log(`  frames per kind: ${Object.entries(perKind).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}${c.detail ? ` (${c.detail})` : ''}`)
  if (failures.length) {
    console.log(`  ${failures.length} finding(s):`)
    for (const f of failures) console.log(`    - ${f.what}: kind ${f.kind}, step ${f.step}, step seed ${f.stepSeed}, ${f.signature}\n      reproduce: ${f.reproduce}`)
  }
  console.log(ok ? 'FUZZ OK' : 'FUZZ FAILED')
  if (opts.json) {
    console.log(`FUZZ-RESULT ${JSON.stringify({ ok, seed: opts.seed, frames: sent, seconds: elapsed, perKind, checks, failures: failures.map(({ stderr, ...f }) => f) })}`)
  }
  return ok ? 0 : 1
}

function failure(what, info) {
  const stderrTail = (info.stderr ?? '').split('\n').filter((l) => !/^\[warn\]/.test(l)).slice(-40).join('\n')
  const lines = stderrTail.split('\n')
  const firstError = lines.find((l) => /^(Uncaught )?[A-Za-z]*(Error|Exception)\b.*:/.test(l.trim())) ?? lines.find((l) => /Error/.test(l)) ?? ''
  return {
    what,
    kind: info.kind,
    step: info.step,
    stepSeed: info.stepSeed,
    seed: info.seed,
    framesBefore: info.sent,
    exit: info.exit,
    signature: firstError.trim().slice(0, 200),
    stderr: stderrTail,
    recentSteps: info.history.map((h) => `${h.kind}#${h.step}(${h.stepSeed})`),
    reproduce: `node packages/node/fuzz/fuzz.mjs --kinds ${info.kind} --step-seed ${info.stepSeed}   (or the whole run: --seed ${info.seed} --frames ${info.sent})`,
  }
}

function report(f, all, log) {
  const seen = all.slice(0, -1).some((o) => o.signature === f.signature && o.kind === f.kind)
  console.log(`\nFUZZ FAILURE: ${f.what}, after frames of kind "${f.kind}" (step ${f.step}, step seed ${f.stepSeed}, run seed ${f.seed}, ${f.framesBefore} frames sent)`)
  if (f.exit) console.log(`  exit code ${f.exit.code}, signal ${f.exit.signal}`)
  console.log(`  recent steps: ${f.recentSteps.join(' ')}`)
  console.log(`  reproduce: ${f.reproduce}`)
  if (!seen) console.log(`  child stderr (tail):\n${f.stderr.split('\n').map((l) => `    | ${l}`).join('\n')}`)
  else log('  (same signature as an earlier finding; stderr not repeated)')
}

async function aliveAfter(server, ms) {
  await sleep(ms)
  return !server.exit
}

async function until(cond, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return true
    await sleep(50)
  }
  return false
}

const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`

async function warmUpAndMeasure(server) {
  const check = await normalClientCheck(server.port)
  if (!check.ok) throw new Error(`the fresh child does not answer correctly before any fuzzing: ${check.detail}`)
  return settleMemory(server)
}

/** GC until heapUsed stops falling (bounded), then return memoryUsage. */
async function settleMemory(server) {
  let last = (await server.ask('GC')).memory
  for (let i = 0; i < 6; i++) {
    await sleep(100)
    const now = (await server.ask('GC')).memory
    if (now.heapUsed >= last.heapUsed * 0.98) return now
    last = now
  }
  return last
}

/** A well-behaved wirecall client: right answers, callbacks, errors, cancellation. */
async function normalClientCheck(port) {
  const problems = []
  let client
  try {
    client = await connect(`ws://${HOST}:${port}`, { timeout: 10_000, logger: { warn() {}, error() {} } })
    const r = client.remote
    const expect = async (what, got, want) => {
      const g = JSON.stringify(await got)
      if (g !== JSON.stringify(want)) problems.push(`${what}: got ${g}, want ${JSON.stringify(want)}`)
    }
    await expect('add(3, 4)', r.add(3, 4), 7)
    await expect('nested.deep.add(1, 2)', r.nested.deep.add(1, 2), 3)
    await expect('len("abcd")', r.len('abcd'), 4)
    const value = { a: [1, 'two', null, { b: true }], s: 'ǅ\u2028😀', n: -1.5 }
    await expect('echo(object)', r.echo(value), value)
    const m = await r.echo(new Map([['k', new Set([1, 2])]]))
    if (!(m instanceof Map) || !(m.get('k') instanceof Set) || m.get('k').size !== 2) problems.push('echo(Map of Set) did not come back as a Map of a Set')
    await expect('callMeBack(x => x + 41)', r.callMeBack((x) => x + 41), 42)
    const cb = await r.makeCallback()
    await expect('the returned callback', cb(5), 5)
    cb[Symbol.dispose]?.()
    try {
      await r.throws()
      problems.push('throws() did not throw')
    } catch (e) {
      if (e?.message !== 'boom') problems.push(`throws(): message ${JSON.stringify(e?.message)}`)
    }
    try {
      await client.with({ timeout: 100 }).remote.waitSignal()
      problems.push('waitSignal() with timeout 100 ms resolved')
    } catch (e) {
      if (e?.code !== 'WIRECALL_TIMEOUT') problems.push(`waitSignal() with timeout: ${e?.code ?? e}`)
    }
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => r.add(i, i)))
    if (many.some((v, i) => v !== 2 * i)) problems.push('200 pipelined adds gave wrong answers')
    await expect('service path "nope" is not found', r.nope().then(() => 'resolved', (e) => e.code), 'WIRECALL_NOT_FOUND')
  } catch (e) {
    problems.push(`the normal client failed: ${e?.name}: ${e?.message}`)
  } finally {
    await client?.close().catch(() => {})
  }
  return { check: 'a normal client gets right answers (calls, callbacks, errors, timeouts)', ok: problems.length === 0, detail: problems.join('; ') }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`fuzz: ${err?.stack ?? err}`)
    process.exit(2)
  },
)
