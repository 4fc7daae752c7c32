#!/usr/bin/env node
// wirecall benchmark harness: `npm run bench` (or `node run.mjs --help`).
// Prints one table comparing implementations, each also as a ratio to the floor (raw ws+msgpack),
// and writes the results as JSON to bench/results/latest.json.
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import os from 'node:os'
import { FLOOR, loadImpl } from './impl/index.mjs'
import { loadScenario } from './scenarios/index.mjs'
import { parseArgs, USAGE } from './lib/args.mjs'
import { buildWirecall } from './lib/build.mjs'
import { installExitHandlers, killAllChildren, startServer, startClient, setPinning, pinStatus } from './lib/proc.mjs'
import { median } from './lib/stats.mjs'
import { renderTable, ratio } from './lib/table.mjs'
import { checkAgainst, ratiosOf, writeBaseline } from './lib/check.mjs'

const benchDir = dirname(new URL(import.meta.url).pathname)
const rootDir = resolve(benchDir, '..')
const resultsDir = join(benchDir, 'results')

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (err) {
  console.error(`${err.message}\n\n${USAGE}`)
  process.exit(2)
}
if (opts.help) {
  console.log(USAGE)
  process.exit(0)
}
if (!opts.only.includes(FLOOR)) opts.only.unshift(FLOOR) // ratios need the floor
// Read by impl/raw.mjs, here (its description) and in the forked children (they inherit the env).
if (opts.rawCork) process.env.BENCH_RAW_CORK = '1'
else delete process.env.BENCH_RAW_CORK
// Read by lib/proc.mjs when it forks the children.
if (opts.bufferutil) process.env.BENCH_BUFFERUTIL = '1'
else delete process.env.BENCH_BUFFERUTIL
installExitHandlers()
setPinning(opts.pin)
process.on('unhandledRejection', (err) => {
  console.error('unhandled rejection:', err)
  killAllChildren()
  process.exit(1)
})

const progress = (s) => process.stderr.write(`${s}\n`)
const firstLine = (s) => String(s).split('\n').find((l) => l.trim())?.trim() ?? String(s)
const started = Date.now()
const loadAtStart = os.loadavg()[0]
mkdirSync(resultsDir, { recursive: true })

// 1. Build the wirecall packages (tolerating failure).
let build = { status: 'not run', detail: '--no-build' }
if (opts.build && opts.only.includes('wirecall')) {
  const browser = opts.scenarios.includes('bundle-size') || opts.scenarios.includes('page')
  const redis = opts.scenarios.includes('cluster-fanout')
  progress(`building @wirecall/core, @wirecall/node${browser ? ', @wirecall/browser' : ''}${redis ? ', @wirecall/redis' : ''} …`)
  build = await buildWirecall({ root: rootDir, logFile: join(resultsDir, 'build.log'), browser, redis })
  progress(`build: ${build.status} (${build.detail})${build.status === 'failed' ? ' — see bench/results/build.log' : ''}`)
}

// 2. Load implementations; one that fails to import is skipped, not fatal.
const impls = []
for (const id of opts.only) {
  try {
    const mod = await loadImpl(id)
    impls.push({ id, label: mod.label ?? id, description: mod.description ?? '', capabilities: mod.capabilities ?? {}, skipped: null, results: {} })
  } catch (err) {
    impls.push({ id, label: id, description: '', capabilities: {}, skipped: explainImportError(err), results: {} })
  }
}
for (const i of impls) if (i.skipped) progress(`${i.id}: skipped: ${i.skipped}`)

function explainImportError(err) {
  const msg = firstLine(err?.message ?? err)
  if (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') {
    const m = msg.match(/Cannot find (?:module|package) '([^']+)'/)
    if (m) {
      const what = m[1].replace(/^.*node_modules\//, '')
      return `cannot import ${what}${build.status === 'failed' ? ` (build failed: ${build.detail})` : ''}`
    }
  }
  return `import failed: ${msg}`
}

// 3. Run the scenarios. Within a scenario, repetitions are interleaved across implementations,
//    every other round in reverse order.
const scenarios = []
for (const sid of opts.scenarios) scenarios.push({ id: sid, mod: await loadScenario(sid) })
const runnable = impls.filter((i) => !i.skipped)

