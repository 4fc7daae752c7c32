// wirecall, through its public API. Needs packages/core and packages/node built (dist/).
import { createServer } from 'node:http'
import { serve, connect } from '@wirecall/node'
import { service, validated, withContext } from '@wirecall/core'
// The schema libraries only in the processes of the validated scenario: importing zod was seen to
// slow wirecall's 64 KiB streams about 4x in the same process (perhaps glibc's heap trimming, which
// the bench now turns off for streams: see README.md; not re-checked), which would skew other scenarios.
const schemas = process.env.BENCH_SCENARIO === 'validated'
  ? { z: await import('zod'), v: await import('valibot') }
  : undefined
import { toU8 } from '../lib/wsutil.mjs'
import { authOn, identityOf } from '../lib/auth.mjs'
import { callbackMethods, fanoutMethods, clusterCallMethods, trackSockets, maxWritable } from '../lib/push.mjs'

export const id = 'wirecall'
export const label = 'wirecall'
export const description = `serve()/connect() from @wirecall/node, service() from @wirecall/core${process.env.BENCH_WIRECALL_BATCH === '1' ? '; Node client with batch: true (BENCH_WIRECALL_BATCH=1)' : ''}${process.env.BENCH_WIRECALL_RECONNECT === '1' ? '; the reconnecting Node client (BENCH_WIRECALL_RECONNECT=1)' : ''}`
export const capabilities = { callback: true, topics: true, browser: true, page: true, cluster: true, validated: true, streams: true, auth: true, manyConnections: true }

/** allowedOrigins: for the page scenario, whose page is served from another port (another origin). */
/** `observer`: for the `wirecall-metrics` variant (metrics on, same server otherwise). */
export async function startServer({ host = '127.0.0.1', allowedOrigins, observer } = {}) {
  // serve() on our own http.Server (documented `server` option) only so that the fan-out scenario
  // can read every TCP socket's write queue, the same measure as for the other implementations.
  const http = createServer()
  const sockets = trackSockets(http)
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, host, resolve)
  })
  let subscriber // the callable proxy of the latest client's callback
  const server = await serve({
    server: http,
    ...(allowedOrigins ? { allowedOrigins } : {}),
    ...(observer ? { observer } : {}),
    // The handshakes scenario: the same header check as the floor's verifyClient.
    ...(authOn() ? { authenticate: identityOf } : {}),
    service: service({
      add: (a, b) => a + b,
      echo: (buf) => buf,
      // The client passes a function; we receive a callable proxy (callbacks by reference).
      subscribe: (cb) => { subscriber = cb; return true },
      join: withContext((ctx, topic) => { ctx.connection.join(topic); return true }),
      // The validated scenario: the same add, without and with schemas of its two arguments.
      ...(schemas ? {
        checked: service({
          plain: (a, b) => a + b,
          zod: validated([schemas.z.number(), schemas.z.number()], (a, b) => a + b),
          valibot: validated([schemas.v.number(), schemas.v.number()], (a, b) => a + b),
        }),
      } : {}),
      // The streams scenario: `count` chunks of `size` bytes from an async generator (the same buffer
      // each time, as for raw), under wirecall's default credit (256 items, 1 MiB).
      chunks: async function* (size, count) {
        const chunk = new Uint8Array(size)
        for (let i = 0; i < count; i++) yield chunk
      },
    }),
  })
  return {
    port: http.address().port,
    connections: () => server.connections?.size,
    close: async () => {
      await server.close()
      http.closeAllConnections?.()
      await new Promise((resolve) => http.close(() => resolve()))
    },
    ...callbackMethods(() => subscriber),
    ...fanoutMethods({
      publish: (name, i) => server.topic(name).notify.tick(i),
      backlog: () => maxWritable(sockets),
      size: (name) => server.topic(name).size,
    }),
  }
}

/**
 * A cluster node for the cluster-fanout scenario: the same service, joined to the other nodes by
 * `serve({ cluster: redisCluster({ url, prefix, nodeId, links: true }) })` from @wirecall/redis
 * (calls between nodes over direct links; fan-out and presence over Redis).
 */
