/**
 * The demo's static file server: content types, caching headers, and no way
 * out of demo/dist. Raw node:http requests so that dot segments and encoded
 * slashes reach the server exactly as written.
 */
import { request } from 'node:http'
import { expect, test } from '../support/fixtures.js'

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function get(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, timeout: 5_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)))
    req.on('error', reject)
    req.end()
  })
}

test.describe('demo static server', () => {
  test('serves the built page with the right content types', async ({ demo }) => {
    const index = await get(demo.port, '/')
    expect(index.status).toBe(200)
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(index.headers['cache-control']).toBe('no-cache')
    expect(index.body).toContain('<div id="chart-cpu"')

    const assets = [...index.body.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true)
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true)
    for (const asset of assets) {
      const r = await get(demo.port, asset)
      expect(r.status, asset).toBe(200)
      expect(r.headers['content-type'], asset).toBe(
        asset.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
      )
      expect(r.headers['cache-control'], asset).toContain('immutable')
      expect(r.headers['x-content-type-options']).toBe('nosniff')
    }

    const head = await get(demo.port, '/index.html', 'HEAD')
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
    expect(Number(head.headers['content-length'])).toBeGreaterThan(100)

    expect((await get(demo.port, '/healthz')).body).toBe('ok\n')
    expect((await get(demo.port, '/no-such-file.js')).status).toBe(404)
    expect((await get(demo.port, '/', 'POST')).status).toBe(405)
    expect((await get(demo.port, '/rpc')).status).toBe(426)
  })

  test('refuses to leave demo/dist', async ({ demo }) => {
    const attempts = [
      '/../package.json',
      '/../server.ts',
      '/assets/../../server.ts',
      '/%2e%2e/package.json',
      '/%2E%2E%2Fserver.ts',
      '/..%2fserver.ts',
      '/..%5cserver.ts',
      '/assets/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/%00index.html',
      '/index.html%00.css',
      '/%E0%A4%A',
      '//etc/passwd',
      '/etc/passwd',
    ]
    for (const path of attempts) {
      const r = await get(demo.port, path)
      expect([400, 403, 404], `${path} -> ${r.status}`).toContain(r.status)
      expect(r.body, path).not.toContain('"name"')
      expect(r.body, path).not.toContain('root:')
    }
  })
})
