/**
 * @wirecall/core: the transport-agnostic RPC engine. Re-exports only: what
 * an application uses. What adapters and tools build on (the codec, the
 * proxy factory, the in-memory transport, wire constants) is in
 * `@wirecall/core/internal`.
 */
export { service, expose, Router, type ExposeOptions } from './router.js'
export {
  validated, MAX_REPORTED_ISSUES, MAX_ISSUE_MESSAGE,
  type Contract, type ParamSchemas, type ParameterIssue, type InputParams, type OutputParams, type ValidatedResult, type ResultInput,
} from './validation.js'
export {
  DESCRIBE_METHOD, MAX_DESCRIBED_METHODS, MAX_DESCRIBED_DEPTH, describeRemote, describeService,
  type ServiceDescriber, type ServiceDescription, type ServiceNodeDescription, type MethodDescription, type JsonSchema,
} from './reflection.js'
export { withContext, type CallContext, type PeerInfo } from './context.js'
export {
  Client, DEFAULT_RECONNECT, type ClientOptions, type ConnectionState, type ReconnectOptions, type Dialer, type DialEvents, type Link, type ResumeResult,
} from './client.js'
export { ClientPool, type PoolSettings, type PoolStrategy, type EndpointFactory } from './pool.js'
export type { ResumeFailure } from './resume.js'
export { resume } from './client-resume.js'
export type { ResumeSupport } from './resume-support.js'
export { Session, type CallScope, type SessionOptions, type SessionStats, type CallOptions, type Logger } from './session.js'
export type { Remote, Notify, RemoteFunction, RemoteResult, ServiceMarked, ReadableStreamOf } from './proxy.js'
export { streams, RemoteStream, type StreamSupport } from './streams.js'
export { release, callScoped } from './references.js'
export type { Broadcast, FanoutResult } from './broadcast.js'
export {
  ErrorCode, WirecallError, RemoteError, NotFoundError, ParameterError, ResultError, TimeoutError, AbortError,
  ConnectionClosedError, ProtocolError, OverloadedError, ReferenceReleasedError, ShuttingDownError,
  type ErrorTable, type ErrorClass, type WireError, type RemoteErrorFields, type ErrorPolicyOptions,
} from './errors.js'
export { DEFAULT_LIMITS, type Limits } from './limits.js'
export { DEFAULT_TIMEOUT_MS } from './options.js'
export { LOG_RATE } from './log-limiter.js'
export { debugLog, enableDebug, setDebugSink, type DebugLog, type DebugSink } from './debug.js'
export type { ValueType, ValueClass } from './codec.js'
export { ExtData, DecodeError } from './msgpack.js'
export { jsonRpc, type TextProtocol, type TextPeer } from './json-rpc.js'
export type { Transport, TransportReceiver } from './transport.js'
export {
  combineObservers, type Observer, type SessionObserver, type ObservedSession, type OutgoingObservation, type IncomingObservation,
  type MessageKind, type Metadata,
} from './observe.js'
export {
  createMetrics, outcomeOf, LATENCY_BUCKETS_MS, MAX_TRACKED_METHODS,
  type Metrics, type MetricsSnapshot, type MethodMetrics, type SessionMetrics,
} from './metrics.js'
