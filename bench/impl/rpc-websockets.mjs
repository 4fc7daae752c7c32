// rpc-websockets (JSON-RPC 2.0 over ws, text frames). JSON has no binary type, so echo
// sends the buffer as a base64 string and both ends convert (the cost a JSON-only library pays).
import { Server, Client } from 'rpc-websockets'
import { toU8 } from '../lib/wsutil.mjs'

export const id = 'rpc-websockets'
export const label = 'rpc-websockets'
export const description = 'rpc-websockets 10, JSON-RPC 2.0 text frames; binary echo as base64'
// The server cannot call into a client and has no per-connection groups: callback and fan-out are n/a.
export const capabilities = { browser: true }

export async function startServer({ host = '127.0.0.1' } = {}) {
  const server = new Server({ host, port: 0 })
  server.register('add', (params) => params[0] + params[1])
  server.register('echo', (params) => {
    const bytes = Buffer.from(params[0], 'base64') // what the handler would really work with
    return bytes.toString('base64')
  })
  await new Promise((resolve, reject) => {
    if (server.wss.address()) return resolve()
    server.once('listening', resolve)
    server.once('error', reject)
  })
  return {
    port: server.wss.address().port,
    connections: () => server.wss.clients.size,
    close: async () => {
      for (const c of server.wss.clients) c.terminate()
      await server.close()
    },
  }
}

export async function createClient(port) {
  const client = new Client(`ws://127.0.0.1:${port}`, { autoconnect: true, reconnect: false })
  await new Promise((resolve, reject) => {
    client.once('open', resolve)
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before open')))
  })
  client.on('error', () => {})
  return {
    call: (a, b) => client.call('add', [a, b]),
    echo: async (buf) => {
      const u8 = toU8(buf)
      const b64 = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64')
      const res = await client.call('echo', [b64])
      return new Uint8Array(Buffer.from(res, 'base64'))
    },
    close: async () => { client.close() },
  }
}

/** A tiny page entry for the bundle-size scenario (the package's browser build). */
export const browserEntry = `
import { Client } from 'rpc-websockets'
const client = new Client('ws://127.0.0.1:8080/')
client.on('open', async () => console.log(await client.call('add', [1, 2])))
`
