/**
 * @wirecall/core/internal: the engine's building blocks, for adapters
 * (`@wirecall/node`, `@wirecall/browser`), tests and tools. Not covered by
 * semver the way `@wirecall/core` is: these change when the engine does.
 */
export { createProxy, type Invoker, type ProxyExtras } from './proxy.js'
export { MsgpackCodec, ExtType, ZERO_COPY_THRESHOLD, type RefHost } from './codec.js'
export { MessageType, MAX_MSGID, metadataOf } from './protocol.js'
export { createMemoryPair, type MemoryTransport, type MemoryPairOptions } from './transport.js'
export { resolveLimits } from './limits.js'
export { createBroadcast, encodeBroadcast, sendEncoded } from './broadcast.js'
export { SharedBudget } from './budget.js'
export { livenessTimings, type LivenessTimings } from './liveness.js'
export { toWireError, fromWireError, errorPolicy, type ErrorPolicy } from './errors.js'
export { resolvePath, type Handler } from './router.js'
export { BatchWriter, BATCH_PROTOCOL, BATCH_OFFER, BATCH_MARKER, MAX_BATCH_BYTES, deliverBatch, isBatch, readBatchItem } from './batch.js'
export { STREAM_RESULT_CODE, STREAM_RESULT_ERROR, STREAM_BATCH_ITEMS, STREAM_BATCH_BYTES, type StreamTable, type StreamHost } from './streams.js'
export { noteReconnect, whenIdle, drain } from './session.js'
export { safelyObserveSession, safelyStartOutgoing, safelyStartIncoming, safelyEnd, safely } from './observe.js'
export { clientReady } from './client.js'
export { readyPool } from './pool.js'
export {
  RESUME_PROTOCOL, ACK_EVERY, ACK_DELAY_MS, MAX_TOKEN_LENGTH, ResumeFrame, ResumableTransport, FirstFrame,
  usesBatches, isControl, parseControl, encodeControl, type Control, type ResumeEvents,
} from './resume.js'
export { RESUME_OFFER } from './client-resume.js'
export type { ResumeHost, ClientResumer } from './resume-support.js'

