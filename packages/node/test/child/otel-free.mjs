// A server and a client with metrics on and no tracing, in a process that
// refuses to load @opentelemetry/* (see refuse-otel-hooks.mjs). Prints OK
// after real calls; with IMPORT_OTEL=1 it also imports @wirecall/core/otel,
// which must fail (the control that proves the hook works).
import { createMetrics, service } from '@wirecall/core'
import { connect, serve } from '@wirecall/node'

const metrics = createMetrics()
const server = await serve({ port: 0, host: '127.0.0.1', service: service({ add: (a, b) => a + b }), observer: metrics })
const client = await connect(`ws://127.0.0.1:${server.port}`, { observer: createMetrics() })
const sum = await client.remote.add(2, 3)
await client.close()
await server.close()
if (sum !== 5 || metrics.snapshot().callsIn[0]?.count !== 1) throw new Error('calls did not work')
if (process.env.IMPORT_OTEL === '1') await import('@wirecall/core/otel')
console.log('OK')
