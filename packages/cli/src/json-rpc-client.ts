/**
 * The smallest JSON-RPC 2.0 client over a WebSocket, for `--json-rpc`: what
 * any foreign client would send, so the command also shows what such a
 * client gets back. One request at a time; answers to other ids are ignored.
 */
import { WebSocket } from 'ws'
import type { ErrorReport } from './format.js'

/** A JSON-RPC error answer, with wirecall's error (name, code) when the server is wirecall. */
export class JsonRpcCallError extends Error implements ErrorReport {
  override readonly name: string
  readonly code: string
  readonly data: unknown
  constructor(error: { code?: unknown; message?: unknown; data?: unknown }) {
    const wire = typeof error.data === 'object' && error.data !== null ? (error.data as Record<string, unknown>) : undefined
    super(typeof error.message === 'string' ? error.message : 'error')
    // A wirecall server puts its error (name, code, data) in `data`; another server's code is the JSON-RPC number.
    this.name = typeof wire?.name === 'string' ? wire.name : 'JsonRpcError'
    this.code = typeof wire?.code === 'string' ? wire.code : String(error.code)
    this.data = wire && typeof wire.code === 'string' ? wire.data : error.data
  }
}

/** The connection could not be opened (refused, unreachable, handshake rejected). */
export class ConnectError extends Error {
  override readonly name = 'ConnectError'
}

/** No answer within the timeout. */
export class CallTimeoutError extends Error {
  override readonly name = 'CallTimeoutError'
}

/** Largest answer accepted, in bytes: a shell needs no more, and a hostile server must not fill memory. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024

/** Open, send one request, wait for its answer, close. */
export async function jsonRpcCall(
  url: string, method: string, params: unknown[] | Record<string, unknown>,
  options: { readonly headers: Readonly<Record<string, string>>; readonly timeout: number },
): Promise<unknown> {
  const ws = new WebSocket(url, { headers: { ...options.headers }, handshakeTimeout: options.timeout, maxPayload: MAX_ANSWER_BYTES, perMessageDeflate: false })
  try {
    await new Promise<void>((resolve, reject) => {
      // `handshakeTimeout` is an idle timeout that every byte resets: a server sending its answer a
      // byte at a time would hold the command for hours. This bounds the whole handshake.
      const timer = setTimeout(() => reject(new ConnectError(`${url}: the opening handshake did not finish within ${options.timeout} ms`)), options.timeout)
      const settle = (fn: () => void) => {
        clearTimeout(timer)
        fn()
      }
      ws.once('open', () => settle(resolve))
      ws.once('unexpected-response', (_req, res) => settle(() => reject(new ConnectError(`${url}: the server refused the connection (HTTP ${res.statusCode})`))))
      ws.once('error', (err) => settle(() => reject(new ConnectError(`${url}: ${err.message}`))))
    })
    const id = 1
    return await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new CallTimeoutError(`${method}: no answer within ${options.timeout} ms`)), options.timeout)
      const settle = (fn: () => void) => {
        clearTimeout(timer)
        fn()
      }
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) return
        let answer: { id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } }
        try {
          answer = JSON.parse(data.toString('utf8')) as typeof answer
        } catch {
          return
        }
        if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return
        // A refusal of the whole frame comes with id null.
        if (answer.id !== id && !(answer.id === null && answer.error)) return
        if (answer.error) settle(() => reject(new JsonRpcCallError(answer.error!)))
        else settle(() => resolve(answer.result))
      })
      ws.once('close', (code) => settle(() => reject(new ConnectError(`${url}: the connection closed (${code}) before the answer`))))
      ws.send(JSON.stringify({ jsonrpc: '2.0', method, params, id }))
    })
  } finally {
    ws.removeAllListeners('close')
    ws.on('error', () => {})
    ws.terminate()
  }
}
