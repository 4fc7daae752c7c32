/**
 * Calls to another node through its Redis inbox, and their answers: what
 * carries `server.connection(id).remote` to a page on another node, and
 * `server.node()` calls, when there is no node link to that node (or before
 * it is known). Each call waits in `pending` for the answer on this node's
 * own inbox, its timeout, its AbortSignal, or the target node's departure.
 */
import {
  AbortError, ConnectionClosedError, ParameterError, TimeoutError, DEFAULT_TIMEOUT_MS,
  type CallOptions, type OutgoingObservation,
} from '@wirecall/core'
import { MsgpackCodec, fromWireError, toWireError, metadataOf, type ErrorPolicy } from '@wirecall/core/internal'
import type { Connection } from '@wirecall/node'
import type { RelayObserver, RelayCounts } from './relay-observer.js'
import { releaseHeld } from './held-values.js'
import type { RedisClusterOptions } from './options.js'
import { NODE_ID } from './names.js'

/**
 * Inbox message kinds (first element of the msgpack array):
 * `[DELIVER, ids, frame]`, `[CALL, callId, from, connectionId, path, args, timeout, metadata?]`,
 * `[RESULT, callId, error, result]`, `[NODE_CALL, callId, from, path, args, timeout, metadata?]`.
 * `metadata`, when the caller's observers give one, is the request metadata slot of
 * docs/protocol.md (W3C trace context); a node that does not read it ignores it.
 */
export const DELIVER = 0
export const CALL = 1
export const RESULT = 2
export const NODE_CALL = 3

/**
 * Refuse a call message whose envelope is not what a node sends: the answer
 * goes to the inbox named by `from` (an object there threw while naming that
 * channel, inside a promise callback: an unhandled rejection, the end of the
 * process), under `callId`, and `path` names the method. Thrown before anything
 * runs, so the message is logged and dropped like one that does not decode.
 */
function checkCall(decoded: unknown[], pathAt: number): void {
  const [, callId, from] = decoded
  if (!Number.isSafeInteger(callId) || typeof from !== 'string' || !NODE_ID.test(from) || typeof decoded[pathAt] !== 'string') {
    throw new TypeError('a relayed call without a numeric call id, a node id to answer and a path')
  }
}

/** Answers kept while this node's Redis connection for publishing is reconnecting. */
const MAX_HELD_ANSWERS = 10_000

/**
 * Bytes of the answers kept meanwhile. A page's answer may be as large as its
 * `maxFrameBytes` (16 MiB by default), so the count alone let pages that answer
 * large results make a node hold 10,000 x 16 MiB through an outage. Answers past
 * either bound are dropped: their callers get their `TimeoutError`.
 */
export const MAX_HELD_ANSWER_BYTES = 64 * 1024 * 1024

interface PendingCall {
  readonly node: string
  readonly resolve: (value: unknown) => void
  readonly reject: (error: Error) => void
  readonly timer: ReturnType<typeof setTimeout> | undefined
  readonly cleanup: () => void
  /** The observers' view of the call (metrics, the trace span), ended when it settles. */
  readonly observation: OutgoingObservation | undefined
}

/** What the inbox calls need from their node. */
export interface InboxHost {
  readonly nodeId: string
  /** Data only: without a reference host, functions and services are refused while encoding. */
  readonly codec: MsgpackCodec
  readonly policy: ErrorPolicy
  readonly errors: RedisClusterOptions['errors']
  /** The observers' view of relayed calls, when something observes (known once the node is attached). */
  relay(): RelayObserver | undefined
  /** The publishing connection to Redis is up. */
  isReady(): boolean
  /** Run `listener` once the publishing connection is up again. */
  onceReady(listener: () => void): void
  /** Publish to a channel: how many subscribers got it. */
  send(channel: string, message: Buffer): Promise<number>
  /** The channel of `node`'s inbox. */
  inbox(node: string): string
  /** A connection of this node, by id. */
  connection(id: string): Connection | undefined
  /** Run a call to this node's node service. */
  runNodeCall(path: string, args: unknown[], timeout: number, from: string): Promise<unknown>
}

