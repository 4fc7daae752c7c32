/**
 * Resumable sessions (docs/protocol.md, "Resume"): a layer between a
 * `Session` and the real transport, on both ends, so that the session object
 * survives a dropped connection.
 *
 * Each end counts the frames it sends through the layer and keeps the ones
 * the peer has not acknowledged in a bounded replay buffer; the receiver
 * acknowledges what it received (`ACK`, every `ACK_EVERY` frames or after
 * `ACK_DELAY_MS` of quiet). When the link drops, the session does not see
 * it: what it sends meanwhile is counted and buffered. A new link is
 * attached with the count of frames the peer received, and the frames it
 * lacks are replayed first, in order, so each frame reaches the peer's
 * session exactly once. A peer whose count cannot be served (older than the
 * buffer, or newer than anything sent) cannot be resumed.
 *
 * Only used when both ends selected the `wirecall.resume.v1` subprotocol at
 * the handshake: plain msgpack-rpc and JSON-RPC peers never see these frames.
 */
import { DecodeError } from './msgpack.js'
import { decode } from './msgpack-decode.js'
import { BATCH_PROTOCOL } from './batch.js'
import type { Limits } from './limits.js'
import type { PeerInfo } from './contextual.js'
import type { Transport, TransportReceiver } from './transport.js'

/** The subprotocol of a link with batches and resumable sessions: a superset of `wirecall.batch.v1`. */
export const RESUME_PROTOCOL = 'wirecall.resume.v1'

/** True when the selected subprotocol carries batches (`wirecall.batch.v1`, or `wirecall.resume.v1` which includes it). */
export function usesBatches(protocol: string | undefined): boolean {
  return protocol === BATCH_PROTOCOL || protocol === RESUME_PROTOCOL
}

/** A receiver acknowledges at least every this many frames... */
export const ACK_EVERY = 64
/** ...and at most this long after the first frame it has not acknowledged yet. */
export const ACK_DELAY_MS = 250
/** Longest resume token accepted on the wire, in bytes. */
export const MAX_TOKEN_LENGTH = 128

/** Control frame kinds: the second element of `[-1, kind, ...]`. */
export const ResumeFrame = {
  /** client → server, first frame of every link: `[-1, 0, token | nil, received]`. */
  HELLO: 0,
  /** server → client: a fresh session, `[-1, 1, token, lost | nil]` (`lost`: why the old one could not resume). */
  WELCOME: 1,
  /** server → client: the session resumed, `[-1, 2, token, received]`. */
  RESUMED: 2,
  /** either way: `[-1, 3, received]`, the frames received so far. */
  ACK: 3,
} as const

/** Why a client that asked to resume got a fresh session instead. */
export type ResumeFailure =
  /** The token is unknown here: expired, already used, never issued, or issued by another node of a cluster. */
  | 'unknown'
  /** The token was presented by another identity or origin than the one it was issued to. */
  | 'refused'
  /** A replay buffer could not serve the gap (it overflowed, or the counts did not match). */
  | 'unavailable'

/** A parsed control frame. */
export type Control =
  | { readonly kind: 0; readonly token: string | null; readonly received: number }
  | { readonly kind: 1; readonly token: string; readonly lost: ResumeFailure | null }
  | { readonly kind: 2; readonly token: string; readonly received: number }
  | { readonly kind: 3; readonly received: number }

/** A control frame starts as a msgpack array whose first element is -1 (`0xff`); no msgpack-rpc message does. */
export function isControl(frame: Uint8Array | string): frame is Uint8Array {
  return typeof frame !== 'string' && frame.length >= 3 && frame[0]! >= 0x92 && frame[0]! <= 0x95 && frame[1] === 0xff
}

const FAILURES: readonly string[] = ['unknown', 'refused', 'unavailable']
const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
const isToken = (t: unknown): t is string => typeof t === 'string' && t.length > 0 && t.length <= MAX_TOKEN_LENGTH

/** Parse a control frame; `undefined` when it is malformed (the caller treats the peer as broken). */
export function parseControl(frame: Uint8Array): Control | undefined {
  let value: unknown
  try {
    value = decode(frame, () => {
      throw new DecodeError('no extension types in a control frame')
    }, 256, 4)
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || value[0] !== -1) return undefined
  const [, kind, a, b] = value as unknown[]
  switch (kind) {
    case 0: return value.length === 4 && (a === null || isToken(a)) && isCount(b) ? { kind, token: a, received: b } : undefined
    case 1: return value.length === 4 && isToken(a) && (b === null || FAILURES.includes(b as string)) ? { kind, token: a, lost: b as ResumeFailure | null } : undefined
    case 2: return value.length === 4 && isToken(a) && isCount(b) ? { kind, token: a, received: b } : undefined
    case 3: return value.length === 3 && isCount(a) ? { kind, received: a } : undefined
    default: return undefined
  }
}

