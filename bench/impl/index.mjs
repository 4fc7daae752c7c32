// Registry of implementations. To add one: drop bench/impl/<id>.mjs exporting
//   id, label, description,
//   startServer({ host }) -> { port, close(), connections?() , ...extra IPC-callable methods }
//   createClient(port)    -> { call(a, b): Promise<number>, echo(u8): Promise<Uint8Array>, close() }
// and list its id below. The first id is the floor every ratio is computed against.
import { pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'

export const FLOOR = 'raw'
export const IMPL_IDS = ['raw', 'wirecall', 'wirecall-metrics', 'birpc', 'rpc-websockets', 'socket.io', 'capnweb', 'trpc']

const here = dirname(new URL(import.meta.url).pathname)

export function implPath(id) {
  if (!IMPL_IDS.includes(id)) throw new Error(`unknown implementation "${id}" (known: ${IMPL_IDS.join(', ')})`)
  return join(here, `${id}.mjs`)
}

export async function loadImpl(id) {
  return import(pathToFileURL(implPath(id)).href)
}
