/**
 * @wirecall/browser: the wirecall client for browsers (native WebSocket,
 * reconnect, page-side services). Re-exports only; the core's public API is
 * re-exported too, so a page needs one import (unused names are tree-shaken).
 */
export * from '@wirecall/core'
export { connect, createClient, BrowserClient, LIVENESS_PROBE, type BrowserConnectOptions } from './client.js'
export { BrowserWebSocketTransport, type BrowserTransportOptions, type WebSocketLike, type WebSocketConstructor } from './transport.js'
export { createPool, connectPool, ClientPool, type PoolOptions, type PoolStrategy } from './pool.js'
