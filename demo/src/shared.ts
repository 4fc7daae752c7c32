/**
 * The contract between the dashboard page and the demo server.
 *
 * Both sides import these types (type-only, nothing is emitted): the page
 * calls `connect<ServerApi>(...)` and gets a typed `remote`; the server types
 * `conn.remote` as `Remote<PageApi>`. One definition, no code generation.
 */

import type { MetricsSnapshot } from '@wirecall/core'

/** One sample of the server's vital signs, taken every `intervalMs`. */
export interface Metrics {
  /** Sequence number of the sample since the server started. */
  seq: number
  /** Server wall clock (ms since epoch) when the sample was taken. */
  t: number
  /** Process CPU usage in percent of one core over the last interval. */
  cpu: number
  /** Resident set size, bytes. */
  rss: number
  /** V8 heap in use, bytes. */
  heapUsed: number
  /** V8 heap reserved, bytes. */
  heapTotal: number
  /** Event-loop delay percentiles over the last interval, milliseconds. */
  loopP50: number
  loopP99: number
  /** Calls handled by the server's service per second over the last interval. */
  callsPerSec: number
  /** Connected clients (WebSocket connections). */
  clients: number
  /** Server process id and start time: a restart is visible as a change. */
  pid: number
  startedAt: number
  /** In the metrics stream: samples this page's stream skipped so far because the page was not reading (never buffered). */
  skipped?: number
}

/** What the server's metrics generator for this page is doing (`producerState()`). */
export interface ProducerState {
  /** A metrics stream is open for this page. */
  streaming: boolean
  /** The generator waits at its `yield` because the page's credit is used up: backpressure. */
  paused: boolean
  /** How long it has been waiting there, ms. */
  pausedForMs: number
  /** Samples sent on the stream so far. */
  sent: number
  /** Samples skipped while paused (the server kept none of them). */
  skipped: number
}

/** One entry in the connected-clients list. */
export interface ClientInfo {
  id: string
  /** What the page answered to `getName()`; `null` while the server is asking. */
  name: string | null
  address?: string
  connectedAt: number
  /** The cluster node the page is connected to (`npm run demo:cluster`); absent on a single server. */
  node?: string
}

/** What `pingClient` reports: the other page's answer and how long the server waited for it. */
export interface PingResult {
  /** What the pinged page's `ping()` returned. */
  answer: string
  /** The node that holds the pinged page (absent on a single server). */
  node?: string
  /** Server -> pinged page -> server, measured on the server that was asked, ms (crosses Redis when the page is on another node). */
  rttMs: number
}

export interface SubscribeResult {
  /** The id the server gave this connection (so the page can find itself in the list). */
  clientId: string
  intervalMs: number
  pid: number
  startedAt: number
  /** This server's node id in a cluster (absent on a single server). */
  node?: string
  /**
   * The metrics, one sample every `intervalMs`, as a stream: `for await (const m of metrics)`.
   * Credit-based: a page that reads slowly pauses the server's generator (see `producerState`).
   */
  metrics: AsyncIterable<Metrics>
}

/** The operator panel's view of a server (operator.html), built from `createMetrics().snapshot()`. */
export interface OperatorView {
  /** The metrics snapshot of this server (every connection it holds). */
  metrics: MetricsSnapshot
  /** Display names of this server's pages, by connection id. */
  names: Record<string, string>
  /** This server's node id in a cluster (absent on a single server). */
  node?: string
}

/** What the server exposes to pages. */
export interface ServerApi {
  /** The operator panel: connections, top methods, errors, slow consumers, references held. */
  operator(): OperatorView
  /** This connection's id and the server's details, with the metrics stream (stop it with `break` or `return()`). */
  subscribe(): SubscribeResult
  /** What the server's metrics generator for the calling page is doing (paused by backpressure or not). */
  producerState(): ProducerState
  /** The connected clients, oldest first. */
  clients(): ClientInfo[]
  /** a / b; RangeError when b is 0, InvalidOperandError when an operand is not a finite number. */
  divide(a: number, b: number): number
  echo(text: string): string
  /**
   * Call `ping()` on the page of connection `id`, wherever it is connected in the cluster
   * (`server.connection(id).remote.ping()`), and report its answer and the round trip.
   */
  pingClient(id: string): PingResult
}

/** What each page exposes to the server (reached through `conn.remote`). */
export interface PageApi {
  /** The display name of this page. */
  getName(): string
  /** The server tells every page when the client list changes. */
  clientsChanged(list: ClientInfo[]): void
  /** Another page asked its server to ping this one: answer with a short text. */
  ping(): string
}

/** Name of the custom error `divide` throws for non-numeric operands. */
export const INVALID_OPERAND = 'InvalidOperandError'
