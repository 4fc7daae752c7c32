// The README quick start. Run: npm install && npm run build && node examples/quickstart.mjs
import { service } from '@wirecall/core'
import { serve, connect } from '@wirecall/node'

const math = service({
  add: (a, b) => a + b,
  slow: async (ms) => new Promise((r) => setTimeout(() => r(`waited ${ms} ms`), ms)),
})
const server = await serve({ host: '127.0.0.1', port: 0, service: math })

const client = await connect(`ws://127.0.0.1:${server.port}`)
console.log(await client.remote.add(3, 4))          // 7
console.log(await client.remote.slow(10))           // waited 10 ms
client.notify.add(1, 2)                             // fire-and-forget
try { await client.remote.nope() } catch (e) { console.log(e.name, e.code) } // NotFoundError WIRECALL_NOT_FOUND

await client.close()
await server.close()
