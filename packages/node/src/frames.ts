/**
 * Binary WebSocket frames (RFC 6455 section 5.2) written on the TCP socket
 * by wirecall itself, beside `ws`, whose sender stays in charge of
 * everything else (text frames, pings, the closing handshake, compression).
 *
 * Why: `ws.send` costs two socket writes per message (its header, then the
 * payload), an allocation for the header, and its own bookkeeping. A frame
 * written here is one socket write of one buffer (header and payload), the
 * payload copied in once, masked on the way when this end is a client: the
 * copy the transport made anyway (the codec's buffer is reused). In a burst
 * (pipelined calls, a fan-out) the sender's CPU per frame halves (measured:
 * 130-150 against 270-340 ns for a small frame, writev included). A frame
 * made of parts (`writeFrameOfParts`) goes as one frame too, so the receiver
 * has nothing to reassemble.
 *
 * A frame may be written here only while `ws`'s sender is between messages
 * with nothing queued (`senderIdle`), so that it lands between two of `ws`'s
 * own frames: only `ws`'s private fields say so, which is why `ws` is pinned
 * to an exact version (package.json) and test/ws-internals.test.ts checks
 * their shape and meaning. When they are not there, the transport sends
 * through `ws.send`.
 */
import { randomFillSync } from 'node:crypto'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { maskInto } from './mask.js'

/**
 * The `ws` internals the direct frame write relies on. `ws._sender._state` is 0 when the
 * sender has nothing queued (no compression and no Blob read in progress),
 * `ws._sender._firstFragment` is true between messages (not mid-way through a fragmented
 * one): together they say that a frame written on the TCP socket now lands between two of
 * `ws`'s own frames. `ws._sender.close` writes every closing frame, the one answering a
 * peer's too: the transport wraps it to write its held frames first (`holdFrames`).
 */
export const WS_INTERNALS = ['ws._sender._state', 'ws._sender._firstFragment', 'ws._sender.close'] as const

interface SenderInternals {
  _state?: unknown
  _firstFragment?: unknown
}

/**
 * @internal Why `ws`'s sender does not have the shape the direct write relies on, or undefined
 * when it has. test/ws-internals.test.ts checks it (and what the fields mean) on the pinned `ws`.
 */
export function wsInternalsProblem(ws: WebSocket): string | undefined {
  const sender = (ws as unknown as { _sender?: SenderInternals | null })._sender
  if (typeof sender !== 'object' || sender === null) return 'ws._sender is missing'
  if (typeof sender._state !== 'number') return `ws._sender._state is not a number (${typeof sender._state})`
  if (typeof sender._firstFragment !== 'boolean') return `ws._sender._firstFragment is not a boolean (${typeof sender._firstFragment})`
  return undefined
}

/** `ws`'s sender is between messages with nothing queued; false when it is not, or when its fields are not there. */
export function senderIdle(ws: WebSocket): boolean {
  const sender = (ws as unknown as { _sender?: SenderInternals | null })._sender
  return !!sender && sender._state === 0 && sender._firstFragment === true
}

/** The 4-byte masking key of the frame being written (random for each frame). */
const frameKey = Buffer.alloc(4)

/**
 * Random bytes the masking keys are taken from, four per frame, refilled when used up, as `ws`
 * does: one `randomFillSync` per 2,048 frames rather than one per frame (a system call and
 * about 2 µs each, 4% of a client's CPU in a 64 KiB echo, measured).
 */
const KEY_POOL_BYTES = 8 * 1024
const keyPool = Buffer.alloc(KEY_POOL_BYTES)
let keyPoolUsed = KEY_POOL_BYTES

/** Put the next random masking key in `frameKey`. */
function drawFrameKey(): void {
  if (keyPoolUsed === KEY_POOL_BYTES) {
    randomFillSync(keyPool)
    keyPoolUsed = 0
  }
  frameKey[0] = keyPool[keyPoolUsed]!
  frameKey[1] = keyPool[keyPoolUsed + 1]!
  frameKey[2] = keyPool[keyPoolUsed + 2]!
  frameKey[3] = keyPool[keyPoolUsed + 3]!
  keyPoolUsed += 4
}

