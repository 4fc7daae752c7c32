/**
 * The parts of the call context that the rest of the engine needs without
 * knowing `Session`: the fields every context has, and the registry of
 * handlers that take one. `context.ts` builds the public `CallContext` type
 * and `withContext` on top; keeping these here lets the router, the proxy
 * types and the reference tables depend on them without an import cycle
 * through the session.
 */

/** Where the peer is, as far as the transport knows. */
export interface PeerInfo {
  /** The peer's IP address (server side: the client's socket address). */
  readonly address?: string | undefined
  /** The peer's TCP port. */
  readonly port?: number | undefined
  /** The URL this side connected to (client side). */
  readonly url?: string | undefined
}

/** How errors and log lines name a peer: its URL, or address and port; undefined when unknown. */
export function describePeer(peer: PeerInfo | undefined): string | undefined {
  if (!peer) return undefined
  return peer.url ?? (peer.address !== undefined ? (peer.port !== undefined ? `${peer.address}:${peer.port}` : peer.address) : undefined)
}

declare const CONTEXT_BRAND: unique symbol

/** The fields of every call context, whatever its connection type (`CallContext` is this with `Session` by default). */
export interface ContextFields<Connection> {
  /** The connection the call came in on; call back into the peer with `connection.remote`. */
  readonly connection: Connection
  /** The peer's address, when the transport knows it. */
  readonly peer: PeerInfo | undefined
  /** What the server's `authenticate` hook returned for this connection (undefined without one). */
  readonly identity: unknown
  /** Fires when the caller cancels, times out or disconnects. */
  readonly signal: AbortSignal
  /** The dotted path that was called, e.g. `"addition.add"`. */
  readonly path: string
  /** Type-only brand: keeps `Remote<T>` from mistaking a look-alike first parameter for a context. */
  readonly [CONTEXT_BRAND]?: true
}

const contextual = new WeakSet<Function>()

/** Mark a handler as taking the call context as its first argument (`withContext`, `@expose({ context: true })`). */
export function markContextual(fn: Function): void {
  contextual.add(fn)
}

/** Does this handler want the context as its first argument? */
export function wantsContext(fn: Function): boolean {
  return contextual.has(fn)
}

const callScopedHandlers = new WeakSet<Function>()

/**
 * Mark a handler whose argument references live for the call only (`callScoped`, `@expose({ callScoped: true })`).
 * A generator function is refused: its call settles when the stream is handed over, before its body runs.
 */
export function markCallScoped(fn: Function): void {
  const kind = fn.constructor?.name
  if (kind === 'AsyncGeneratorFunction' || kind === 'GeneratorFunction') {
    throw new TypeError('callScoped cannot mark a generator function: its call settles before the generator runs, so its argument callbacks would already be given back')
  }
  callScopedHandlers.add(fn)
}

/** Are the references in this handler's arguments given back when it settles? */
export function isCallScoped(fn: Function): boolean {
  return callScopedHandlers.has(fn)
}