for (const { id: sid, mod } of scenarios) {
  const ctxFor = (impl) => ({
    implId: impl.id,
    scenarioId: sid,
    opts,
    startServer: (implId, o = {}) => startServer(implId, { ...o, verbose: opts.verbose }),
    startClient: (implId, scenarioId) => startClient(implId, scenarioId, { verbose: opts.verbose }),
  })
  const active = []
  for (const impl of runnable) {
    const res = (impl.results[sid] = { reps: [], error: null, na: false })
    if ((mod.requires ?? []).some((cap) => !impl.capabilities[cap])) { res.na = true; continue }
    progress(`[${sid}] ${impl.id}: starting`)
    try {
      active.push({ impl, res, handle: await mod.open(ctxFor(impl)) })
    } catch (err) {
      res.error = firstLine(err.message)
      progress(`[${sid}] ${impl.id}: error: ${res.error}`)
    }
  }
  // A scenario may ask for more repetitions than --reps (`minReps`), where its repetitions swing too
  // much for a median of three to settle its ratio (handshakes).
  const reps = Math.max(opts.reps, mod.minReps ?? 0)
  for (let r = 1; r <= reps; r++) {
    // Every other round runs in reverse order, so that the floor (first in the registry) is not
    // always measured first: a slow spell of the machine that starts during a round would otherwise
    // always fall on the implementations after it, never on the floor.
    for (const a of r % 2 === 1 ? active : [...active].reverse()) {
      if (a.res.error) continue
      try {
        const m = await mod.rep(a.handle, ctxFor(a.impl))
        a.res.reps.push(m)
        progress(`[${sid}] ${a.impl.id}: rep ${r}/${reps}: ${mod.columns.map((c) => `${c.key}=${fmtQuick(m[c.key])}`).join(' ')}`)
      } catch (err) {
        a.res.error = firstLine(err.message)
        progress(`[${sid}] ${a.impl.id}: error: ${a.res.error}`)
      }
    }
  }
  for (const a of active) {
    try { await mod.close(a.handle) } catch {}
  }
  for (const impl of runnable) {
    const res = impl.results[sid]
    res.median = {}
    const keys = new Set(res.reps.flatMap((m) => Object.keys(m)))
    for (const k of keys) res.median[k] = median(res.reps.map((m) => m[k]))
  }
}
killAllChildren()

function fmtQuick(v) {
  return typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2)) : String(v)
}

// 4. Table.
const columns = scenarios.flatMap((s) => s.mod.columns.map((c) => ({ ...c, scenario: s.id, id: `${s.id}.${c.key}` })))
const floor = impls.find((i) => i.id === FLOOR)
// The implementation a scenario's ratios compare to: the floor, unless the scenario says otherwise
// (`ratioTo`, e.g. cluster-fanout, where raw has no cluster and socket.io is the reference).
const baseFor = (sid) => {
  const to = scenarios.find((s) => s.id === sid)?.mod.ratioTo
  return to ? impls.find((i) => i.id === to) : floor
}
const footnotes = []
const rows = impls.map((impl) => {
  const row = { label: impl.id === FLOOR ? `${impl.label} (floor)` : impl.label, skipped: impl.skipped, cells: {} }
  if (impl.skipped) return row
  for (const c of columns) {
    const res = impl.results[c.scenario]
    const v = res?.median?.[c.key]
    if (res?.na) row.cells[c.id] = { text: 'n/a' }
    else if (typeof v === 'number') {
      const partial = res.error ? ` (${res.reps.length} reps before the error)` : ''
      if (partial && !footnotes.includes(`${impl.id} ${c.scenario}: ${res.error}`)) footnotes.push(`${impl.id} ${c.scenario}: ${res.error}`)
      row.cells[c.id] = { value: v, ratio: ratio(v, baseFor(c.scenario)?.results[c.scenario]?.median?.[c.key]) }
    } else if (res?.error) {
      const note = `${impl.id} ${c.scenario}: ${res.error}`
      if (!footnotes.includes(note)) footnotes.push(note)
      row.cells[c.id] = { text: `error [${footnotes.indexOf(note) + 1}]` }
    } else row.cells[c.id] = { text: '–' }
  }
  return row
})

