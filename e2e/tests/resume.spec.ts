/**
 * Resumable sessions in real Chromium (issue 12): the page passes a callback
 * to the server, the server cuts the network (destroys the TCP socket, no
 * closing handshake), calls the callback while the link is down, and the
 * page's client resumes the same session: the calls made meanwhile arrive
 * once and in order, and the callback keeps working afterwards.
 *
 * The page loads the BUILT `@wirecall/browser` and `@wirecall/core`
 * (`npm run build` first) through an import map, served by a small
 * node:http server that also hosts the wirecall server at /rpc.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join, normalize } from 'node:path'
import { expect, test } from '@playwright/test'
import { serve, type Connection } from '@wirecall/node'
import { service } from '@wirecall/core'

const PACKAGES = fileURLToPath(new URL('../../packages/', import.meta.url))

const PAGE = `<!doctype html><meta charset="utf-8"><title>resume</title>
<script type="importmap">{"imports":{
  "@wirecall/core":"/dist/core/index.js","@wirecall/core/internal":"/dist/core/internal.js","@wirecall/browser":"/dist/browser/index.js"}}</script>
<script type="module">
  import { createClient, resume } from '@wirecall/browser'
  window.got = []
  window.resumes = []
  window.reconnects = 0
  const client = createClient('ws://' + location.host + '/rpc', {
    resume, // a page opts in to resumable sessions, as to streams
    reconnect: { initialDelayMs: 1000, maxDelayMs: 1000, jitter: 0 }, // long enough to see the session parked
    onResume: (r) => window.resumes.push(r),
    onReconnect: () => window.reconnects++,
  })
  window.client = client
  await client.remote.watch((n) => { window.got.push(n) })
  window.ready = true
</script>`

interface Page {
  watch(cb: (n: number) => void): void
}

async function start() {
  const sockets = new WeakMap<object, IncomingMessage>()
  let held: ((n: number) => unknown) | undefined
  const http: Server = createServer(async (req, res) => {
    const url = req.url ?? '/'
    if (url === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
    const m = /^\/dist\/(core|browser)\/([\w./-]+\.js)$/.exec(url)
    if (!m || normalize(m[2]!).startsWith('..')) return void res.writeHead(404).end()
    try {
      const body = await readFile(join(PACKAGES, m[1]!, 'dist', m[2]!))
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const wirecall = await serve<Page>({
    server: http,
    path: '/rpc',
    resume: true,
    service: service({
      watch: (cb: (n: number) => unknown) => void (held = cb),
      fire: (n: number) => held?.(n),
    }),
    onConnection: (conn, req) => void sockets.set(conn, req),
    logger: { warn() {}, error() {} },
  })
  const port = (http.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/`,
    wirecall,
    held: () => held!,
    cut: (conn: Connection<Page>) => sockets.get(conn)!.socket.destroy(),
    async close() {
      await wirecall.close()
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}

test('the page\'s callback held by the server keeps working across a dropped and resumed connection', async ({ page }) => {
  const server = await start()
  try {
    await page.goto(server.url)
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true)
    const conn = [...server.wirecall.connections][0]!
    server.held()(0)
    await page.waitForFunction(() => (window as unknown as { got: number[] }).got.length === 1)

    server.cut(conn)
    await expect.poll(() => server.wirecall.stats().parkedSessions, { intervals: [10] }).toBe(1)
    // Callback calls while the link is down: kept in the server's replay buffer.
    for (let i = 1; i <= 50; i++) server.held()(i)
    await page.waitForFunction(() => (window as unknown as { resumes: unknown[] }).resumes.length === 1)
    expect(await page.evaluate(() => (window as unknown as { resumes: unknown[] }).resumes)).toEqual([{ resumed: true }])
    await page.waitForFunction(() => (window as unknown as { got: number[] }).got.length === 51)

    // The same callback, called through the page's own call after the resume.
    await page.evaluate(() => (window as unknown as { client: { remote: { fire(n: number): Promise<void> } } }).client.remote.fire(51))
    await page.waitForFunction(() => (window as unknown as { got: number[] }).got.length === 52)
    const got = await page.evaluate(() => (window as unknown as { got: number[] }).got)
    expect(got).toEqual(Array.from({ length: 52 }, (_, i) => i))
    expect(await page.evaluate(() => (window as unknown as { reconnects: number }).reconnects)).toBe(0)
    expect([...server.wirecall.connections]).toEqual([conn])
    expect(conn.closed).toBe(false)
    expect(server.wirecall.stats()).toMatchObject({ resumes: 1, parkedSessions: 0, resumeRefusals: 0 })
  } finally {
    await server.close()
  }
})
