/**
 * Handshake admission over real sockets: what `authenticate` must return to
 * let a connection in, and the Origin/Host checks (cross-site WebSocket
 * hijacking, DNS rebinding).
 */
import { describe, expect, test } from 'vitest'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpServer } from 'node:http'
import { service, withContext } from '@wirecall/core'
import { HOST, RawClient, capture, connectTo, startServer, trackHttp, urlOf } from './helpers.js'

const api = service({
  ping: () => 'pong',
  whoami: withContext((ctx) => ({ identity: ctx.identity })),
})

/** The error of a handshake that must be refused; fails the test if it was accepted. */
async function refusal(attempt: Promise<unknown>): Promise<Error> {
  try {
    await attempt
  } catch (err) {
    return err as Error
  }
  throw new Error('the handshake was accepted')
}

describe('authenticate: only a truthy identity admits', () => {
  const falsy: [string, unknown][] = [
    ['undefined', undefined], ['null', null], ['false', false], ['0', 0], ['-0', -0],
    ["''", ''], ['NaN', NaN], ['0n', 0n],
  ]
  test.each(falsy)('%s is refused with 401, returned or resolved', async (_label, value) => {
    let asked = 0
    const sync = await startServer({ service: api, authenticate: () => (++asked, value) })
    expect((await refusal(RawClient.open(urlOf(sync)))).message).toContain('401')
    const async = await startServer({ service: api, authenticate: async () => (++asked, value) })
    expect((await refusal(connectTo(async))).message).toContain('401')
    expect(asked).toBe(2)
    expect(sync.connections.size + async.connections.size).toBe(0)
  })

  test('`token && lookup(token)` with an empty header refuses instead of admitting identity \'\'', async () => {
    const lookup = (token: string) => ({ user: token.slice(7) })
    const server = await startServer({ service: api, authenticate: (req) => req.headers.authorization && lookup(req.headers.authorization) })
    expect((await refusal(connectTo(server, { headers: { authorization: '' } }))).message).toContain('401')
    expect((await refusal(connectTo(server))).message).toContain('401')
    const ann = await connectTo<typeof api>(server, { headers: { authorization: 'Bearer ann' } })
    expect(await ann.remote.whoami()).toEqual({ identity: { user: 'ann' } })
  })

  test.each([['an object', { user: 'ann' }], ['a string', 'ann'], ['a number', 42], ['true', true], ['-1', -1]])(
    '%s admits and is the identity',
    async (_label, value) => {
      const server = await startServer({ service: api, authenticate: () => value })
      const client = await connectTo<typeof api>(server)
      expect(await client.remote.whoami()).toEqual({ identity: value })
    },
  )
})

describe('Host check against DNS rebinding', () => {
  test('a loopback server refuses a foreign Host even when the Origin matches it (403, logged)', async () => {
    const logger = capture()
    const server = await startServer({ service: api, logger })
    const rebound = `rebind.evil.example:${server.port}`
    const err = await refusal(RawClient.open(urlOf(server), { headers: { host: rebound, origin: `http://${rebound}` } }))
    expect(err.message).toContain('403')
    // Without Origin too: the Host is what DNS rebinding forges.
    expect((await refusal(RawClient.open(urlOf(server), { headers: { host: rebound } }))).message).toContain('403')
    expect(logger.text()).toContain('refused a WebSocket for host rebind.evil.example')
    expect(server.connections.size).toBe(0)
  })

  test('a server listening on every interface checks the Host of connections that came in on loopback', async () => {
    // The listening address decides for a server bound to one address; a wildcard bind asks each socket.
    const server = await startServer({ service: api, host: '0.0.0.0' })
    const rebound = `rebind.evil.example:${server.port}`
    expect((await refusal(RawClient.open(urlOf(server), { headers: { host: rebound } }))).message).toContain('403')
    const raw = await RawClient.open(urlOf(server))
    expect(await raw.call(1, 'ping', [])).toEqual([1, 1, null, 'pong'])
    await raw.terminate()
  })

  test('local names pass: IP literals, localhost, *.localhost', async () => {
    const server = await startServer({ service: api })
    for (const name of ['127.0.0.1', 'localhost', 'LOCALHOST', 'app.localhost', '[::1]']) {
      const host = `${name}:${server.port}`
      const raw = await RawClient.open(urlOf(server), { headers: { host, origin: `http://${host}` } })
      expect(await raw.call(1, 'ping', []), host).toEqual([1, 1, null, 'pong'])
      await raw.terminate()
    }
  })

  test('allowedHosts adds names (a leading dot allows subdomains); \'all\' turns the check off', async () => {
    const server = await startServer({ service: api, allowedHosts: ['dev.example', '.app.example'] })
    for (const name of ['dev.example', 'app.example', 'a.b.app.example', 'localhost']) {
      const host = `${name}:${server.port}`
      const raw = await RawClient.open(urlOf(server), { headers: { host, origin: `http://${host}` } })
      expect(await raw.call(1, 'ping', []), host).toEqual([1, 1, null, 'pong'])
      await raw.terminate()
    }
    for (const name of ['evil.example', 'xapp.example', 'dev.example.evil']) {
      const host = `${name}:${server.port}`
      expect((await refusal(RawClient.open(urlOf(server), { headers: { host, origin: `http://${host}` } }))).message, host).toContain('403')
    }
    const open = await startServer({ service: api, allowedHosts: 'all' })
    const host = `rebind.evil.example:${open.port}`
    const raw = await RawClient.open(urlOf(open), { headers: { host, origin: `http://${host}` } })
    expect(await raw.call(1, 'ping', [])).toEqual([1, 1, null, 'pong'])
  })
})