/** Encode a control frame (a few bytes, by hand: no codec, no extension hooks). */
export function encodeControl(control: Control): Uint8Array {
  const parts: number[] = [control.kind === 3 ? 0x93 : 0x94, 0xff, control.kind]
  const str = (s: string) => {
    const bytes = new TextEncoder().encode(s)
    parts.push(0xd9, bytes.length, ...bytes)
  }
  const uint = (n: number) => {
    if (n < 0x80) parts.push(n)
    else if (n < 0x100000000) parts.push(0xce, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
    else {
      const hi = Math.floor(n / 0x100000000)
      parts.push(0xcf, hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, n >>> 24 & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
    }
  }
  switch (control.kind) {
    case 0:
      if (control.token === null) parts.push(0xc0)
      else str(control.token)
      uint(control.received)
      break
    case 1:
      str(control.token)
      if (control.lost === null) parts.push(0xc0)
      else str(control.lost)
      break
    case 2:
      str(control.token)
      uint(control.received)
      break
    case 3:
      uint(control.received)
      break
  }
  return Uint8Array.from(parts)
}

/** What the resume layer tells its owner (the client, or the server's parking lot). */
export interface ResumeEvents {
  /** The link dropped abnormally: the session is parked until `attach` or `end`. */
  linkLost(reason: Error | undefined): void
  /** The replay buffer's size changed by `delta` bytes (the server sums its parked sessions). */
  buffered?(delta: number): void
  /** The peer broke the resume protocol on the current link (malformed control frame, impossible ack). */
  violation?(reason: string): void
}

const noEvents: ResumeEvents = { linkLost() {} }

/**
 * The transport a resumable `Session` speaks over: it outlives the links
 * (real transports) attached to it one after another.
 */
export class ResumableTransport implements Transport {
  /** The token that resumes this session, once the server issued it. */
  token: string | undefined
  /** Frames sent through this layer (the next one's number). */
  private sentCount = 0
  /** Frames received and handed to the session. */
  private receivedCount = 0
  /** Unacknowledged sent frames: `replay[i]` is frame number `sentCount - replay.length + i`. */
  private replay: (Uint8Array | string)[] = []
  private replayHead = 0
  private replayBytes = 0
  /** The buffer overflowed: the frames a resume would need are gone, so this session can no longer resume. */
  private overflowed = false
  private receivedUnacked = 0
  private ackTimer: ReturnType<typeof setTimeout> | undefined
  private receiver: TransportReceiver | undefined
  private link: Transport | undefined
  private linkPeer: PeerInfo | undefined
  private ended = false
  private closing = false
  /** Receivers of links attached so far: one per link, so a late close of an old link is told apart. */
  private current: LinkReceiver | undefined

  constructor(
    private readonly limits: Pick<Limits, 'maxReplayBytes' | 'maxReplayFrames'>,
    private readonly events: ResumeEvents = noEvents,
    /** The peer's address until a link is attached (a server knows it before). */
    peer?: PeerInfo,
  ) {
    this.linkPeer = peer
  }

  /** Frames received so far: what a HELLO or RESUMED tells the peer. */
  get received(): number {
    return this.receivedCount
  }

  /** Bytes held for a replay. */
  get bufferedReplayBytes(): number {
    return this.replayBytes
  }

  /** True when a replay can still serve any peer count it accepts (the buffer never overflowed). */
  get resumable(): boolean {
    return !this.overflowed && !this.ended
  }

  /** True while a link is attached. */
  get linked(): boolean {
    return this.link !== undefined
  }

  /** True once the session ended for good. */
  get isEnded(): boolean {
    return this.ended
  }

  get peer(): PeerInfo | undefined {
    return this.linkPeer
  }

  /** The socket's queue while linked; 0 while parked (the replay buffer is bounded by its own limits). */
  get bufferedAmount(): number {
    return this.link?.bufferedAmount ?? 0
  }

  /** The socket's drain while linked (a wait outlived by its link ends with the waiter's own timer). */
  whenDrained(callback: () => void): boolean {
    return this.link?.whenDrained?.(callback) ?? false
  }

  start(receiver: TransportReceiver): void {
    this.receiver = receiver
    if (this.ended) receiver.closed()
  }

  send(frame: Uint8Array | string): void {
    if (this.ended) return
    this.sentCount++
    this.keep(frame)
    this.link?.send(frame)
  }

  /** Close for good: the session ends (a parked one at once, a linked one when its link has closed). */
  close(code?: number, reason?: string): void {
    if (this.ended) return
    const link = this.link
    if (!link) return this.end()
    this.closing = true
    link.close(code, reason)
  }

  /** Close for good at once, cutting the link without a closing handshake (a server's close deadline). */
  terminate(): void {
    const link = this.link as (Transport & { terminate?(): void }) | undefined
    this.end()
    if (link?.terminate) link.terminate()
    else link?.close()
  }

  /**
   * End the session for good with `reason` (a parked session that expired,
   * overflowed or was refused): the session sees its transport close.
   */
  end(reason?: Error): void {
    if (this.ended) return
    this.ended = true
    clearTimeout(this.ackTimer)
    const link = this.link
    this.link = undefined
    this.current = undefined
    this.dropReplay()
    link?.close()
    this.receiver?.closed(reason)
  }

  /**
   * Can a link whose peer received `peerReceived` frames be attached? It can
   * when every frame after those is still in the buffer.
   */
  canResumeFrom(peerReceived: number): boolean {
    return !this.overflowed && !this.ended && peerReceived <= this.sentCount && peerReceived >= this.sentCount - (this.replay.length - this.replayHead)
  }

  /**
   * Attach a new link (not started yet, or started by `firstFrame`): send
   * `greeting` if any (the server's WELCOME or RESUMED), then the frames the
   * peer lacks after the `peerReceived` it has, then whatever comes next.
   * The caller checked `canResumeFrom(peerReceived)`.
   */
  attach(link: Transport, peerReceived: number, greeting?: Uint8Array, started?: FirstFrame): void {
    if (this.ended) {
      link.close()
      return
    }
    const old = this.link
    if (old) {
      this.current = undefined
      old.close()
    }
    this.acknowledge(peerReceived)
    this.link = link
    this.linkPeer = link.peer
    const receiver = new LinkReceiver(this)
    this.current = receiver
    // Greeting and replay first: frames delivered by start() or handTo() may make the session send at once.
    if (greeting) link.send(greeting)
    for (let i = this.replayHead; i < this.replay.length; i++) link.send(this.replay[i]!)
    if (started) started.handTo(receiver)
    else link.start(receiver)
  }

  /** @internal A frame from the current link. */
  linkMessage(from: LinkReceiver, frame: Uint8Array | string): void {
    if (from !== this.current || this.ended) return
    if (isControl(frame)) {
      const control = parseControl(frame)
      if (control?.kind !== ResumeFrame.ACK) return this.violation('malformed or unexpected resume control frame')
      if (control.received > this.sentCount) return this.violation(`ack of ${control.received} frames, only ${this.sentCount} sent`)
      this.acknowledge(control.received)
      return
    }
    this.receivedCount++
    if (++this.receivedUnacked >= ACK_EVERY) this.sendAck()
    else if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(() => this.sendAck(), ACK_DELAY_MS)
      ;(this.ackTimer as { unref?(): void }).unref?.()
    }
    this.receiver?.message(frame)
  }

  /** @internal */
  linkUnreadable(from: LinkReceiver, reason: string): void {
    if (from === this.current) this.receiver?.unreadable?.(reason)
  }

  /** @internal The current link closed: the session ends on a clean close (ours or the peer's), parks on a drop. */
  linkClosed(from: LinkReceiver, reason: Error | undefined): void {
    if (from !== this.current || this.ended) return
    this.current = undefined
    this.link = undefined
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    if (this.closing || !reason || this.overflowed) return this.end(reason)
    this.events.linkLost(reason)
  }

  private violation(reason: string): void {
    this.events.violation?.(reason)
    const link = this.link
    this.link = undefined
    // A peer that lies about counts cannot be resumed safely: end the session (1002: protocol error).
    link?.close(1002, 'resume protocol violation')
    this.end(new Error(`resume protocol violation: ${reason}`))
  }

  private sendAck(): void {
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    if (this.receivedUnacked === 0 || !this.link) return
    this.receivedUnacked = 0
    this.link.send(encodeControl({ kind: ResumeFrame.ACK, received: this.receivedCount }))
  }

  /** The peer has the first `received` frames: forget them. */
  private acknowledge(received: number): void {
    const base = this.sentCount - (this.replay.length - this.replayHead)
    let drop = Math.min(received - base, this.replay.length - this.replayHead)
    if (drop <= 0) return
    let freed = 0
    while (drop-- > 0) {
      freed += sizeOf(this.replay[this.replayHead]!)
      this.replay[this.replayHead++] = EMPTY
    }
    // Compact now and then, not on every ack (a shift per frame would be quadratic).
    if (this.replayHead > 1024 && this.replayHead * 2 > this.replay.length) {
      this.replay = this.replay.slice(this.replayHead)
      this.replayHead = 0
    } else if (this.replayHead === this.replay.length) {
      this.replay = []
      this.replayHead = 0
    }
    this.replayBytes -= freed
    this.events.buffered?.(-freed)
  }

  private keep(frame: Uint8Array | string): void {
    if (this.overflowed) return
    const size = sizeOf(frame)
    if (this.replay.length - this.replayHead + 1 > this.limits.maxReplayFrames || this.replayBytes + size > this.limits.maxReplayBytes) {
      // Frames a resume would need are about to be lost: this session cannot resume any more.
      this.overflowed = true
      this.dropReplay()
      // Parked, nothing can reach the peer again: end now rather than at the end of the window.
      if (!this.link) this.end(new Error(`replay buffer full (maxReplayFrames ${this.limits.maxReplayFrames}, maxReplayBytes ${this.limits.maxReplayBytes}) while the link was down`))
      return
    }
    this.replay.push(frame)
    this.replayBytes += size
    this.events.buffered?.(size)
  }

  private dropReplay(): void {
    const freed = this.replayBytes
    this.replay = []
    this.replayHead = 0
    this.replayBytes = 0
    if (freed) this.events.buffered?.(-freed)
  }
}

const EMPTY = new Uint8Array(0)

/** Bytes a kept frame costs (a string: about its length; close enough for a limit). */
function sizeOf(frame: Uint8Array | string): number {
  return typeof frame === 'string' ? frame.length * 2 : frame.byteLength
}

/** Routes one link's events to its `ResumableTransport`; a stale link's are ignored. */
class LinkReceiver implements TransportReceiver {
  constructor(private readonly owner: ResumableTransport) {}
  message(frame: Uint8Array | string): void {
    this.owner.linkMessage(this, frame)
  }
  unreadable(reason: string): void {
    this.owner.linkUnreadable(this, reason)
  }
  closed(reason?: Error): void {
    this.owner.linkClosed(this, reason)
  }
}

function ignoreFirst(): void {}

/**
 * Starts a raw link and waits for its first frame, the resume handshake
 * (a HELLO on a server, a WELCOME or RESUMED on a client): `onFirst` gets
 * it and decides (attach the link to a resumable session, or close it).
 * Frames that arrive after the first one and before `handTo` are kept in
 * order; a link that closes first reports to `onClosed`.
 */
export class FirstFrame implements TransportReceiver {
  private state: 'waiting' | 'deciding' | 'handed' | 'closed' = 'waiting'
  private early: (Uint8Array | string)[] = []
  private closedEarly: { reason: Error | undefined } | undefined
  private target: TransportReceiver | undefined

  constructor(
    link: Transport,
    private onFirst: (frame: Uint8Array | string, first: FirstFrame) => void,
    private onClosed: (reason: Error | undefined) => void,
    /** Bound on what may arrive between the first frame and `handTo` (the same tick, in practice). */
    private readonly maxEarly = 1024,
  ) {
    link.start(this)
  }

  message(frame: Uint8Array | string): void {
    if (this.state === 'handed') return this.target!.message(frame)
    if (this.state === 'waiting') {
      this.state = 'deciding'
      const onFirst = this.onFirst
      this.release()
      return onFirst(frame, this)
    }
    if (this.state === 'deciding' && this.early.length < this.maxEarly) this.early.push(frame)
  }

  unreadable(reason: string): void {
    if (this.state === 'handed') this.target!.unreadable?.(reason)
  }

  closed(reason?: Error): void {
    if (this.state === 'handed') return this.target!.closed(reason)
    if (this.state === 'waiting') {
      this.state = 'closed'
      const onClosed = this.onClosed
      this.release()
      return onClosed(reason)
    }
    this.closedEarly = { reason }
  }

  /** Deliver what follows the first frame to `target`, starting with what arrived meanwhile. */
  handTo(target: TransportReceiver): void {
    this.state = 'handed'
    this.target = target
    const early = this.early
    this.early = []
    for (const frame of early) target.message(frame)
    if (this.closedEarly) target.closed(this.closedEarly.reason)
  }

  /** Stop listening (the link is being closed); nothing more is delivered. */
  abandon(): void {
    this.state = 'closed'
    this.early = []
    this.release()
  }

  /**
   * Drop the handshake callbacks once decided: this object stays the link's
   * receiver for the link's life, and the callbacks hold what the handshake
   * needed (a server's upgrade request among them), not what the link needs.
   */
  private release(): void {
    this.onFirst = ignoreFirst
    this.onClosed = ignoreFirst
  }
}
