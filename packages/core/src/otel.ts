/**
 * @wirecall/core/otel: OpenTelemetry tracing and metrics for wirecall
 * sessions, as an `Observer`. The only module of wirecall that imports
 * `@opentelemetry/api` (an optional peer dependency): a program that does
 * not import this entry never loads it.
 *
 * Spans follow OpenTelemetry's RPC semantic conventions: a CLIENT span per
 * outgoing call and a SERVER span per incoming call (PRODUCER / CONSUMER for
 * notifications), named `service/method`, with `rpc.system`, `rpc.service`,
 * `rpc.method`, and on failure status ERROR with `error.type` set to the
 * error's stable code. The caller's span context crosses in the request's
 * metadata slot as W3C `traceparent` / `tracestate` (docs/protocol.md), so
 * the handler's work, and the calls it makes (callbacks into the page
 * included), join the caller's trace.
 */
import {
  context, metrics, propagation, trace, ROOT_CONTEXT, SpanKind, SpanStatusCode,
  type Attributes, type Context, type Histogram, type Meter, type Span, type TextMapGetter, type Tracer,
} from '@opentelemetry/api'
import { outcomeOf, OK } from './metrics.js'
import type { IncomingObservation, MessageKind, Metadata, ObservedSession, Observer, OutgoingObservation, SessionObserver } from './observe.js'

/** Options of `openTelemetry()`. */
export interface OpenTelemetryOptions {
  /** @default trace.getTracer('@wirecall/core'): the globally registered provider's (a no-op tracer when none is). */
  readonly tracer?: Tracer
  /** @default metrics.getMeter('@wirecall/core'): the globally registered provider's (a no-op meter when none is). */
  readonly meter?: Meter
  /** `rpc.system` on every span and measurement. @default 'wirecall' */
  readonly system?: string
}

/** The instrumentation scope name spans and measurements carry. */
export const INSTRUMENTATION_NAME = '@wirecall/core'

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
}

/** `math.add` -> service `math`, method `add`; `add` -> method only. */
function splitMethod(path: string): { service: string | undefined; method: string } {
  const dot = path.lastIndexOf('.')
  return dot === -1 ? { service: undefined, method: path } : { service: path.slice(0, dot), method: path.slice(dot + 1) }
}

/**
 * The observer that traces and measures calls through OpenTelemetry. Give it
 * to a server or a client next to (or instead of) `createMetrics()`.
 *
 * @example
 * ```ts
 * import { service } from '@wirecall/core'
 * import { openTelemetry } from '@wirecall/core/otel'
 * import { serve } from '@wirecall/node'
 *
 * // With a tracer provider registered (NodeSDK, or your own), every call is a span
 * // that continues the caller's trace.
 * const server = await serve({ port: 0, service: service({ ping: () => 'pong' }), observer: openTelemetry() })
 * await server.close()
 * ```
 */
