/**
 * The fuzzer's raw connection: a plain `ws` client that reads (unless
 * paused), answers the server's calls to our fake references as the step
 * asks, and syncs (a request whose reply proves every earlier frame on the
 * socket was handled).
 */
import { WebSocket } from 'ws'
import { MsgpackCodec } from '@wirecall/core/internal'
import { anyValue, errorMap, extOf, fnRef, mp, pmap, prng } from './wire.mjs'

export const HOST = '127.0.0.1'


const clientCodec = new MsgpackCodec()
const SYNC_BASE = 0xf0000000
let syncCounter = 0

/**
 * A raw `ws` client that keeps reading (unless paused), answers the server's
 * callback requests the way the current step asks, and can sync: send a
 * request and wait for its response, which proves every earlier frame on
 * this socket was handled.
 */
export class Conn {
  constructor(ws) {
    this.ws = ws
    this.callbackMode = 'ignore'
    this.rand = prng(1)
    this.syncs = new Map()
    this.closed = false
    this.closeInfo = undefined
    this.received = 0
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary))
    ws.on('error', () => {})
    this.closedPromise = new Promise((resolve) => ws.once('close', (code, reason) => {
      this.closed = true
      this.closeInfo = { code, reason: String(reason) }
      for (const s of this.syncs.values()) s('closed')
      this.syncs.clear()
      resolve()
    }))
  }

  static open(port, options = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${HOST}:${port}/`, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024, ...options })
      const conn = new Conn(ws)
      const timer = setTimeout(() => {
        ws.terminate()
        reject(new Error('connect timeout'))
      }, 10_000)
      ws.once('open', () => {
        clearTimeout(timer)
        resolve(conn)
      })
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer)
        ws.terminate()
        reject(new Error(`refused with HTTP ${res.statusCode}`))
      })
      ws.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  get open() {
    return !this.closed && this.ws.readyState === WebSocket.OPEN
  }

  onMessage(data, isBinary) {
    this.received++
    if (!isBinary) return
    // Only responses to syncs and the server's requests matter; skip the rest cheaply.
    const b0 = data[0]
    if (b0 !== 0x94 || data.length < 2) return
    const type = data[1]
    if (type !== 0 && type !== 1) return
    let frame
    try {
      frame = clientCodec.decode(data, undefined, data.length + 16)
    } catch {
      return
    }
    if (!Array.isArray(frame)) return
    if (frame[0] === 1 && typeof frame[1] === 'number' && frame[1] >= SYNC_BASE) {
      const done = this.syncs.get(frame[1])
      if (done) {
        this.syncs.delete(frame[1])
        done(frame)
      }
    } else if (frame[0] === 0) this.answerCallback(frame[1])
  }

  /** The server called one of "our" references (a fake ext 64 we sent). */
  answerCallback(id) {
    const r = this.rand
    switch (this.callbackMode) {
      case 'ignore':
        return
      case 'answer':
        return this.send(mp([1, id, null, r.pick([1, 'one', null, [1, 2], fnRef(r.range(1, 9))])]))
      case 'garbage':
        return this.send(mp(r.pick([
          [1, id, r.pick(['plain string error', 42, [], pmap(['__proto__', pmap(['polluted', 1])]), errorMap(r, 0), extOf(70, errorMap(r, 0)), true]), null],
          [1, id, null, anyValue(r)],
          [1, id],
          [1, id, null, 1, 'extra'],
          [1, id, errorMap(r, 0), 'both set'],
        ])))
      case 'twice':
        this.send(mp([1, id, null, 1]))
        this.send(mp([1, id, null, 2]))
        return this.send(mp([1, id, errorMap(r, 0), null]))
      default:
    }
  }

  send(bytes, binary = true) {
    if (!this.open) return false
    this.ws.send(bytes, { binary })
    return true
  }

  /** Wait until the socket's own buffer is small again (bounds client memory). */
  async drain(limit = 1 << 20) {
    for (let i = 0; i < 2000 && this.open && this.ws.bufferedAmount > limit; i++) await sleep(2)
  }

  /** Resolve with the response to a fresh request, 'closed', or 'timeout'. */
  sync(timeoutMs) {
    if (!this.open) return Promise.resolve('closed')
    const id = SYNC_BASE + (syncCounter++ % 0x0fffffff)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.syncs.delete(id)
        resolve('timeout')
      }, timeoutMs)
      this.syncs.set(id, (v) => {
        clearTimeout(timer)
        resolve(v)
      })
      this.send(mp([0, id, 'add', [1, 2]]))
    })
  }

  terminate() {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate()
    return this.closedPromise
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
