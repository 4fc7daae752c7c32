/**
 * The tracing page: the OpenTelemetry web SDK with an in-memory exporter,
 * and `@wirecall/browser` with `openTelemetry()` as its observer. A "click"
 * span wraps a call to the server; the server's handler calls back into the
 * page. Playwright reads the page's finished spans and compares them with the
 * server's.
 */
import { context, trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { StackContextManager } from '@opentelemetry/sdk-trace-web'
import { connect, service } from '@wirecall/browser'
import { openTelemetry } from '@wirecall/core/otel'

/** A finished span as plain data (it crosses page.evaluate). */
export interface SpanRecord {
  name: string
  kind: number
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  status: number
  attributes: Record<string, unknown>
}

export interface TracedApi {
  trace: { run(report: (step: string) => Promise<string>): Promise<string>; fail(): Promise<void> }
}

declare global {
  interface Window {
    tracing: { click(): Promise<string>; failing(): Promise<string>; spans(): SpanRecord[] }
  }
}

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
context.setGlobalContextManager(new StackContextManager().enable())
const tracer = provider.getTracer('page')

const wsUrl = new URL('/rpc', location.href)
wsUrl.protocol = 'ws:'
const client = await connect<TracedApi>(wsUrl.href, {
  observer: openTelemetry({ tracer }),
  service: service({ noop: () => {} }),
})

/** Run `work` inside a root span named `name`, as a click handler would. */
async function withRootSpan<T>(name: string, work: () => Promise<T>): Promise<T> {
  const root = tracer.startSpan(name)
  try {
    // The call starts synchronously inside the root's context: its CLIENT span becomes the root's child.
    return await context.with(trace.setSpan(context.active(), root), work)
  } finally {
    root.end()
  }
}

window.tracing = {
  click: () => withRootSpan('click', () => client.remote.trace.run(async (step) => `page saw ${step}`)),
  failing: () => withRootSpan('click-failing', () => client.remote.trace.fail().then(() => 'resolved', (err: Error & { code?: string }) => `rejected ${err.code}`)),
  spans: () => exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    status: s.status.code,
    attributes: { ...s.attributes },
  })),
}
document.title = 'tracing ready'
