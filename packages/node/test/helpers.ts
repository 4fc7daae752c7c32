/**
 * Integration-test helpers: every server, client, raw socket and http
 * server a test opens goes through here, and `afterEach` checks that the
 * test left nothing behind (pending calls, running handlers, references,
 * live connections, open sockets) before closing it all.
 *
 * Only 127.0.0.1 and port 0 are ever used.
 */
import { afterEach, beforeEach, expect } from 'vitest'
import type { Server as HttpServer } from 'node:http'
import { WebSocket, type ClientOptions } from 'ws'
import { type Logger, type Session } from '@wirecall/core'
import { MsgpackCodec } from '@wirecall/core/internal'
import { connect, serve, type ConnectOptions, type ServeOptions, type WirecallServer } from '../src/index.js'

export const HOST = '127.0.0.1'

/** A logger that records instead of printing. */
export interface CapturingLogger extends Logger {
  readonly warnings: unknown[][]
  readonly errors: unknown[][]
  /** Everything logged, as text (for `toContain` checks). */
  text(): string
}

export function capture(): CapturingLogger {
  const warnings: unknown[][] = []
  const errors: unknown[][] = []
  return {
    warnings,
    errors,
    warn: (...args: unknown[]) => void warnings.push(args),
    error: (...args: unknown[]) => void errors.push(args),
    text: () => [...warnings, ...errors].map((line) => line.map((part) => (part instanceof Error ? `${part.name}: ${part.message}` : String(part))).join(' ')).join('\n'),
  }
}

// ------------------------------------------------------------------ tracking

const servers: WirecallServer<any>[] = []
const clients: Session<any>[] = []
const raws: RawClient[] = []
const httpServers: HttpServer[] = []
/** Tests that knowingly end with live references (e.g. leak tests that close first) can opt out. */
let refsCheck = true
let socketBaseline = 0

/** Open TCP sockets and listening servers in this process (vitest's own workers use no TCP). */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length
}

beforeEach(() => {
  refsCheck = true
  socketBaseline = tcpHandles()
})

afterEach(async () => {
  const problems: string[] = []
  try {
    await sleep(0)
    const live = [...clients.filter((c) => !c.closed), ...servers.flatMap((s) => [...s.connections])]
    for (const s of live) {
      const st = s.stats()
      if (st.pendingCalls !== 0) problems.push(`${label(s)}: ${st.pendingCalls} pending calls left`)
      if (st.inFlightCalls !== 0) problems.push(`${label(s)}: ${st.inFlightCalls} handlers still running`)
    }
    if (refsCheck) {
      // Releases travel as frames: give them a bounded moment to arrive.
      const leftover = () => live.filter((s) => !s.closed && (s.stats().exportedRefs !== 0 || s.stats().importedRefs !== 0))
      await until(() => leftover().length === 0, 1000).catch(() => {})
      for (const s of leftover()) {
        const st = s.stats()
        problems.push(`${label(s)}: references left (exported ${st.exportedRefs}, imported ${st.importedRefs})`)
      }
    }
  } finally {
    // Close everything even when the checks failed, so one test cannot break the next.
    const cs = clients.splice(0)
    const rs = raws.splice(0)
    const ss = servers.splice(0)
    const hs = httpServers.splice(0)
    await Promise.all(cs.map((c) => c.close()))
    await Promise.all(rs.map((r) => r.terminate()))
    await Promise.all(ss.map((s) => s.close()))
    for (const s of ss) {
      if (s.connections.size !== 0) problems.push(`server still lists ${s.connections.size} connections after close()`)
    }
    for (const c of cs) {
      const st = c.stats()
      if (!c.closed) problems.push('a client is not closed after close()')
      if (st.pendingCalls || st.exportedRefs || st.importedRefs) problems.push(`closed client still holds state: ${JSON.stringify(st)}`)
    }
    await Promise.all(hs.map((h) => new Promise<void>((resolve) => {
      h.closeAllConnections()
      h.close(() => resolve())
    })))
    // Sockets close asynchronously after both ends agreed; allow a bounded moment.
    await until(() => tcpHandles() <= socketBaseline, 2000).catch(() => {
      problems.push(`${tcpHandles() - socketBaseline} TCP sockets/servers left open`)
    })
  }
  expect(problems, 'resources left behind by the test').toEqual([])
})

function label(s: Session<any>): string {
  return (s as { id?: string }).id ? `server connection ${(s as { id?: string }).id}` : `client ${s.peerLabel ?? ''}`
}

/** Skip the reference check at the end of this test (only for tests that assert on references themselves). */
export function skipReferenceCheck(): void {
  refsCheck = false
}