export class InboxCalls {
  private readonly pending = new Map<number, PendingCall>()
  private nextCall = 0
  /** Relayed calls from other nodes running here, and the bytes of inbox call messages, for the observers. */
  private running = 0
  private bytesIn = 0
  private bytesOut = 0

  constructor(private readonly host: InboxHost) {}

  /** For the observers of relayed calls. */
  counts(): RelayCounts {
    return { pending: this.pending.size, running: this.running, bytesIn: this.bytesIn, bytesOut: this.bytesOut }
  }

  /** An inbox message that is not a delivery: a call, a node call or an answer. */
  receive(decoded: unknown[], size: number): void {
    this.bytesIn += size
    switch (decoded[0]) {
      case CALL:
        checkCall(decoded, 4)
        return this.onCall(decoded)
      case NODE_CALL:
        checkCall(decoded, 3)
        return this.onNodeCall(decoded)
      case RESULT: {
        const [, callId, error, result] = decoded as [number, number, unknown, unknown]
        this.settle(callId, error == null ? undefined : fromWireError(error, 'another node', this.host.errors), result)
        return
      }
    }
  }

  /** The nodes some call waits on (their departure fails those calls: `failCallsTo`). */
  nodesWaitedOn(): Set<string> {
    const nodes = new Set<string>()
    for (const call of this.pending.values()) nodes.add(call.node)
    return nodes
  }

  /** `node` left: its calls fail now instead of at their timeout. */
  failCallsTo(node: string): void {
    for (const [id, call] of this.pending) {
      if (call.node === node) this.settle(id, new ConnectionClosedError(`node ${node} left the cluster during the call`))
    }
  }

  /** This node leaves: every call waiting fails. */
  failAll(): void {
    for (const id of [...this.pending.keys()]) this.settle(id, new ConnectionClosedError('this node left the cluster'))
  }

  /** Send a call to `node`'s inbox and wait for its answer (timeout, abort, node gone). */
  request(
    node: string, what: string, path: string, message: (callId: number) => unknown[], options: CallOptions | undefined,
  ): Promise<unknown> {
    if (!this.host.isReady()) return Promise.reject(new ConnectionClosedError(`cannot call ${what}: the cluster is unavailable (Redis is not connected)`))
    const signal = options?.signal
    if (signal?.aborted) return Promise.reject(new AbortError(`call to ${path} aborted`, { cause: signal.reason }))
    const timeout = options?.timeout ?? DEFAULT_TIMEOUT_MS
    const callId = (this.nextCall = (this.nextCall + 1) % 0x7fffffff)
    // The observers' metadata (trace context) rides at the end of the message.
    const observation = this.host.relay()?.outgoing(path)
    let bytes: Uint8Array
    try {
      const parts = [...message(callId), timeout]
      if (observation?.metadata) parts.push(observation.metadata)
      bytes = this.host.codec.encode(parts, undefined)
    } catch (err) {
      const failure = new ParameterError(
        `arguments of ${path} cannot cross to another node: ${(err as Error).message} (across nodes, arguments and results are data only)`,
        { cause: err },
      )
      this.host.relay()?.end(observation, failure)
      return Promise.reject(failure)
    }
    this.bytesOut += bytes.length
    return new Promise((resolve, reject) => {
      const onAbort = () => this.settle(callId, new AbortError(`call to ${path} aborted`, { cause: signal!.reason }))
      signal?.addEventListener('abort', onAbort, { once: true })
      // The answer travels back through Redis: the caller's deadline has a little more room than the target's.
      const timer = timeout > 0
        ? setTimeout(() => this.settle(callId, new TimeoutError(`call to ${path} on ${what} timed out after ${timeout} ms`)), timeout + 50)
        : undefined
      this.pending.set(callId, { node, resolve, reject, timer, cleanup: () => signal?.removeEventListener('abort', onAbort), observation })
      this.host.send(this.host.inbox(node), Buffer.from(bytes)).then(
        (receivers) => {
          if (receivers === 0) this.settle(callId, new ConnectionClosedError(`${what} is gone: node ${node} is not in the cluster`))
        },
        (err: Error) => this.settle(callId, new ConnectionClosedError(`cannot call ${what}: ${err.message}`)),
      )
    })
  }

