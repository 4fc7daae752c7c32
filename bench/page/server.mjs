// Server process of the `page` scenario: `node page/server.mjs <page dir>`, forked by
// lib/page.mjs. One Node process runs the raw and wirecall servers of impl/ (the same code as the
// Node scenarios) and serves the bundled page on a third port; it prints
// `PORTS {"page":n,"raw":n,"wirecall":n}`. wirecall accepts the page's origin, the raw floor
// checks none.
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as raw from '../impl/raw.mjs'
import * as wirecall from '../impl/wirecall.mjs'
import { serveIpc } from '../lib/ipc-child.mjs'

const pageDir = process.argv[2]
if (!pageDir) {
  console.error('usage: node page/server.mjs <dir with entry.js>')
  process.exit(2)
}
const host = '127.0.0.1'
const script = readFileSync(join(pageDir, 'entry.js'))
const html = '<!doctype html><meta charset="utf-8"><title>wirecall page bench</title><script type="module" src="/entry.js"></script>\n'

const page = createServer((req, res) => {
  if (req.url === '/entry.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
  else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html)
  else res.writeHead(404).end()
})
await new Promise((resolve, reject) => {
  page.once('error', reject)
  page.listen(0, host, resolve)
})
const pagePort = page.address().port
const servers = {
  raw: await raw.startServer({ host }),
  wirecall: await wirecall.startServer({ host, allowedOrigins: [`http://${host}:${pagePort}`] }),
}
process.stdout.write(`PORTS ${JSON.stringify({ page: pagePort, raw: servers.raw.port, wirecall: servers.wirecall.port })}\n`)

serveIpc(async (fn, args) => {
  if (fn === 'ping') return 'pong'
  if (fn === 'close') {
    await Promise.all(Object.values(servers).map((s) => s.close()))
    page.closeAllConnections?.()
    page.close()
    setImmediate(() => process.exit(0))
    return null
  }
  // The server-driven halves (callback pushes, notification fan-out) of one implementation.
  if (fn === 'callbackPipelined' || fn === 'fanout') return servers[args.impl][fn](args)
  throw new Error(`page server: unknown command ${fn}`)
})
