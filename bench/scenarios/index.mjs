// Registry of scenarios, in table order. A scenario is a module exporting:
//   id, legend (one line for the table footer), columns: [{ key, header, better: 'higher'|'lower', digits }]
//   parent side (run.mjs):  open(ctx) -> handle;  rep(handle, ctx) -> { [column key]: number, ...extra };  close(handle)
//     ctx = { implId, scenarioId, opts, startServer(implId, { gc }), startClient(implId, scenarioId) }
//   client side (client.mjs, optional): client = { setup(impl, args) -> state, <fn>(state, args), teardown(state) }
// lib/timed.mjs builds open/rep/close for the usual "one server + one client, timed loop" shape.
// Scenarios may require implementation capabilities: export `requires = ['name']`; an impl lacking
// `capabilities.name` gets "n/a" in that column: `callback` (server calls a client callback),
// `topics` (server-side groups for fan-out), `browser` (exports `browserEntry` for bundle-size),
// `page` (has a client in page/entry.js and a server in page/server.mjs, for the page scenario),
// `cluster` (exports startClusterServer and clusterSubscribed, for cluster-fanout),
// `validated` (the client has callValidated(kind, a, b) for kind plain | zod | valibot, for validated),
// `streams` (the client has stream(size, count), for streams),
// `auth` (the server checks lib/auth.mjs's header when BENCH_SCENARIO=handshakes, for handshakes),
// `manyConnections` (measured at ~20,000 idle connections, idle-memory-many: the floor and wirecall).
// A scenario may export `ratioTo = '<impl id>'`: its columns' Nx then compare to that implementation
// instead of the floor (cluster-fanout: raw has no cluster).
import { pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'

export const SCENARIO_IDS = ['sequential', 'pipelined', 'validated', 'page', 'echo-1mib', 'streams', 'idle-memory', 'idle-memory-many', 'handshakes', 'callback', 'fanout', 'cluster-fanout', 'bundle-size']

const here = dirname(new URL(import.meta.url).pathname)

export async function loadScenario(id) {
  if (!SCENARIO_IDS.includes(id)) throw new Error(`unknown scenario "${id}" (known: ${SCENARIO_IDS.join(', ')})`)
  return import(pathToFileURL(join(here, `${id}.mjs`)).href)
}