const now = new Date()
const cpu = os.cpus()
const header = [
  `wirecall bench · ${now.toISOString().replace('T', ' ').slice(0, 16)} UTC · Node ${process.version} · ${os.platform()} ${os.arch()} · ${cpu.length} CPU${cpu.length === 1 ? '' : 's'} (${cpu[0]?.model?.trim() ?? '?'})`,
  `each timed value: median of ${opts.reps} rep${opts.reps === 1 ? '' : 's'} of ${opts.duration} s (after ${opts.warmup} s warm-up${opts.scenarios.includes('handshakes') ? ', handshakes at least 3 s and at least 5 reps' : ''}); server and client in separate processes on 127.0.0.1, CPU pinning: ${pinStatus}; ws's native masking add-on (bufferutil): ${opts.bufferutil ? 'on for every process (--bufferutil)' : 'off for every process'}`,
  `Nx = impl ÷ floor for that column (floor = raw ws + @msgpack/msgpack loop${opts.rawCork ? ', corked per tick' : ''}${scenarios.filter((s) => s.mod.ratioTo).map((s) => `; ${s.id}: impl ÷ ${s.mod.ratioTo}`).join('')}); ↑ higher is better, ↓ lower is better`,
  `   e.g. calls/s 0.50x = half the floor's throughput; p50 µs 2.00x = twice the floor's latency`,
]
const loadAtEnd = os.loadavg()[0]
// Our own client+server add about 1-2 to the load average while measuring; more than that means
// other work shared the CPUs and the timed columns are unreliable.
const busy = loadAtStart > cpu.length * 0.5 || loadAtEnd > cpu.length + 1
if (busy) header.push(`WARNING: machine busy (load average ${loadAtStart.toFixed(1)} at start, ${loadAtEnd.toFixed(1)} at end, ${cpu.length} CPUs): timed columns are unreliable, rerun when idle`)
const legend = scenarios.map((s) => typeof s.mod.legend === 'function' ? s.mod.legend(opts) : s.mod.legend)
const notes = impls.filter((i) => i.description).map((i) => `${i.id}: ${i.description}`)
const out = [
  ...header,
  '',
  renderTable({ columns, rows }),
  '',
  ...legend.map((l) => l.replace('--inflight', String(opts.inflight)).replace('--conns', String(opts.conns)).replace('--duration', String(opts.duration))),
  ...(footnotes.length ? ['', ...footnotes.map((f, i) => `[${i + 1}] ${f}`)] : []),
  '',
  ...notes,
  `build: ${build.status} (${build.detail}) · total ${((Date.now() - started) / 1000).toFixed(0)} s`,
]
console.log(out.join('\n'))

// 5. JSON.
const jsonPath = opts.json ? resolve(process.cwd(), opts.json) : join(resultsDir, 'latest.json')
mkdirSync(dirname(jsonPath), { recursive: true })
let benchVersion
try { benchVersion = JSON.parse(readFileSync(join(benchDir, 'package.json'), 'utf8')).version } catch {}
writeFileSync(jsonPath, JSON.stringify({
  meta: {
    date: now.toISOString(), node: process.version, platform: `${os.platform()} ${os.arch()}`,
    cpus: cpu.length, cpuModel: cpu[0]?.model?.trim(), benchVersion, build, pinning: pinStatus, loadAverage: { start: loadAtStart, end: loadAtEnd }, busy,
    options: { ...opts, json: undefined }, floor: FLOOR,
    ratio: 'impl / floor for every metric (impl / ratioTo where a scenario names one); see columns[].better for direction',
  },
  columns: columns.map(({ key, header: h, better, scenario }) => ({ scenario, key, header: h, better })),
  implementations: impls.map((i) => ({
    id: i.id, label: i.label, description: i.description, skipped: i.skipped,
    scenarios: Object.fromEntries(Object.entries(i.results).map(([sid, r]) => [sid, {
      median: r.median, ratioTo: scenarios.find((s) => s.id === sid)?.mod.ratioTo ?? FLOOR,
      ratio: Object.fromEntries(Object.entries(r.median ?? {}).map(([k, v]) => [k, ratio(v, baseFor(sid)?.results[sid]?.median?.[k]) ?? null])),
      reps: r.reps, error: r.error, na: r.na,
    }])),
  })),
}, null, 2) + '\n')
progress(`results written to ${jsonPath.replace(rootDir + '/', '')}`)

// 6. Baseline: --check compares this run's ratios with bench/baseline.json; --write-baseline records them.
let checkFailed = false
if (opts.check || opts.writeBaseline) {
  const baselinePath = join(benchDir, 'baseline.json')
  const current = ratiosOf(impls.filter((i) => !i.skipped && i.id !== FLOOR), columns,
    (impl, c) => impl.results[c.scenario]?.error ? undefined : ratio(impl.results[c.scenario]?.median?.[c.key], baseFor(c.scenario)?.results[c.scenario]?.median?.[c.key]))
  if (opts.check) {
    const result = checkAgainst(baselinePath, current, columns)
    console.log(['', ...result.lines].join('\n'))
    checkFailed = result.failed
  }
  if (opts.writeBaseline) {
    writeBaseline(baselinePath, current, { date: now.toISOString(), busy, loadAverage: { start: loadAtStart, end: loadAtEnd }, reps: opts.reps, duration: opts.duration })
    progress(`baseline written to ${baselinePath.replace(rootDir + '/', '')}`)
  }
}
process.exit(checkFailed ? 1 : 0)
