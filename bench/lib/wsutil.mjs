// Small helpers shared by the ws-based implementations.

/** Resolve with the bound port once a ws WebSocketServer (port 0) is listening. */
export function listenWss(wss) {
  return new Promise((resolve, reject) => {
    const addr = wss.address?.()
    if (addr && typeof addr === 'object') return resolve(addr.port)
    wss.once('listening', () => resolve(wss.address().port))
    wss.once('error', reject)
  })
}

/** Resolve with the socket once it is open; reject on error/close before open. */
export function openWs(ws) {
  return new Promise((resolve, reject) => {
    const onErr = (err) => reject(err instanceof Error ? err : new Error('websocket closed before open'))
    ws.once('open', () => { ws.off('error', onErr); ws.off('close', onErr); resolve(ws) })
    ws.once('error', onErr)
    ws.once('close', onErr)
  })
}

/** Normalise whatever binary type a library hands back to a Uint8Array. */
export function toU8(v) {
  if (v instanceof Uint8Array) return v
  if (v instanceof ArrayBuffer) return new Uint8Array(v)
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
  throw new TypeError(`expected binary, got ${Object.prototype.toString.call(v)}`)
}

/**
 * The common shape of a `ws`-based bench server: listen on an ephemeral port, count clients, and
 * close by terminating every client (no closing handshakes to wait for between repetitions).
 */
export async function wssServer(wss, extra = {}) {
  const port = await listenWss(wss)
  return {
    port,
    connections: () => wss.clients.size,
    close: () => new Promise((resolve) => {
      for (const c of wss.clients) c.terminate()
      wss.close(() => resolve())
    }),
    ...extra,
  }
}
