/**
 * @wirecall/node: WebSocket server and client for Node. Re-exports only.
 */
export { serve, type ServeOptions, type WirecallServer } from './server.js'
export { connect, type ConnectOptions } from './client.js'
export { Connection } from './connection.js'
export type { Topic } from './topics.js'
export { WebSocketTransport, CloseCode, type WebSocketTransportOptions } from './transport.js'