/** Bytes of the header of a frame with `length` bytes of payload: 2, plus the extended length, plus the key when masked. */
function headerLength(length: number, masked: boolean): number {
  return 2 + (length > 0xffff ? 8 : length > 125 ? 2 : 0) + (masked ? 4 : 0)
}

/**
 * Write the header of a final binary frame with `length` bytes of payload into `out` at
 * `start`; when `masked`, with a fresh key (left in `frameKey` for the payload). Returns
 * where the payload goes.
 */
function putHeader(out: Buffer, length: number, masked: boolean, start = 0): number {
  const maskBit = masked ? 0x80 : 0
  out[start] = 0x82 // FIN + binary
  let at: number
  if (length > 0xffff) {
    out[start + 1] = maskBit | 127
    out.writeUInt32BE(Math.floor(length / 0x100000000), start + 2)
    out.writeUInt32BE(length >>> 0, start + 6)
    at = start + 10
  } else if (length > 125) {
    out[start + 1] = maskBit | 126
    out.writeUInt16BE(length, start + 2)
    at = start + 4
  } else {
    out[start + 1] = maskBit | length
    at = start + 2
  }
  if (!masked) return at
  drawFrameKey()
  out[at] = frameKey[0]!
  out[at + 1] = frameKey[1]!
  out[at + 2] = frameKey[2]!
  out[at + 3] = frameKey[3]!
  return at + 4
}

/**
 * From this many bytes on, an unmasked frame that may go to the socket as it is (`owned`)
 * is written after its header rather than copied behind it: a second socket write costs
 * about what copying a kilobyte does.
 */
const OWNED_FRAME_AS_IS_BYTES = 1024

/**
 * Write one final binary frame whose payload is `frame`, in one socket write: header and
 * payload in one buffer (from Node's pool when small), the payload masked on the way when
 * `masked` (a client's frame). `owned`: nobody writes `frame` again (a fan-out's shared
 * frame, a batch), so a large one unmasked can go as it is, after its header, uncopied;
 * otherwise (a view of the codec's reused buffer) it is copied here.
 */
export function writeFrame(socket: Socket, frame: Uint8Array, masked: boolean, owned: boolean): void {
  const length = frame.length
  if (owned && !masked) {
    if (length >= OWNED_FRAME_AS_IS_BYTES) return writeFrameOfParts(socket, [frame], false)
    if (frame === lastOwnedFrame) return void socket.write(lastOwnedFramed!)
  }
  const head = headerLength(length, masked)
  const out = Buffer.allocUnsafe(head + length)
  putHeader(out, length, masked)
  if (masked) maskInto(frame, frameKey, 0, out, head)
  else out.set(frame, head)
  // Not a small view of a large buffer (a message from Redis, say): the entry would keep it alive.
  // A fan-out's frame is a Buffer; a batch (a Uint8Array) is never written twice, and `.buffer` of
  // a small one (its bytes in the JS heap) would move them to a backing store of their own.
  if (owned && !masked && Buffer.isBuffer(frame) && frame.buffer.byteLength <= LAST_OWNED_MAX_BACKING_BYTES) {
    lastOwnedFrame = frame
    lastOwnedFramed = out
  }
  socket.write(out)
}

/**
 * The last small unmasked frame written with `owned`, and the whole frame built for it. A
 * fan-out writes one shared frame to each of its members in a row, and unmasked the whole
 * frame is the same bytes for all: it is built once and the same buffer written to every
 * socket (sockets never write into what they are given; `owned` frames are never written
 * again). One entry, a frame under `OWNED_FRAME_AS_IS_BYTES` in at most 64 KiB of memory.
 */
