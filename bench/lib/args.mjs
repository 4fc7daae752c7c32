import { IMPL_IDS } from '../impl/index.mjs'
import { SCENARIO_IDS } from '../scenarios/index.mjs'

export const USAGE = `usage: node run.mjs [options]      (npm run bench -- [options])
  --only=a,b          implementations (default: all): ${IMPL_IDS.join(', ')}
  --scenario=a,b      scenarios (default: all): ${SCENARIO_IDS.join(', ')}
  --duration=S        measured seconds per repetition (default 2)
  --warmup=S          warm-up seconds before the first repetition (default 0.5; handshakes: at least 3)
  --reps=N            repetitions per measurement, median reported (default 3; handshakes at least 5)
  --inflight=N        outstanding calls in the pipelined scenario (default 256)
  --conns=N           idle connections in the idle-memory scenario (default 1000; idle-memory-many
                      opens as many as ulimit -n allows, up to 20,000)
  --json=PATH         where to write results (default bench/results/latest.json)
  --pin=MODE          split (default: server on CPU 0, client on CPU 1) | same (both CPU 0) | none
  --raw-cork          the raw floor corks its sockets per tick (write coalescing, as wirecall does)
  --bufferutil        every process may load ws's native masking add-on (default: WS_NO_BUFFER_UTIL=1 for all)
  --no-build          do not build the wirecall packages (core, node; browser for bundle-size) first
  --check             compare this run's ratios with bench/baseline.json; exit 1 naming any figure >10% worse
  --write-baseline    record this run's ratios in bench/baseline.json (figures not run are kept)
  --verbose           pass child processes' output through to stderr
  --help`

export function parseArgs(argv) {
  const opts = {
    only: [...IMPL_IDS],
    scenarios: [...SCENARIO_IDS],
    duration: 2,
    warmup: 0.5,
    reps: 3,
    inflight: 256,
    conns: 1000,
    json: null,
    build: true,
    pin: 'split',
    rawCork: false,
    bufferutil: false,
    verbose: false,
    check: false,
    writeBaseline: false,
    help: false,
  }
  const list = (v, known, what) => {
    const items = v.split(',').map((s) => s.trim()).filter(Boolean)
    for (const i of items) if (!known.includes(i)) throw new Error(`unknown ${what} "${i}" (known: ${known.join(', ')})`)
    return items
  }
  const num = (k, v, min) => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < min) throw new Error(`--${k} must be a number >= ${min}`)
    return n
  }
  for (const arg of argv) {
    const m = arg.match(/^--([a-z-]+)(?:=(.*))?$/)
    if (!m) throw new Error(`unexpected argument "${arg}"`)
    const [, k, v = ''] = m
    switch (k) {
      case 'only': case 'impl': case 'impls': opts.only = list(v, IMPL_IDS, 'implementation'); break
      case 'scenario': case 'scenarios': opts.scenarios = list(v, SCENARIO_IDS, 'scenario'); break
      case 'duration': opts.duration = num(k, v, 0.05); break
      case 'warmup': opts.warmup = num(k, v, 0); break
      case 'reps': opts.reps = Math.round(num(k, v, 1)); break
      case 'inflight': opts.inflight = Math.round(num(k, v, 1)); break
      case 'conns': opts.conns = Math.round(num(k, v, 1)); break
      case 'json': opts.json = v; break
      case 'pin':
        if (!['split', 'same', 'none'].includes(v)) throw new Error('--pin must be split, same or none')
        opts.pin = v
        break
      case 'raw-cork': opts.rawCork = true; break
      case 'bufferutil': opts.bufferutil = true; break
      case 'no-build': opts.build = false; break
      case 'verbose': opts.verbose = true; break
      case 'check': opts.check = true; break
      case 'write-baseline': opts.writeBaseline = true; break
      case 'help': opts.help = true; break
      default: throw new Error(`unknown option --${k}`)
    }
  }
  // bench/baseline.json holds ratios against the default floor, every process without bufferutil:
  // a run with a corked floor or with native masking would read as regressions, or be recorded as
  // the default's figures.
  const variant = [opts.rawCork && '--raw-cork', opts.bufferutil && '--bufferutil'].filter(Boolean)
  if (variant.length > 0 && (opts.check || opts.writeBaseline)) {
    throw new Error(`${opts.check ? '--check' : '--write-baseline'} compares with the baseline of the default set-up; not with ${variant.join(' ')}`)
  }
  // Keep the requested order stable (registry order), whatever order the flags used.
  opts.only = IMPL_IDS.filter((i) => opts.only.includes(i))
  opts.scenarios = SCENARIO_IDS.filter((s) => opts.scenarios.includes(s))
  return opts
}
