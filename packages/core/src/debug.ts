/**
 * Debug logging per area, switched on without code changes, with the
 * pattern syntax of the `debug` package that ws and socket.io users know:
 * `DEBUG=wirecall:*` in Node, `localStorage.debug = 'wirecall:*'` in a page
 * (the adapters read those at startup), or `enableDebug('wirecall:session')`.
 * Names are separated by commas or spaces, `*` matches anything, a leading
 * `-` excludes.
 *
 * Not the `debug` package itself: it is CommonJS and would add about 2 KB
 * min+gz to every page, for a switch that is 40 lines here. A disabled area
 * costs one property read (`log.enabled`) at each call site that checks it.
 *
 * Areas: `wirecall:session` (frames in and out, malformed frames, close),
 * `wirecall:refs` (exports, imports, releases), `wirecall:server`
 * (handshakes, refusals, connections), `wirecall:client` (connects,
 * reconnects, state), `wirecall:heartbeat` (pings, dead peers).
 */

/** A debug logger for one area: call it like `console.log`; check `enabled` before building costly messages. */
export interface DebugLog {
  (message: string, ...details: unknown[]): void
  /** Whether this area is switched on now. */
  readonly enabled: boolean
  /** The area, e.g. `"wirecall:session"`. */
  readonly area: string
}

/** Where enabled debug lines go: `console.log` unless an adapter or the user sets another sink. */
export type DebugSink = (area: string, message: string, details: readonly unknown[]) => void

/** The loggers made so far, by area; `enabled` is a plain field on each, set by `enableDebug`. */
const areas = new Map<string, DebugLog & { enabled: boolean }>()
let include: RegExp[] = []
let exclude: RegExp[] = []
let sink: DebugSink = (area, message, details) => console.log(`${area} ${message}`, ...details)

/** The debug logger of `area` (one per area, created on first use). */
export function debugLog(area: string): DebugLog {
  const known = areas.get(area)
  if (known) return known
  const log = Object.assign(
    (message: string, ...details: unknown[]) => {
      if (!log.enabled) return
      try {
        sink(area, message, details)
      } catch {
        // A failing sink must never break the code being debugged.
      }
    },
    { enabled: matches(area), area },
  )
  areas.set(area, log)
  return log
}

/**
 * Switch areas on by pattern, replacing the previous setting
 * (`'wirecall:*'`, `'wirecall:session,wirecall:refs'`, `'*,-wirecall:heartbeat'`);
 * an empty or undefined pattern switches everything off.
 */
export function enableDebug(patterns: string | undefined | null): void {
  include = []
  exclude = []
  for (const part of (patterns ?? '').split(/[\s,]+/)) {
    if (!part) continue
    if (part.startsWith('-')) exclude.push(toRegExp(part.slice(1)))
    else include.push(toRegExp(part))
  }
  for (const [name, log] of areas) log.enabled = matches(name)
}

/** Send enabled debug lines somewhere else (a file, a test's array); returns the previous sink. */
export function setDebugSink(next: DebugSink): DebugSink {
  const previous = sink
  sink = next
  return previous
}

function matches(area: string): boolean {
  return include.some((re) => re.test(area)) && !exclude.some((re) => re.test(area))
}

function toRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[|\\{}()[\]^$+?.]/g, '\\$&').replace(/\*/g, '.*')
  return new RegExp(`^${escaped}$`)
}