export function openTelemetry(options: OpenTelemetryOptions = {}): Observer {
  const tracer = options.tracer ?? trace.getTracer(INSTRUMENTATION_NAME)
  const meter = options.meter ?? metrics.getMeter(INSTRUMENTATION_NAME)
  const system = options.system ?? 'wirecall'
  const clientDuration = meter.createHistogram('rpc.client.duration', { unit: 'ms', description: 'Duration of outgoing wirecall calls' })
  const serverDuration = meter.createHistogram('rpc.server.duration', { unit: 'ms', description: 'Duration of incoming wirecall calls' })
  const bytesCounter = meter.createObservableCounter('rpc.wirecall.bytes', { unit: 'By', description: 'Bytes of wirecall frames, by direction' })
  const dropCounter = meter.createCounter('rpc.wirecall.dropped', { description: 'Notifications dropped for slow or closed peers' })
  const openSessions = meter.createUpDownCounter('rpc.wirecall.sessions', { description: 'Open wirecall sessions' })
  const reconnects = meter.createCounter('rpc.wirecall.reconnects', { description: 'Connections a reconnecting client got back' })

  const attributesOf = (path: string, session: ObservedSession): Attributes => {
    const { service, method } = splitMethod(path)
    const attributes: Attributes = { 'rpc.system': system, 'rpc.method': method }
    if (service !== undefined) attributes['rpc.service'] = service
    if (session.peerLabel) attributes['network.peer.address'] = session.peerLabel
    return attributes
  }

  const finish = (span: Span, histogram: Histogram | undefined, attributes: Attributes, started: number, error: unknown) => {
    const outcome = outcomeOf(error)
    if (outcome !== OK) {
      span.setAttribute('error.type', outcome)
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
      if (error instanceof Error) span.recordException(error)
    }
    span.end()
    if (histogram) {
      histogram.record(performance.now() - started, outcome === OK ? attributes : { ...attributes, 'error.type': outcome })
    }
  }

  const systemOnly: Attributes = { 'rpc.system': system }
  const bytesIn: Attributes = { 'rpc.system': system, direction: 'in' }
  const bytesOut: Attributes = { 'rpc.system': system, direction: 'out' }
  // Bytes are read from the sessions when the meter collects (sessions count them
  // themselves), not added per frame: closed sessions' totals are kept here.
  const open = new Set<ObservedSession>()
  let closedIn = 0
  let closedOut = 0
  bytesCounter.addCallback((result) => {
    let sumIn = closedIn
    let sumOut = closedOut
    for (const session of open) {
      const stats = session.stats()
      sumIn += stats.bytesIn
      sumOut += stats.bytesOut
    }
    result.observe(sumIn, bytesIn)
    result.observe(sumOut, bytesOut)
  })
  // What the open sessions hold now, read from them at collection: calls in flight each way,
  // references each way (the leak inspector's figure) and streams each way.
  const inFlight = meter.createObservableGauge('rpc.wirecall.calls.in_flight', { description: 'Calls running here (in) or waiting for the peer (out)' })
  const references = meter.createObservableGauge('rpc.wirecall.references', { description: 'References held: our functions the peers hold (exported), the peers\' we hold (imported)' })
  const streams = meter.createObservableGauge('rpc.wirecall.streams', { description: 'Open streams this side sends (out) or reads (in)' })
  const direction = (value: string): Attributes => ({ 'rpc.system': system, direction: value })
  const [dirIn, dirOut, exported, imported] = [direction('in'), direction('out'), direction('exported'), direction('imported')]
  meter.addBatchObservableCallback((result) => {
    let callsIn = 0, callsOut = 0, refsOut = 0, refsIn = 0, streamsOut = 0, streamsIn = 0
    for (const session of open) {
      const stats = session.stats()
      callsIn += stats.inFlightCalls
      callsOut += stats.pendingCalls
      refsOut += stats.exportedRefs
      refsIn += stats.importedRefs
      streamsOut += stats.outgoingStreams
      streamsIn += stats.incomingStreams
    }
    result.observe(inFlight, callsIn, dirIn)
    result.observe(inFlight, callsOut, dirOut)
    result.observe(references, refsOut, exported)
    result.observe(references, refsIn, imported)
    result.observe(streams, streamsIn, dirIn)
    result.observe(streams, streamsOut, dirOut)
  }, [inFlight, references, streams])

  return {
    reconnected: () => reconnects.add(1, systemOnly),
    fanout(path, audience): OutgoingObservation {
      const parent = context.active()
      const { service, method } = splitMethod(path)
      const attributes: Attributes = { 'rpc.system': system, 'rpc.method': method, 'messaging.destination.name': audience }
      if (service !== undefined) attributes['rpc.service'] = service
      const span = tracer.startSpan(`${audience} publish`, { kind: SpanKind.PRODUCER, attributes }, parent)
      const metadata = inject(trace.setSpan(parent, span), span)
      return { metadata, end: (error) => finish(span, undefined, attributes, 0, error) }
    },

    session(session): SessionObserver {
      openSessions.add(1, systemOnly)
      open.add(session)
      return {
        closed: () => {
          openSessions.add(-1, systemOnly)
          const stats = session.stats()
          closedIn += stats.bytesIn
          closedOut += stats.bytesOut
          open.delete(session)
        },
        dropped: () => dropCounter.add(1, systemOnly),

        outgoing(path, kind: MessageKind): OutgoingObservation {
          const parent = context.active()
          const attributes = attributesOf(path, session)
          const span = tracer.startSpan(path, { kind: kind === 'call' ? SpanKind.CLIENT : SpanKind.PRODUCER, attributes }, parent)
          const active = trace.setSpan(parent, span)
          const metadata = inject(active, span)
          const started = performance.now()
          return {
            metadata,
            // An upload stream's producer is pulled in the call's context: its own calls join the trace.
            run: (work) => context.with(active, work),
            end: (error) => finish(span, kind === 'call' ? clientDuration : undefined, attributes, started, error),
          }
        },

        incoming(path, kind: MessageKind, metadata: Metadata | undefined): IncomingObservation {
          const parent = metadata ? extract(metadata) : ROOT_CONTEXT
          const attributes = attributesOf(path, session)
          const span = tracer.startSpan(path, { kind: kind === 'call' ? SpanKind.SERVER : SpanKind.CONSUMER, attributes }, parent)
          const active = trace.setSpan(parent, span)
          const started = performance.now()
          return {
            run: (handler) => context.with(active, handler),
            end: (error) => finish(span, kind === 'call' ? serverDuration : undefined, attributes, started, error),
          }
        },
      }
    },
  }
}

/**
 * The metadata for a message sent under `ctx`: what the registered
 * propagator writes, or W3C `traceparent` / `tracestate` written here when
 * no propagator is registered (the API's default propagates nothing, and a
 * trace that silently stops at the wire helps nobody).
 */
function inject(ctx: Context, span: Span): Metadata | undefined {
  const carrier: Record<string, string> = {}
  propagation.inject(ctx, carrier)
  if (Object.keys(carrier).length > 0) return carrier
  const sc = span.spanContext()
  if (!trace.isSpanContextValid(sc)) return undefined
  carrier.traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`
  const state = sc.traceState?.serialize()
  if (state) carrier.tracestate = state
  return carrier
}

/** The remote parent context from a message's metadata (registered propagator first, then W3C here). */
function extract(metadata: Metadata): Context {
  const ctx = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter)
  if (trace.getSpanContext(ctx)) return ctx
  const match = TRACEPARENT.exec(metadata.traceparent ?? '')
  if (!match) return ROOT_CONTEXT
  const spanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16), isRemote: true }
  return trace.isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT
}
