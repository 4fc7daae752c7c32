/**
 * @wirecall/node: WebSocket server and client for Node. Re-exports only; the
 * core's public API is re-exported too, so a Node program needs one import.
 */
export * from '@wirecall/core'
export { serve, type ServeOptions, type ServerStats, type WirecallServer } from './server.js'
export type { ResumeStats } from './parking.js'
export { connect, createClient, type ConnectOptions, type ReconnectingConnectOptions, type WsClientOptions } from './client.js'
export { createPool, connectPool, type NodePoolOptions } from './pool.js'
export { Connection } from './connection.js'
export type { Topic } from './topics.js'
export type { Cluster, ConnectionHandle, FanoutTarget, LocalNode, NodeHandle, PresenceEntry } from './cluster.js'
export { WebSocketTransport, CloseCode, type WsWebSocket, type WebSocketTransportOptions } from './transport.js'
