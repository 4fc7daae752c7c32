/**
 * A trace started in a Chromium page continues through the Node handler and
 * the callback it makes back into the page: the page (OpenTelemetry web SDK,
 * in-memory exporter) and the server (Node SDK pieces, in-memory exporter)
 * each record their spans; together they form one trace with the right
 * parents, kinds and statuses. The page is built in memory with Vite
 * (e2e/tracing/vite.config.ts).
 */
import { createServer, type Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import { build, type Rolldown } from 'vite'
import { test, expect } from '@playwright/test'
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { service } from '@wirecall/core'
import { openTelemetry } from '@wirecall/core/otel'
import { serve, type WirecallServer } from '@wirecall/node'
import type { SpanRecord } from '../tracing/main.js'

const PAGE_CONFIG = fileURLToPath(new URL('../tracing/vite.config.ts', import.meta.url))

class Refused extends Error {
  code = 'E_REFUSED'
}

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
let http: Server
let wirecall: WirecallServer
let url: string

test.beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  const result = await build({ configFile: PAGE_CONFIG, build: { write: false }, logLevel: 'warn' })
  const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[]
  const files = new Map<string, { body: string | Uint8Array; type: string }>()
  for (const item of outputs.flatMap((o) => o.output)) {
    const type = item.fileName.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8'
    files.set(`/${item.fileName}`, { body: item.type === 'chunk' ? item.code : item.source, type })
  }
  http = createServer((req, res) => {
    const file = files.get(req.url === '/' ? '/index.html' : (req.url ?? ''))
    if (!file) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': file.type }).end(file.body)
  })
  wirecall = await serve({
    server: http,
    path: '/rpc',
    observer: openTelemetry({ tracer: provider.getTracer('server') }),
    service: service({
      trace: service({
        // The handler calls back into the page: that call joins the page's trace too.
        run: async (report: (step: string) => Promise<string>) => `server got "${await report('half')}"`,
        fail: () => { throw new Refused('no') },
      }),
    }),
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const address = http.address()
  if (typeof address !== 'object' || !address) throw new Error('no address')
  url = `http://127.0.0.1:${address.port}/`
})

test.afterAll(async () => {
  await wirecall?.close()
  http?.closeAllConnections()
  await new Promise<void>((resolve) => http?.close(() => resolve()))
  context.disable()
})

test.beforeEach(() => exporter.reset())

const serverSpans = (): SpanRecord[] => exporter.getFinishedSpans().map((s) => ({
  name: s.name, kind: s.kind, traceId: s.spanContext().traceId, spanId: s.spanContext().spanId,
  parentSpanId: s.parentSpanContext?.spanId, status: s.status.code, attributes: { ...s.attributes },
}))

test('a click in the page, the Node handler and its callback into the page form one trace', async ({ page }) => {
  await page.goto(url)
  await expect(page).toHaveTitle('tracing ready')
  expect(await page.evaluate(() => window.tracing.click())).toBe('server got "page saw half"')
  const pageSpans = await page.evaluate(() => window.tracing.spans())
  await expect.poll(() => serverSpans().length).toBe(2)
  const server = serverSpans()

  const root = pageSpans.find((s) => s.name === 'click')!
  const pageCall = pageSpans.find((s) => s.kind === SpanKind.CLIENT && s.name === 'trace.run')!
  const serverCall = server.find((s) => s.kind === SpanKind.SERVER && s.name === 'trace.run')!
  const serverCallback = server.find((s) => s.kind === SpanKind.CLIENT)!
  const pageCallback = pageSpans.find((s) => s.kind === SpanKind.SERVER)!
  for (const span of [pageCall, serverCall, serverCallback, pageCallback]) {
    expect(span, 'a span for every hop').toBeDefined()
    expect(span.traceId).toBe(root.traceId)
    expect(span.status).toBe(SpanStatusCode.UNSET)
  }
  expect(pageCall.parentSpanId).toBe(root.spanId)
  expect(serverCall.parentSpanId).toBe(pageCall.spanId)
  expect(serverCallback.parentSpanId).toBe(serverCall.spanId)
  expect(pageCallback.parentSpanId).toBe(serverCallback.spanId)
  expect(serverCall.attributes).toMatchObject({ 'rpc.system': 'wirecall', 'rpc.service': 'trace', 'rpc.method': 'run' })
})

test('a remote error marks the page\'s and the server\'s spans ERROR with its code', async ({ page }) => {
  await page.goto(url)
  await expect(page).toHaveTitle('tracing ready')
  expect(await page.evaluate(() => window.tracing.failing())).toBe('rejected E_REFUSED')
  const pageCall = (await page.evaluate(() => window.tracing.spans())).find((s) => s.kind === SpanKind.CLIENT)!
  await expect.poll(() => serverSpans().length).toBe(1)
  const serverCall = serverSpans()[0]!
  for (const span of [pageCall, serverCall]) {
    expect(span.status).toBe(SpanStatusCode.ERROR)
    expect(span.attributes['error.type']).toBe('E_REFUSED')
  }
  expect(serverCall.traceId).toBe(pageCall.traceId)
})
