/**
 * @wirecall/core: the transport-agnostic RPC engine. Re-exports only.
 */
export { service, expose, Router, type ExposeOptions } from './router.js'
export { withContext, type CallContext, type PeerInfo } from './context.js'
export { Session, type SessionOptions, type SessionStats, type CallOptions, type Logger } from './session.js'
export { createProxy, type Remote, type Notify, type RemoteFunction, type RemoteResult, type Invoker, type ServiceMarked } from './proxy.js'
export { release } from './references.js'
export { createBroadcast, type Broadcast, type FanoutResult } from './broadcast.js'
export {
  ErrorCode, WirecallError, RemoteError, NotFoundError, ParameterError, TimeoutError, AbortError,
  ConnectionClosedError, ProtocolError, OverloadedError, ReferenceReleasedError, ShuttingDownError,
  type ErrorTable, type ErrorClass, type WireError, type RemoteErrorFields, type ErrorPolicyOptions,
} from './errors.js'
export { DEFAULT_LIMITS, resolveLimits, type Limits } from './limits.js'
export { SharedBudget } from './budget.js'
export { LOG_RATE } from './log-limiter.js'
export { livenessTimings, type LivenessTimings } from './liveness.js'
export { MsgpackCodec, ExtType, type ValueType } from './codec.js'
export { ExtData, DecodeError } from './msgpack.js'
export { MessageType, MAX_MSGID } from './protocol.js'
export { jsonRpc, type TextProtocol, type TextPeer } from './json-rpc.js'
export { createMemoryPair, type Transport, type TransportReceiver, type MemoryTransport, type MemoryPairOptions } from './transport.js'
