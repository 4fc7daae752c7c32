// Scenario: browser bundle size (not timed, no processes). Each implementation may export
// `browserEntry`, the source of a tiny page that connects, makes a call and handles a server push
// with its browser client (raw: @msgpack/msgpack + the native WebSocket). It is built once with
// Vite (production, minified) in open(); every repetition reports the same numbers.
// wirecall also exports, for each feature a page turns on by passing a value (`streams`, `resume`),
// the same page with that feature on (`browserStreamsEntry`, `browserResumeEntry`) and strings found
// only in its code (`streamOnlyMarkers`, `resumeOnlyMarkers`): every size is reported, and the
// calls-only page must hold none of those strings (the scenario fails naming them), so that "a
// feature costs nothing unless a page uses it" is checked here.
import { loadImpl } from '../impl/index.mjs'
import { bundleSize, wirecallResolution } from '../lib/bundle.mjs'

export const id = 'bundle-size'
export const requires = ['browser']
export const AIM_KB_GZ = 12
export const columns = [
  { key: 'kbGz', header: 'bundle KB gz', better: 'lower', digits: 1 },
  { key: 'kbMin', header: 'bundle KB min', better: 'lower', digits: 1 },
  { key: 'kbGzStreams', header: 'with streams KB gz', better: 'lower', digits: 1 },
  { key: 'kbGzResume', header: 'with resume KB gz', better: 'lower', digits: 1 },
]

/** The opt-in features: the page that turns one on, the strings only its code holds, its result keys. */
const FEATURES = [
  { name: 'streams', entry: 'browserStreamsEntry', markers: 'streamOnlyMarkers', kbGz: 'kbGzStreams', gzBytes: 'gzBytesStreams' },
  { name: 'resume', entry: 'browserResumeEntry', markers: 'resumeOnlyMarkers', kbGz: 'kbGzResume', gzBytes: 'gzBytesResume' },
]

// Filled in by open() in this (the parent) process, so that the legend can state the wirecall result.
const built = {}

export function legend() {
  const w = built.wirecall
  const verdict = w ? `wirecall ${(w.gzBytes / 1000).toFixed(1)} KB gz: ${w.gzBytes <= AIM_KB_GZ * 1000 ? 'within' : 'OVER'} the aim` : 'wirecall not built'
  const features = (w?.features ?? []).map(({ name, gzBytes, found }) =>
    `; wirecall page with ${name} on: ${(gzBytes / 1000).toFixed(1)} KB gz (+${((gzBytes - w.gzBytes) / 1000).toFixed(1)} KB), ` +
    (found.length === 0 ? `${name} code in the calls-only page: none` : `${name} code in the calls-only page: FOUND (${found.join('; ')})`)).join('')
  const vite = Object.values(built)[0]?.vite
  return `bundle: Vite${vite ? ' ' + vite : ''} production build (minified) of a tiny page (connect, one call, one push handler) incl. the msgpack codec; KB = 1000 bytes; gz = gzip -9; aim for wirecall ≤ ${AIM_KB_GZ} KB gz (${verdict})${features}` +
    (w?.from === 'src' ? '; @wirecall/* bundled from src/ (dist/ not built)' : '')
}

export async function open(ctx) {
  const impl = await loadImpl(ctx.implId)
  if (typeof impl.browserEntry !== 'string') throw new Error(`${ctx.implId} has no browserEntry`)
  const resolution = ctx.implId === 'wirecall' ? wirecallResolution() : { from: 'npm', alias: [] }
  const r = await bundleSize(impl.browserEntry, { alias: resolution.alias })
  const features = []
  const row = {}
  for (const f of FEATURES) {
    if (typeof impl[f.entry] !== 'string') continue
    const on = await bundleSize(impl[f.entry], { alias: resolution.alias })
    const markers = impl[f.markers] ?? []
    if (markers.some((marker) => !on.code.includes(marker))) {
      throw new Error(`${ctx.implId}: a ${f.name}-only marker is missing from the page with ${f.name} on too; ${f.markers} is out of date`)
    }
    const found = markers.filter((marker) => r.code.includes(marker))
    features.push({ name: f.name, gzBytes: on.gzBytes, found })
    Object.assign(row, { [f.kbGz]: on.gzBytes / 1000, [f.gzBytes]: on.gzBytes, [`${f.name}CodeFound`]: found })
  }
  built[ctx.implId] = { ...r, from: resolution.from, features }
  const leaked = features.filter((f) => f.found.length > 0)
  if (leaked.length > 0) {
    throw new Error(`${ctx.implId}: opt-in code in the calls-only page (${(r.gzBytes / 1000).toFixed(1)} KB gz): ` +
      leaked.map((f) => `${f.name}: ${f.found.join('; ')}`).join(' / '))
  }
  return { kbGz: r.gzBytes / 1000, kbMin: r.minBytes / 1000, gzBytes: r.gzBytes, minBytes: r.minBytes, from: resolution.from, largestModules: r.largestModules, ...row }
}

export async function rep(h) {
  return h
}

export async function close() {}
