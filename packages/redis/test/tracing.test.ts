/**
 * A trace crosses nodes: node A calls a page held by node B over a node link,
 * inside a span; the link call, B's relay and B's call into the page, and
 * the page's handler all join A's trace (OpenTelemetry SDK, in-memory
 * exporter, the servers' `observer` option passed on to the node links).
 * Without links the call is relayed through Redis pub/sub, and the relay
 * message carries the trace context the same way.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest'
import { context, SpanKind } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createMetrics, service } from '@wirecall/core'
import { openTelemetry } from '@wirecall/core/otel'
import { connect, serve } from '@wirecall/node'
import { redisCluster } from '../src/index.js'
import { useRedis } from './redis-server.js'

const redis = useRedis()
const quiet = { warn() {}, error() {} }
const open: { close(): Promise<void> }[] = []
const exporter = new InMemorySpanExporter()
const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test')

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
})
afterAll(() => {
  context.disable()
})
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {})
})

test('a call from node A to a page on node B continues A\'s trace through the link and into the page', async () => {
  const prefix = `trace-${Date.now()}`
  const node = async (nodeId: string) => {
    const server = await serve<{ hello(): string }>({
      port: 0, host: '127.0.0.1', service: service({}), logger: quiet, observer: openTelemetry({ tracer }),
      cluster: redisCluster({ url: redis().url, prefix, nodeId, logger: quiet, links: true }),
    })
    open.push(server)
    return server
  }
  const a = await node('ta')
  const b = await node('tb')
  const page = await connect(`ws://127.0.0.1:${b.port}`, { service: service({ hello: () => 'hi from the page' }), observer: openTelemetry({ tracer }) })
  open.push(page)
  const id = [...b.connections][0]!.id

  const answer = await tracer.startActiveSpan('job', async (root) => {
    try {
      return await a.connection(id).remote.hello()
    } finally {
      root.end()
    }
  })
  expect(answer).toBe('hi from the page')

  const spans = exporter.getFinishedSpans()
  const root = spans.find((s) => s.name === 'job')!
  const linkOut = spans.find((s) => s.name === 'page' && s.kind === SpanKind.CLIENT)!
  const linkIn = spans.find((s) => s.name === 'page' && s.kind === SpanKind.SERVER)!
  const toPage = spans.find((s) => s.name === 'hello' && s.kind === SpanKind.CLIENT)!
  const inPage = spans.find((s) => s.name === 'hello' && s.kind === SpanKind.SERVER)!
  for (const span of [linkOut, linkIn, toPage, inPage]) {
    expect(span, 'a span for every hop').toBeDefined()
    expect(span.spanContext().traceId).toBe(root.spanContext().traceId)
  }
  expect(linkOut.parentSpanContext?.spanId).toBe(root.spanContext().spanId)
  expect(linkIn.parentSpanContext?.spanId).toBe(linkOut.spanContext().spanId)
  expect(toPage.parentSpanContext?.spanId).toBe(linkIn.spanContext().spanId)
  expect(inPage.parentSpanContext?.spanId).toBe(toPage.spanContext().spanId)
})

test('without node links, a call relayed through Redis carries the trace into node B and the page; metrics count the relay', async () => {
  exporter.reset()
  const prefix = `trace-relay-${Date.now()}`
  const metricsA = createMetrics()
  const metricsB = createMetrics()
  const node = async (nodeId: string, metrics: ReturnType<typeof createMetrics>) => {
    const server = await serve<{ hello(): string }>({
      port: 0, host: '127.0.0.1', service: service({}), logger: quiet, observer: [metrics, openTelemetry({ tracer })],
      cluster: redisCluster({ url: redis().url, prefix, nodeId, logger: quiet }),
    })
    open.push(server)
    return server
  }
  const a = await node('ra', metricsA)
  const b = await node('rb', metricsB)
  const page = await connect(`ws://127.0.0.1:${b.port}`, {
    service: service({ hello: () => 'hi over redis', fail: () => { throw Object.assign(new Error('no'), { code: 'E_NO' }) } }),
    observer: openTelemetry({ tracer }),
  })
  open.push(page)
  const id = [...b.connections][0]!.id

  const answer = await tracer.startActiveSpan('job', async (root) => {
    try {
      return await a.connection(id).remote.hello()
    } finally {
      root.end()
    }
  })
  expect(answer).toBe('hi over redis')
  await expect((a.connection(id).remote as unknown as { fail(): Promise<void> }).fail()).rejects.toMatchObject({ code: 'E_NO' })

  const spans = exporter.getFinishedSpans()
  const root = spans.find((s) => s.name === 'job')!
  const hello = spans.filter((s) => s.name === 'hello')
  const relayOut = hello.find((s) => s.kind === SpanKind.CLIENT && s.parentSpanContext?.spanId === root.spanContext().spanId)!
  const relayIn = hello.find((s) => s.kind === SpanKind.SERVER && s.parentSpanContext?.spanId === relayOut?.spanContext().spanId)!
  const toPage = hello.find((s) => s.kind === SpanKind.CLIENT && s.parentSpanContext?.spanId === relayIn?.spanContext().spanId)!
  const inPage = hello.find((s) => s.kind === SpanKind.SERVER && s.parentSpanContext?.spanId === toPage?.spanContext().spanId)!
  for (const span of [relayOut, relayIn, toPage, inPage]) {
    expect(span, 'a span for every hop: A\'s relay call, B\'s relayed call, B\'s call into the page, the page\'s handler').toBeDefined()
    expect(span.spanContext().traceId).toBe(root.spanContext().traceId)
  }
  expect(relayOut.attributes['network.peer.address']).toBe('redis relay ra')

  // The relay is one observed session per node: A made two calls through it, B ran two.
  const relayOf = (m: ReturnType<typeof createMetrics>) => m.snapshot().perSession.find((s) => s.peer?.startsWith('redis relay'))!
  expect(relayOf(metricsA)).toMatchObject({ callsOut: 2, errorsOut: 1, callsIn: 0 })
  expect(relayOf(metricsB)).toMatchObject({ callsIn: 2, errorsIn: 1 })
  expect(relayOf(metricsA).bytesOut).toBe(relayOf(metricsB).bytesIn)
  expect(metricsA.snapshot().callsOut.find((m) => m.method === 'fail')!.outcomes).toEqual({ E_NO: 1 })
})