export async function startClusterServer({ host = '127.0.0.1', url, prefix, nodeId }) {
  const { redisCluster } = await import('@wirecall/redis')
  const http = createServer()
  const sockets = trackSockets(http)
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, host, resolve)
  })
  const server = await serve({
    server: http,
    cluster: redisCluster({ url, prefix, nodeId, links: true }),
    service: service({
      add: (a, b) => a + b,
      join: withContext((ctx, topic) => { ctx.connection.join(topic); return true }),
    }),
  })
  return {
    port: http.address().port,
    close: async () => {
      await server.close()
      http.closeAllConnections?.()
      await new Promise((resolve) => http.close(() => resolve()))
    },
    ...fanoutMethods({
      publish: (name, i) => server.topic(name).notify.tick(i),
      backlog: () => maxWritable(sockets), // this node's own members only
      size: (name) => server.topic(name).size,
    }),
    ...clusterCallMethods({
      ids: () => [...server.connections].map((c) => c.id),
      callPage: (id, n) => server.connection(id).remote.inc(n),
    }),
  }
}

/** Cluster-fanout: true once every node has subscribed to the topic's channel (PUBSUB NUMSUB). */
export async function clusterSubscribed(command, { prefix, topic, nodes }) {
  const [, count] = await command(['PUBSUB', 'NUMSUB', `${prefix}:t:${topic}`])
  return count >= nodes
}

export async function createClient(port, { onTick, methods, observer } = {}) {
  // A page-side service only when the scenario needs one (the other scenarios stay as before).
  // BENCH_WIRECALL_BATCH=1: the Node client offers batches (connect({ batch: true })), to measure them.
  const batch = process.env.BENCH_WIRECALL_BATCH === '1'
  // BENCH_WIRECALL_RECONNECT=1: the reconnecting Node client (connect({ reconnect: true, resume: false })),
  // to compare it with the plain Session (same wire: no batches unless BENCH_WIRECALL_BATCH=1).
  const reconnect = process.env.BENCH_WIRECALL_RECONNECT === '1' ? { reconnect: true, resume: false } : {}
  const options = { batch, ...reconnect, ...(onTick ? { service: service({ tick: onTick, ...methods }) } : {}) }
  const client = await connect(`ws://127.0.0.1:${port}`, observer ? { ...options, observer } : options)
  return {
    call: (a, b) => client.remote.add(a, b),
    echo: async (buf) => toU8(await client.remote.echo(buf)),
    subscribe: (fn) => client.remote.subscribe(fn),
    join: (topic) => client.remote.join(topic),
    callValidated: (kind, a, b) => client.remote.checked[kind](a, b),
    /** Read a stream of `count` chunks of `size` bytes with for await; what arrived. */
    stream: async (size, count) => {
      let items = 0
      let bytes = 0
      for await (const chunk of await client.remote.chunks(size, count)) {
        items++
        bytes += chunk.byteLength
      }
      return { items, bytes }
    },
    close: () => client.close(),
  }
}

/** A tiny page entry for the bundle-size scenario. */
export const browserEntry = `
import { connect, service } from '@wirecall/browser'
const client = await connect('ws://127.0.0.1:8080/', { service: service({ tick: (i) => console.log('tick', i) }) })
console.log(await client.remote.add(1, 2))
await client.remote.subscribe((n) => n + 1)
`

/** The same page with streams turned on and one stream read: what streams add to a page that uses them. */
export const browserStreamsEntry = `
import { connect, service, streams } from '@wirecall/browser'
const client = await connect('ws://127.0.0.1:8080/', { service: service({ tick: (i) => console.log('tick', i) }), streams })
console.log(await client.remote.add(1, 2))
await client.remote.subscribe((n) => n + 1)
for await (const n of await client.remote.numbers(3)) console.log(n)
`

/**
 * Strings found only in the stream code (producer, consumer, table): none may appear in the
 * bundle of \`browserEntry\`, which does not pass \`streams\` (checked by the bundle-size scenario).
 */
export const streamOnlyMarkers = ['stream item could not be encoded', 'beyond the credit it was given', 'the consumer stopped reading stream', 'stream credit must be']

/** The same page with resumable sessions turned on: what resuming adds to a page that uses it. */
export const browserResumeEntry = `
import { connect, resume, service } from '@wirecall/browser'
const client = await connect('ws://127.0.0.1:8080/', { service: service({ tick: (i) => console.log('tick', i) }), resume })
console.log(await client.remote.add(1, 2))
await client.remote.subscribe((n) => n + 1)
`

/**
 * Strings found only in the resume code (the client's handshake and parked session, the resume
 * layer): none may appear in the bundle of \`browserEntry\`, which does not pass \`resume\`.
 */
export const resumeOnlyMarkers = ['no answer to the resume handshake', 'the session could not be resumed', 'replay buffer full', 'resume protocol violation']