describe('Origin check', () => {
  test('an allowedOrigins list still admits clients that send no Origin (Node, Python)', async () => {
    const server = await startServer({ service: api, allowedOrigins: ['https://app.example'] })
    const node = await connectTo<typeof api>(server)
    expect(await node.remote.ping()).toBe('pong')
    const raw = await RawClient.open(urlOf(server))
    expect(await raw.call(1, 'ping', [])).toEqual([1, 1, null, 'pong'])
    expect((await refusal(RawClient.open(urlOf(server), { headers: { origin: 'https://evil.example' } }))).message).toContain('403')
    // A browser always sends Origin; `null` (sandboxed frame, file:) is not a listed origin.
    expect((await refusal(RawClient.open(urlOf(server), { headers: { origin: 'null' } }))).message).toContain('403')
  })

  test('same origin by default: scheme, host and port; default ports written out compare equal', async () => {
    const server = await startServer({ service: api })
    const port = server.port
    const ok = [`http://127.0.0.1:${port}`, `HTTP://127.0.0.1:${port}`, `https://127.0.0.1:${port}`]
    for (const origin of ok) {
      const raw = await RawClient.open(urlOf(server), { headers: { origin } })
      expect(await raw.call(1, 'ping', []), origin).toEqual([1, 1, null, 'pong'])
      await raw.terminate()
    }
    const refused = [`ws://127.0.0.1:${port}`, `ftp://127.0.0.1:${port}`, `http://localhost:${port}`, `http://127.0.0.1:${port + 1}`, 'null']
    for (const origin of refused) {
      expect((await refusal(RawClient.open(urlOf(server), { headers: { origin } }))).message, origin).toContain('403')
    }
    // Host `localhost:80` and Origin `http://localhost` are the same origin.
    const raw = await RawClient.open(urlOf(server), { headers: { host: 'localhost:80', origin: 'http://localhost' } })
    expect(await raw.call(1, 'ping', [])).toEqual([1, 1, null, 'pong'])
  })

  test('over TLS an http: page is refused; an https: page of the same host and port is accepted', async () => {
    const https = createHttpsServer({ key: TEST_KEY, cert: TEST_CERT })
    trackHttp(https as unknown as HttpServer)
    const port = await new Promise<number>((resolve) => https.listen(0, HOST, () => resolve((https.address() as { port: number }).port)))
    await startServer({ service: api, server: https })
    const url = `wss://${HOST}:${port}`
    expect((await refusal(RawClient.open(url, { rejectUnauthorized: false, headers: { origin: `http://${HOST}:${port}` } }))).message).toContain('403')
    const raw = await RawClient.open(url, { rejectUnauthorized: false, headers: { origin: `https://${HOST}:${port}` } })
    expect(await raw.call(1, 'ping', [])).toEqual([1, 1, null, 'pong'])
  })
})

/** A self-signed P-256 certificate for 127.0.0.1/localhost (valid until 2126), for the TLS test only. */
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBrdhWUTpdyE/2nTs
C7jqXkT3GKElop1CObGK24QSYsuhRANCAAQ4f/d32Ax8rHlOK+Eac8kWSXBMpTFn
rCW9FOXOZ745oQMxn11Z17YoB40ZmMe+4vbfvy8PMhtZsmwVlLTyg2B9
-----END PRIVATE KEY-----
`
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUBJQjOvMtlG07AQKyoh/x8RFUimMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwMjAzMzU0N1oYDzIxMjYxMTA4
MDMzNTQ3WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQ4f/d32Ax8rHlOK+Eac8kWSXBMpTFnrCW9FOXOZ745oQMxn11Z17Yo
B40ZmMe+4vbfvy8PMhtZsmwVlLTyg2B9o28wbTAdBgNVHQ4EFgQUgipazHDhOiqb
KWTjfY4xfLYRicEwHwYDVR0jBBgwFoAUgipazHDhOiqbKWTjfY4xfLYRicEwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIhAJPeb93SOiYy5pK/6jaaLlmIwjqsj6bJPOgbDCVUrujjAiBr
qWo+KfQoFMoKYoggJ6+pfFrbQTYCGHGoXhpSel443A==
-----END CERTIFICATE-----
`
