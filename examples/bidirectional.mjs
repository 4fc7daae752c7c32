// Server push, callbacks by reference, per-call context and topics in one file.
// Run: npm install && npm run build && node examples/bidirectional.mjs
import { service, withContext } from '@wirecall/core'
import { serve, connect } from '@wirecall/node'

const server = await serve({
  port: 0,
  service: service({
    // The client passes a callback; the server calls it back over the same connection.
    countdown: async (from, onTick) => {
      for (let n = from; n > 0; n--) await onTick(n)
      return 'liftoff'
    },
    // A handler that wants to know who calls takes the context first (callers do not pass it).
    join: withContext(async (ctx, room) => {
      ctx.connection.join(room)
      const name = await ctx.connection.remote.getName() // call the client's own service
      server.topic(room).notify.chat(`${name} joined ${room}`)
      return `you are ${ctx.peer.address}`
    }),
  }),
})
const url = `ws://127.0.0.1:${server.port}`

const page = (name) => service({ getName: () => name, chat: (line) => console.log(`[${name}] ${line}`) })
const alice = await connect(url, { service: page('alice') })
const bob = await connect(url, { service: page('bob') })

console.log(await alice.remote.countdown(3, (n) => console.log('tick', n)))
console.log(await alice.remote.join('lobby'))
await bob.remote.join('lobby')
await new Promise((r) => setTimeout(r, 50)) // let the last broadcast arrive

await Promise.all([alice.close(), bob.close()])
await server.close()
