import { WebSocketServer, WebSocket } from 'ws'
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
await new Promise(r => wss.on('listening', r))
const port = wss.address().port
let got = 0
const client = new WebSocket(`ws://127.0.0.1:${port}`)
client.on('message', () => { got++ })
const [server] = await new Promise(r => wss.on('connection', (ws, req) => r([ws, req])))
await new Promise(r => client.readyState === 1 ? r() : client.on('open', r))
const socket = server._socket
const payload = new Uint8Array(24).fill(3) // a small reply frame (codec view)
function header(len) { /* len <= 125 */ }
const modes = {
  wsSend() { const b = Buffer.allocUnsafe(payload.length); b.set(payload); server.send(b) },
  oneWrite() { const n = payload.length; const b = Buffer.allocUnsafe(2 + n); b[0] = 0x82; b[1] = n; b.set(payload, 2); socket.write(b) },
}
let tick = null
const tickMode = { buf: Buffer.allocUnsafe(65536), at: 0 }
modes.tickBuf = () => { const n = payload.length; const t = tickMode; if (t.at + n + 2 > t.buf.length) { socket.write(t.buf.subarray(0, t.at)); t.buf = Buffer.allocUnsafe(65536); t.at = 0 } t.buf[t.at] = 0x82; t.buf[t.at + 1] = n; t.buf.set(payload, t.at + 2); t.at += n + 2 }
const PER_TICK = 256, TICKS = 2000
async function run(name) {
  const f = modes[name]
  got = 0
  const c0 = process.cpuUsage()
  let sync = 0
  for (let t = 0; t < TICKS; t++) {
    const s0 = performance.now()
    socket.cork()
    for (let i = 0; i < PER_TICK; i++) f()
    if (name === 'tickBuf') { socket.write(tickMode.buf.subarray(0, tickMode.at)); tickMode.buf = Buffer.allocUnsafe(65536); tickMode.at = 0 }
    socket.uncork()
    sync += performance.now() - s0
    if (socket.writableLength > 1 << 20) await new Promise(r => socket.once('drain', r))
    await new Promise(r => setImmediate(r))
  }
  while (got < PER_TICK * TICKS) await new Promise(r => setTimeout(r, 1))
  const c = process.cpuUsage(c0)
  return ((c.user + c.system) / (PER_TICK * TICKS) * 1000).toFixed(0) + ' total, sender sync ' + (sync * 1e6 / (PER_TICK * TICKS)).toFixed(0)
}
for (let r = 0; r < 3; r++) for (const m of ['wsSend', 'oneWrite', 'tickBuf']) console.log(m, await run(m), 'ns/frame (server+client process CPU)')
process.exit(0)