  settle(callId: number, error: Error | undefined, value?: unknown): void {
    const call = this.pending.get(callId)
    if (!call) return
    this.pending.delete(callId)
    if (call.timer) clearTimeout(call.timer)
    call.cleanup()
    this.host.relay()?.end(call.observation, error)
    if (error) call.reject(error)
    else call.resolve(value)
  }

  onCall(decoded: unknown[]): void {
    const [, callId, from, id, path, args, timeout] = decoded as [number, number, string, string, string, unknown[], number]
    const answer = (error: unknown, result: unknown) => this.answer(from, callId, path, error, result)
    const conn = this.host.connection(id)
    const call = (): Promise<unknown> => conn
      ? conn.call(path, Array.isArray(args) ? args : [], { timeout })
      : Promise.reject(new ConnectionClosedError(`connection ${id} is closed`))
    this.runRelayed(String(path), decoded[7], call).then((result) => answer(undefined, result), (err: unknown) => answer(err, null))
  }

  /** Run a call relayed from another node, inside the observers' view of it (`metadata`: the caller's trace context, if sent). */
  private runRelayed(path: string, metadata: unknown, call: () => Promise<unknown>): Promise<unknown> {
    const relay = this.host.relay()
    if (!relay) return call()
    this.running++
    const running = relay.incoming(path, metadataOf(metadata), call)
    const done = () => { this.running-- }
    running.then(done, done)
    return running
  }

  onNodeCall(decoded: unknown[]): void {
    const [, callId, from, path, args, timeout] = decoded as [number, number, string, string, unknown[], number]
    const call = (): Promise<unknown> => {
      try {
        return Promise.resolve(this.host.runNodeCall(String(path), Array.isArray(args) ? args : [], Number(timeout) || 0, String(from)))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    const running = this.runRelayed(String(path), decoded[6], call)
    running.then((result) => this.answer(from, callId, path, undefined, result), (err: unknown) => this.answer(from, callId, path, err ?? new Error('rejected'), null))
  }

  /** Send the answer of call `callId` back to node `from`. */
  private answer(from: string, callId: number, path: string, error: unknown, result: unknown): void {
    let message: Uint8Array
    try {
      message = this.host.codec.encode([RESULT, callId, error === undefined ? null : toWireError(error, this.host.policy), result], undefined)
    } catch (err) {
      releaseHeld(result)
      message = this.host.codec.encode([RESULT, callId, toWireError(new ParameterError(
        `the result of ${path} cannot cross to another node: ${(err as Error).message} (across nodes, arguments and results are data only)`,
      ), this.host.policy), null], undefined)
    }
    this.bytesOut += message.length
    this.sendAnswer(from, Buffer.from(message))
  }

  /**
   * Answers produced while this node's publishing connection is down (the
   * subscriber may come back first) wait for it, up to `MAX_HELD_ANSWERS` and
   * `MAX_HELD_ANSWER_BYTES`;
   * the caller's own timeout bounds how long that can matter.
   */
  private held: { node: string; message: Buffer }[] = []
  private heldBytes = 0

  private sendAnswer(node: string, message: Buffer): void {
    if (this.host.isReady()) {
      this.host.send(this.host.inbox(node), message).catch(() => {})
      return
    }
    if (this.held.length >= MAX_HELD_ANSWERS || this.heldBytes + message.length > MAX_HELD_ANSWER_BYTES) return
    if (this.held.length === 0) {
      this.host.onceReady(() => {
        const held = this.held
        this.held = []
        this.heldBytes = 0
        for (const h of held) this.host.send(this.host.inbox(h.node), h.message).catch(() => {})
      })
    }
    this.held.push({ node, message })
    this.heldBytes += message.length
  }
}
