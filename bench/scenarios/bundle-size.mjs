// Scenario: browser bundle size (not timed, no processes). Each implementation may export
// `browserEntry`, the source of a tiny page that connects, makes a call and handles a server push
// with its browser client (raw: @msgpack/msgpack + the native WebSocket). It is built once with
// Vite (production, minified) in open(); every repetition reports the same numbers.
// wirecall also exports `browserStreamsEntry` (the same page with streams on and one stream read):
// both sizes are reported, and the calls-only bundle is searched for strings of the stream code
// (`streamOnlyMarkers`), so that "streams cost nothing unless a page uses them" is checked here.
import { loadImpl } from '../impl/index.mjs'
import { bundleSize, wirecallResolution } from '../lib/bundle.mjs'

export const id = 'bundle-size'
export const requires = ['browser']
export const AIM_KB_GZ = 12
export const columns = [
  { key: 'kbGz', header: 'bundle KB gz', better: 'lower', digits: 1 },
  { key: 'kbMin', header: 'bundle KB min', better: 'lower', digits: 1 },
  { key: 'kbGzStreams', header: 'with streams KB gz', better: 'lower', digits: 1 },
]

// Filled in by open() in this (the parent) process, so that the legend can state the wirecall result.
const built = {}

export function legend() {
  const w = built.wirecall
  const verdict = w ? `wirecall ${(w.gzBytes / 1000).toFixed(1)} KB gz: ${w.gzBytes <= AIM_KB_GZ * 1000 ? 'within' : 'OVER'} the aim` : 'wirecall not built'
  const streams = w?.streams
    ? `; wirecall page with streams on: ${(w.streams.gzBytes / 1000).toFixed(1)} KB gz (+${((w.streams.gzBytes - w.gzBytes) / 1000).toFixed(1)} KB); ` +
      (w.streamCodeFound.length === 0 ? 'stream code in the calls-only page: none' : `stream code in the calls-only page: FOUND (${w.streamCodeFound.join('; ')})`)
    : ''
  const vite = Object.values(built)[0]?.vite
  return `bundle: Vite${vite ? ' ' + vite : ''} production build (minified) of a tiny page (connect, one call, one push handler) incl. the msgpack codec; KB = 1000 bytes; gz = gzip -9; aim for wirecall ≤ ${AIM_KB_GZ} KB gz (${verdict})${streams}` +
    (w?.from === 'src' ? '; @wirecall/* bundled from src/ (dist/ not built)' : '')
}

export async function open(ctx) {
  const impl = await loadImpl(ctx.implId)
  if (typeof impl.browserEntry !== 'string') throw new Error(`${ctx.implId} has no browserEntry`)
  const resolution = ctx.implId === 'wirecall' ? wirecallResolution() : { from: 'npm', alias: [] }
  const r = await bundleSize(impl.browserEntry, { alias: resolution.alias })
  const streams = typeof impl.browserStreamsEntry === 'string' ? await bundleSize(impl.browserStreamsEntry, { alias: resolution.alias }) : undefined
  const streamCodeFound = (impl.streamOnlyMarkers ?? []).filter((marker) => r.code.includes(marker))
  if (streams && (impl.streamOnlyMarkers ?? []).some((marker) => !streams.code.includes(marker))) {
    throw new Error(`${ctx.implId}: a stream-only marker is missing from the streams page too; streamOnlyMarkers is out of date`)
  }
  built[ctx.implId] = { ...r, from: resolution.from, streams, streamCodeFound }
  return {
    kbGz: r.gzBytes / 1000, kbMin: r.minBytes / 1000, gzBytes: r.gzBytes, minBytes: r.minBytes, from: resolution.from, largestModules: r.largestModules,
    ...(streams ? { kbGzStreams: streams.gzBytes / 1000, gzBytesStreams: streams.gzBytes, streamCodeFound } : {}),
  }
}

export async function rep(h) {
  return h
}

export async function close() {}
