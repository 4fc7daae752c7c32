/**
 * @wirecall/core/otel with the OpenTelemetry SDK: one trace across a call
 * and the callback it makes, span kinds, names, attributes and statuses for
 * success, remote error, timeout and abort, and duration histograms.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { MeterProvider, MetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics'
import { ErrorCode, Router, service, withContext } from '../src/index.js'
import { createBroadcast } from '../src/internal.js'
import { openTelemetry } from '../src/otel.js'
import { allowLiveRefs, pair, rejection, until } from './harness.js'

class Refused extends Error {
  code = 'E_REFUSED'
}

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const tracer = provider.getTracer('test')
const contextManager = new AsyncLocalStorageContextManager()

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable())
})
afterAll(() => {
  context.disable()
})
beforeEach(() => exporter.reset())

const api = new Router()
  .add('math', service({ add: (a: number, b: number) => a + b }))
  .add('work', service({
    // Calls back into the caller's page: that call must join the same trace.
    run: async (report: (step: string) => Promise<string>) => `done after ${await report('half')}`,
    fail: () => { throw new Refused('no') },
    slow: withContext(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))),
    // A stream whose producer calls back into the caller for each item: those calls join the trace too.
    // Reads an upload; the caller's generator calls math.add for each item it produces.
    count: async (items: AsyncIterable<number>) => {
      let n = 0
      for await (const _ of items) n++
      return n
    },
    ticks: async function* (report: (n: number) => Promise<void>) {
      for (let i = 0; i < 3; i++) {
        await report(i)
        yield i
      }
    },
  }))
type Api = {
  math: { add(a: number, b: number): number }
  work: {
    run(report: (step: string) => Promise<string>): Promise<string>; fail(): void; slow(): Promise<void>
    ticks(report: (n: number) => Promise<void>): AsyncGenerator<number>
    count(items: AsyncIterable<number>): Promise<number>
  }
}

const spans = (): ReadableSpan[] => exporter.getFinishedSpans()
const named = (name: string, kind: SpanKind) => spans().find((s) => s.name === name && s.kind === kind)

describe('openTelemetry()', () => {
  it('continues the caller\'s trace through the handler and a callback back into the caller', async () => {
    const { client, server } = pair<Api>({ service: api, observer: openTelemetry({ tracer }) }, { observer: openTelemetry({ tracer }) })
    allowLiveRefs(client, server) // the callback stays exported until the server's proxy is collected
    const result = await tracer.startActiveSpan('click', async (root) => {
      try {
        return await client.remote.work.run(async (step) => `ack ${step}`)
      } finally {
        root.end()
      }
    })
    expect(result).toBe('done after ack half')

    const root = named('click', SpanKind.INTERNAL)!
    const clientCall = named('work.run', SpanKind.CLIENT)!
    const serverCall = named('work.run', SpanKind.SERVER)!
    const callbackOut = spans().find((s) => s.kind === SpanKind.CLIENT && s.name.startsWith('#'))!
    const callbackIn = spans().find((s) => s.kind === SpanKind.SERVER && s.name.startsWith('#'))!
    for (const span of [clientCall, serverCall, callbackOut, callbackIn]) {
      expect(span, 'every hop has a span').toBeDefined()
      expect(span.spanContext().traceId).toBe(root.spanContext().traceId)
    }
    expect(clientCall.parentSpanContext?.spanId).toBe(root.spanContext().spanId)
    expect(serverCall.parentSpanContext?.spanId).toBe(clientCall.spanContext().spanId)
    expect(serverCall.parentSpanContext?.isRemote).toBe(true)
    expect(callbackOut.parentSpanContext?.spanId).toBe(serverCall.spanContext().spanId)
    expect(callbackIn.parentSpanContext?.spanId).toBe(callbackOut.spanContext().spanId)
    expect(serverCall.attributes).toMatchObject({ 'rpc.system': 'wirecall', 'rpc.service': 'work', 'rpc.method': 'run' })
    expect(serverCall.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('a result stream\'s producer runs in the call\'s trace: its callbacks into the caller join it', async () => {
    const { client, server } = pair<Api>({ service: api, observer: openTelemetry({ tracer }) }, { observer: openTelemetry({ tracer }) })
    allowLiveRefs(client, server)
    const got: number[] = []
    await tracer.startActiveSpan('watch', async (root) => {
      try {
        for await (const n of await client.remote.work.ticks(async () => {})) got.push(n)
      } finally {
        root.end()
      }
    })
    expect(got).toEqual([0, 1, 2])
    const root = named('watch', SpanKind.INTERNAL)!
    const handler = named('work.ticks', SpanKind.SERVER)!
    expect(handler.spanContext().traceId).toBe(root.spanContext().traceId)
    const callbacks = spans().filter((s) => s.kind === SpanKind.CLIENT && s.name.startsWith('#'))
    expect(callbacks).toHaveLength(3)
    for (const cb of callbacks) {
      expect(cb.spanContext().traceId).toBe(root.spanContext().traceId)
      expect(cb.parentSpanContext?.spanId).toBe(handler.spanContext().spanId)
    }
  })

  it('an upload stream\'s producer runs in the caller\'s trace: the calls it makes while producing join it', async () => {
    const { client } = pair<Api>({ service: api, observer: openTelemetry({ tracer }) }, { observer: openTelemetry({ tracer }) })
    const total = await tracer.startActiveSpan('upload', async (root) => {
      try {
        async function* produce() {
          // Pulled by the stream machinery, outside this function's own await chain.
          for (let i = 0; i < 3; i++) yield await client.remote.math.add(i, 10)
        }
        return await client.remote.work.count(produce())
      } finally {
        root.end()
      }
    })
    expect(total).toBe(3)
    const root = named('upload', SpanKind.INTERNAL)!
    const uploadCall = named('work.count', SpanKind.CLIENT)!
    const adds = spans().filter((s) => s.kind === SpanKind.CLIENT && s.name === 'math.add')
    expect(adds).toHaveLength(3)
    for (const add of adds) {
      expect(add.spanContext().traceId).toBe(root.spanContext().traceId)
      expect(add.parentSpanContext?.spanId).toBe(uploadCall.spanContext().spanId)
    }
  })

  it('without a caller span, the handler starts a trace of its own', async () => {
    const { client } = pair<Api>({ service: api, observer: openTelemetry({ tracer }) })
    expect(await client.remote.math.add(1, 2)).toBe(3)
    const server = named('math.add', SpanKind.SERVER)!
    expect(server.parentSpanContext).toBeUndefined()
  })

  it('marks remote errors, timeouts and aborts with status ERROR and error.type', async () => {
    const { client } = pair<Api>({ service: api, observer: openTelemetry({ tracer }) }, { observer: openTelemetry({ tracer }) })
    expect((await rejection(client.remote.work.fail())).code).toBe('E_REFUSED')
    expect((await rejection(client.with({ timeout: 20 }).remote.work.slow())).code).toBe(ErrorCode.TIMEOUT)
    const controller = new AbortController()
    const aborted = client.with({ signal: controller.signal }).remote.work.slow()
    controller.abort()
    expect((await rejection(aborted)).code).toBe(ErrorCode.ABORTED)
    await new Promise((r) => setTimeout(r, 20))

    const failClient = named('work.fail', SpanKind.CLIENT)!
    const failServer = named('work.fail', SpanKind.SERVER)!
    for (const span of [failClient, failServer]) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR)
      expect(span.attributes['error.type']).toBe('E_REFUSED')
    }
    const slow = spans().filter((s) => s.name === 'work.slow' && s.kind === SpanKind.CLIENT).map((s) => s.attributes['error.type'])
    expect(slow.sort()).toEqual([ErrorCode.ABORTED, ErrorCode.TIMEOUT])
    const slowServer = spans().filter((s) => s.name === 'work.slow' && s.kind === SpanKind.SERVER)
    expect(slowServer).toHaveLength(2)
    for (const span of slowServer) expect(span.status.code).toBe(SpanStatusCode.ERROR)
  })

  it('writes W3C traceparent in the metadata slot even with no propagator registered', async () => {
    const { client, clientTransport } = pair<Api>({ service: api }, { observer: openTelemetry({ tracer }) })
    clientTransport.log = true
    await client.remote.math.add(1, 1)
    const { decode } = await import('@msgpack/msgpack')
    const request = decode(clientTransport.sent[0] as Uint8Array) as unknown[]
    expect(request).toHaveLength(5)
    expect((request[4] as Record<string, string>).traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
    const span = named('math.add', SpanKind.CLIENT)!
    expect((request[4] as Record<string, string>).traceparent).toContain(span.spanContext().spanId)
  })

  it('records rpc.client.duration and rpc.server.duration histograms with the outcome', async () => {
    const reader = new TestReader()
    const meterProvider = new MeterProvider({ readers: [reader] })
    const meter = meterProvider.getMeter('test')
    const { client } = pair<Api>({ service: api, observer: openTelemetry({ tracer, meter }) }, { observer: openTelemetry({ tracer, meter }) })
    for (let i = 0; i < 3; i++) await client.remote.math.add(i, i)
    await rejection(client.remote.work.fail())
    const { resourceMetrics } = await reader.collect()
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
    const server = all.find((m) => m.descriptor.name === 'rpc.server.duration') as HistogramMetricData
    const points = server.dataPoints.map((p) => ({ method: p.attributes['rpc.method'], error: p.attributes['error.type'], count: p.value.count }))
    expect(points).toEqual(expect.arrayContaining([
      { method: 'add', error: undefined, count: 3 },
      { method: 'fail', error: 'E_REFUSED', count: 1 },
    ]))
    const client_ = all.find((m) => m.descriptor.name === 'rpc.client.duration') as HistogramMetricData
    expect(client_.dataPoints.reduce((n, p) => n + p.value.count, 0)).toBe(4)
    await meterProvider.shutdown()
  })

  it('reports calls in flight, references and streams held by the open sessions as gauges', async () => {
    const reader = new TestReader()
    const meterProvider = new MeterProvider({ readers: [reader] })
    const { client, server } = pair<Api>({ service: api, observer: openTelemetry({ tracer, meter: meterProvider.getMeter('test') }) })
    allowLiveRefs(client, server)
    const gauges = async () => {
      const { resourceMetrics } = await reader.collect()
      const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
      const read = (name: string) => Object.fromEntries(all.find((m) => m.descriptor.name === name)!.dataPoints.map((p) => [String(p.attributes.direction), p.value as number]))
      return { calls: read('rpc.wirecall.calls.in_flight'), refs: read('rpc.wirecall.references'), streams: read('rpc.wirecall.streams') }
    }
    // The server's handler calls back into the client and waits: one call running on the server,
    // one server call waiting for the client, and the client's callback held by the server.
    let answer!: (step: string) => void
    const running = client.remote.work.run(() => new Promise<string>((r) => (answer = r)))
    await until(() => answer !== undefined, 'the callback to be called')
    expect(await gauges()).toEqual({ calls: { in: 1, out: 1 }, refs: { exported: 0, imported: 1 }, streams: { in: 0, out: 0 } })
    answer('half')
    expect(await running).toBe('done after half')
    const after = await gauges()
    expect(after.calls).toEqual({ in: 0, out: 0 })
    await meterProvider.shutdown()
  })

  it('reports rpc.wirecall.bytes read from the sessions, closed ones included', async () => {
    const reader = new TestReader()
    const meterProvider = new MeterProvider({ readers: [reader] })
    const { client, server } = pair<Api>({ service: api, observer: openTelemetry({ tracer, meter: meterProvider.getMeter('test') }) })
    for (let i = 0; i < 3; i++) await client.remote.math.add(i, i)
    const bytes = async () => {
      const { resourceMetrics } = await reader.collect()
      const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'rpc.wirecall.bytes')!
      return Object.fromEntries(metric.dataPoints.map((p) => [String(p.attributes.direction), p.value as number]))
    }
    expect(await bytes()).toEqual({ in: server.stats().bytesIn, out: server.stats().bytesOut })
    const final = server.stats()
    await client.close()
    await until(() => server.closed, 'server side to close')
    expect(await bytes()).toEqual({ in: final.bytesIn, out: final.bytesOut })
    expect(final.bytesIn).toBeGreaterThan(0)
    await meterProvider.shutdown()
  })

  it('a topic fan-out carries the publisher\'s trace to every member\'s handler', async () => {
    const serverOptions = { observer: openTelemetry({ tracer }) }
    const received: string[] = []
    const members = [0, 1].map(() => pair({ ...serverOptions }, {
      service: service({ tick: (n: number) => void received.push(`tick ${n}`) }),
      observer: openTelemetry({ tracer }),
    }))
    const topic = createBroadcast(() => members.map((m) => m.server), undefined, serverOptions)
    tracer.startActiveSpan('publish-job', (root) => {
      topic.send('tick', [1])
      root.end()
    })
    await new Promise((r) => setTimeout(r, 10))
    expect(received).toEqual(['tick 1', 'tick 1'])
    const root = named('publish-job', SpanKind.INTERNAL)!
    const producer = spans().find((s) => s.kind === SpanKind.PRODUCER)!
    expect(producer.parentSpanContext?.spanId).toBe(root.spanContext().spanId)
    const consumers = spans().filter((s) => s.kind === SpanKind.CONSUMER && s.name === 'tick')
    expect(consumers).toHaveLength(2)
    for (const c of consumers) expect(c.parentSpanContext?.spanId).toBe(producer.spanContext().spanId)
  })

  it('keeps no span open when the tracer is the API\'s no-op (no provider registered)', async () => {
    const { client } = pair<Api>({ service: api, observer: openTelemetry({ tracer: trace.getTracer('none') }) })
    expect(await client.remote.math.add(2, 2)).toBe(4)
    expect(spans()).toHaveLength(0)
  })
})