/** Start a tracked server on 127.0.0.1:0 (or attached, when `server` is given). Logs are captured unless a logger is passed. */
export async function startServer<C = unknown>(options: ServeOptions<C>): Promise<WirecallServer<C>> {
  const server = await serve<C>({
    ...(options.server ? {} : { host: HOST, port: 0 }),
    logger: capture(),
    ...options,
  })
  servers.push(server as WirecallServer<any>)
  return server
}

/** Connect a tracked wirecall client. */
export async function connectTo<S = unknown>(target: WirecallServer<any> | string, options: ConnectOptions = {}): Promise<Session<S>> {
  const client = await connect<S>(typeof target === 'string' ? target : urlOf(target), { logger: capture(), ...options })
  clients.push(client as Session<any>)
  return client
}

/** Track an http.Server the test created; it is closed after the test. */
export function trackHttp(server: HttpServer): HttpServer {
  httpServers.push(server)
  return server
}

export function urlOf(server: { port: number }, path = ''): string {
  return `ws://${HOST}:${server.port}${path}`
}

// ------------------------------------------------------------------ timing

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Poll `condition` until it holds; rejects after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

/** Resolve with the promise's outcome, or 'pending' if it has not settled after one macrotask turn. */
export async function outcomeNow<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown } | 'pending'> {
  const marker = new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))
  return Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), marker])
}

/** Reject if `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what = 'promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

/** A promise with its resolver, for handlers the test releases by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (reason: unknown) => void } {
  let resolve!: (value: T) => void
  let reject!: (reason: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

// ------------------------------------------------------------------ raw ws client

const codec = new MsgpackCodec()
export const encode = (value: unknown): Uint8Array => codec.encode(value, undefined)
export const decode = (frame: Uint8Array): unknown => codec.decode(frame, undefined, 64 * 1024 * 1024)

export type Frame = { binary: true; value: unknown; bytes: Buffer } | { binary: false; value: unknown; text: string }

/**
 * A plain `ws` client that speaks bytes: for malformed frames, interop and
 * fan-out tests where a wirecall client would hide what is on the wire.
 */
export class RawClient {
  readonly frames: Frame[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  private cursor = 0
  private wake: (() => void) | undefined
  /** The TCP socket under `ws`, from the handshake response (set before 'open'). */
  private tcp: import('node:net').Socket | undefined

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer'
    ws.once('upgrade', (res) => (this.tcp = res.socket as import('node:net').Socket))
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        let value: unknown
        try {
          value = decode(data)
        } catch (err) {
          value = err
        }
        this.frames.push({ binary: true, value, bytes: data })
      } else {
        const text = data.toString('utf8')
        let value: unknown
        try {
          value = JSON.parse(text)
        } catch (err) {
          value = err
        }
        this.frames.push({ binary: false, value, text })
      }
      this.wake?.()
    })
    ws.on('error', () => {})
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => {
      this.wake?.()
      resolve({ code, reason: reason.toString() })
    }))
  }

  /** Open a tracked raw client. Rejects on handshake refusal with the HTTP status in the message. */
  static open(url: string, options: ClientOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, ...options })
      const client = new RawClient(ws)
      ws.once('open', () => {
        raws.push(client)
        resolve(client)
      })
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate()
        reject(new Error(`refused with HTTP ${res.statusCode}`))
      })
      ws.once('error', (err) => reject(err))
    })
  }

  get socket(): import('node:net').Socket {
    if (!this.tcp) throw new Error('RawClient.socket: not open yet')
    return this.tcp
  }

  send(value: unknown): void {
    this.ws.send(encode(value))
  }

  sendBytes(bytes: Uint8Array | number[]): void {
    this.ws.send(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes), { binary: true })
  }

  sendText(text: string): void {
    this.ws.send(text)
  }

  /** The next frame not yet consumed; rejects after `timeoutMs`. */
  async next(timeoutMs = 2000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    while (this.cursor >= this.frames.length) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.wake = undefined
    }
    return this.frames[this.cursor++]!
  }

  /** The next frame's decoded value. */
  async nextValue(timeoutMs = 2000): Promise<unknown> {
    return (await this.next(timeoutMs)).value
  }

  /** Frames received and not yet consumed by `next`. */
  unread(): Frame[] {
    return this.frames.slice(this.cursor)
  }

  /** Send a msgpack-rpc request and wait for the response with that id (skipping other frames). */
  async call(id: number, method: string, params: unknown[], timeoutMs = 2000): Promise<unknown[]> {
    this.send([0, id, method, params])
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const frame = await this.next(Math.max(1, deadline - Date.now()))
      const value = frame.value
      if (Array.isArray(value) && value[0] === 1 && value[1] === id) return value
    }
  }

  terminate(): Promise<unknown> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate()
    return this.closed
  }
}
