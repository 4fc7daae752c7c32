// Scenario: server memory per idle connection at about 20,000 connections (the container's
// open-file limit), for the floor and wirecall. Same steps as idle-memory (see there), at a count
// where the fixed steps of V8's heap are spread thin: at 1,000 connections the young generation
// V8 enlarges while they open (8 MiB, the same for every implementation) is about 8 KiB of the
// ~12 KiB RSS per connection, and one 256 KiB page of old or code space moves the ratio by 2%;
// at 20,000 those are 0.4 KiB and 13 bytes. Peers are not measured here (n/a): opening 20,000
// connections of each would add minutes to a full run for a column no aim reads.
import { SPARE_FDS, WARM, client, measureIdleMemory, openFileLimit } from './idle-memory.mjs'

export const id = 'idle-memory-many'
export const requires = ['manyConnections']
/** The aim's count; fewer when `ulimit -n` cannot hold them (the legend states the count used). */
export const TARGET_CONNS = 20_000
export const columns = [
  { key: 'heapPerConn', header: 'mem @many heap+ext B/conn', better: 'lower', digits: 0 },
  { key: 'rssPerConn', header: 'mem @many RSS B/conn', better: 'lower', digits: 0 },
]
export { client }

/** As many connections as TARGET_CONNS, or as the open-file limit leaves room for. */
export function manyConns() {
  const limit = openFileLimit()
  return Math.min(TARGET_CONNS, Number.isFinite(limit) ? limit - WARM - SPARE_FDS : TARGET_CONNS)
}

export function legend() {
  return `mem @many: as mem, at ${manyConns().toLocaleString('en-US')} idle connections (aim ${TARGET_CONNS.toLocaleString('en-US')}, bounded by ulimit -n), floor and wirecall only`
}

export async function open() {
  return {}
}

export async function rep(_h, ctx) {
  const conns = manyConns()
  if (conns < 5_000) throw new Error(`ulimit -n leaves room for ${conns} connections; raise it (ulimit -n ${TARGET_CONNS + WARM + SPARE_FDS}) to measure many`)
  return measureIdleMemory(ctx, conns)
}

export async function close() {}
