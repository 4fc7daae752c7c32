/**
 * The `wirecall` command against a hostile server: it ends within its
 * `--timeout` whatever the server does. Runs the built `dist/bin.js` as a
 * process (as cli.test.ts does), killed after 20 s so that a hang fails.
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

/** The command's exit status (null when it was killed) and how long it took. */
function wirecall(...args: string[]): Promise<{ code: number | null; ms: number; stderr: string }> {
  const started = Date.now()
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, ms: Date.now() - started, stderr })
    })
  })
}

/** Reads the upgrade request, then answers `101 ...` one byte every 50 ms, never finishing the headers. */
let dribbler: Server
const sockets = new Set<Socket>()
let url: string

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`)
  const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Padding: ${'a'.repeat(4000)}`
  dribbler = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    let i = 0
    const timer = setInterval(() => {
      if (socket.destroyed || i >= head.length) return clearInterval(timer)
      socket.write(head[i++]!)
    }, 50)
    socket.once('close', () => {
      clearInterval(timer)
      sockets.delete(socket)
    })
  })
  await new Promise<void>((resolve) => dribbler.listen(0, '127.0.0.1', resolve))
  url = `ws://127.0.0.1:${(dribbler.address() as { port: number }).port}`
})

afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  await new Promise((resolve) => dribbler.close(resolve))
})

for (const [label, mode] of [['msgpack', []], ['JSON-RPC', ['--json-rpc']]] as const) {
  test(`${label}: a server answering the upgrade a byte at a time cannot hold the command past --timeout (exit 3)`, { timeout: 25_000 }, async () => {
    const outcome = await wirecall('call', url, 'add', '1', '2', '--timeout', '500', ...mode)
    expect(outcome.code, outcome.stderr).toBe(3)
    expect(outcome.stderr).toMatch(/handshake/)
    expect(outcome.ms).toBeLessThan(5000)
  })
}