let lastOwnedFrame: Uint8Array | undefined
/** The largest memory a frame kept in that entry may be a view of (Node's Buffer pool slabs are 8 KiB). */
const LAST_OWNED_MAX_BACKING_BYTES = 64 * 1024
let lastOwnedFramed: Buffer | undefined

/**
 * Write one final binary frame whose payload is `parts`, in order: a server's parts after
 * the header, uncopied; a client's each masked into a copy (`maskInto`, with the `bufferutil`
 * add-on or eight bytes at a time), with the key from where it starts in the payload, as
 * `ws.send` copies a payload to mask it. What this saves over `ws`'s fragments is the
 * receiver's reassembly copy of a fragmented message and, without the add-on, `ws`'s
 * byte-by-byte masking loop.
 */
export function writeFrameOfParts(socket: Socket, parts: readonly Uint8Array[], masked: boolean): void {
  let length = 0
  for (const part of parts) length += part.length
  const head = Buffer.allocUnsafe(headerLength(length, masked))
  putHeader(head, length, masked)
  socket.write(head)
  let offset = 0
  for (const part of parts) {
    if (part.length === 0) continue
    if (masked) {
      const out = Buffer.allocUnsafe(part.length)
      maskInto(part, frameKey, offset, out, 0)
      socket.write(out)
    } else {
      socket.write(part)
    }
    offset += part.length
  }
}

/** The first buffer `HeldFrames` takes for a tick (a slice of Node's pool, which serves up to 4 KiB). */
const HELD_FIRST_BYTES = 2048
/** The largest buffer `HeldFrames` fills before writing it out; larger frames are not held. */
const HELD_MAX_BYTES = 32 * 1024

/**
 * The frames of one tick after its first, gathered in one buffer (headers and payloads, masked
 * for a client) and written to the socket with one write when the tick ends (`release`), or
 * when the buffer is full. Writing each frame as a socket write of its own costs a chunk in the
 * stream's queue and a slot in the final `writev`, per frame; in a burst, a frame held here
 * costs its copy only (measured: 45-60 against 130-150 ns per small frame, writev included).
 *
 * Frames held here have not reached the socket: the transport releases them before anything
 * else is written on it (a frame through `ws.send`, parts, a ping, the closing handshake), so
 * that everything leaves in the order it was sent. What is held stays under HELD_MAX_BYTES.
 */
export class HeldFrames {
  private buffer: Buffer | undefined
  private used = 0

  /** Bytes held, not yet written to the socket. */
  get pending(): number {
    return this.used
  }

  /** Hold one frame (see `writeFrame` for `masked` and `owned`); one too large to hold is written at once, after what is held. */
  add(socket: Socket, frame: Uint8Array, masked: boolean, owned: boolean): void {
    const length = frame.length
    const head = headerLength(length, masked)
    if (head + length > HELD_MAX_BYTES || (owned && !masked && length >= OWNED_FRAME_AS_IS_BYTES)) {
      this.release(socket)
      return writeFrame(socket, frame, masked, owned)
    }
    let buffer = this.buffer
    if (buffer === undefined || this.used + head + length > buffer.length) {
      // The next buffer doubles the last one, up to HELD_MAX_BYTES: a burst takes few buffers, a pair of frames a small one.
      const size = buffer === undefined ? HELD_FIRST_BYTES : Math.min(buffer.length * 2, HELD_MAX_BYTES)
      this.release(socket)
      buffer = this.buffer = Buffer.allocUnsafe(Math.max(size, head + length))
    }
    const at = this.used
    putHeader(buffer, length, masked, at)
    if (masked) maskInto(frame, frameKey, 0, buffer, at + head)
    else buffer.set(frame, at + head)
    this.used = at + head + length
  }

  /** Write what is held to the socket, in one write. */
  release(socket: Socket): void {
    if (this.used > 0) socket.write(this.buffer!.subarray(0, this.used))
    this.drop()
  }

  /** Forget what is held (the connection is closing: nothing more may be written). */
  drop(): void {
    this.buffer = undefined
    this.used = 0
  }
}
