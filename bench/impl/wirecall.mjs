// wirecall, through its public API (docs/api-contract.md). Needs packages/core and packages/node built (dist/).
import { serve, connect } from '@wirecall/node'
import { service } from '@wirecall/core'
import { toU8 } from '../lib/wsutil.mjs'

export const id = 'wirecall'
export const label = 'wirecall'
export const description = 'wirecall: serve()/connect() from @wirecall/node, service() from @wirecall/core'

export async function startServer({ host = '127.0.0.1' } = {}) {
  const server = await serve({
    host,
    port: 0,
    service: service({
      add: (a, b) => a + b,
      echo: (buf) => buf,
    }),
  })
  return {
    port: server.port,
    connections: () => server.connections?.size,
    close: () => server.close(),
  }
}

export async function createClient(port) {
  const client = await connect(`ws://127.0.0.1:${port}`)
  return {
    call: (a, b) => client.remote.add(a, b),
    echo: async (buf) => toU8(await client.remote.echo(buf)),
    close: () => client.close(),
  }
}
