/**
 * Hardening, over real sockets: each attack that crashed, stalled
 * or exhausted a server, with its figure asserted. Where the failure was a
 * process exit, the server runs in a child process with Node's default
 * unhandled-rejection behaviour (child-harness.ts), so a crash shows.
 * Security items (authentication, Host/Origin, error redaction) are in
 * security.test.ts; dead-peer detection in heartbeat.test.ts.
 */
import { describe, expect, test } from 'vitest'
import { WebSocket } from 'ws'
import { ExtData as RawExt, decode as decodeRaw, encode as encodeRaw } from '@msgpack/msgpack'
import { ErrorCode, OverloadedError, ShuttingDownError, service, withContext, type CallContext } from '@wirecall/core'
import type { Connection } from '../src/index.js'
import { startChildServer } from './child-harness.js'
import { RawClient, capture, connectTo, deferred, encode, skipReferenceCheck, sleep, startServer, until, urlOf, within } from './helpers.js'

describe('1: one frame must not kill the server', () => {
  test('add(fnRef, 2) computes `a + b` locally, and the server survives the client leaving', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const client = await connectTo<{ add(a: unknown, b: number): Promise<unknown> }>(child.url)
    expect(await client.remote.add(() => 1, 2)).toBe('[wirecall remote (root)]2')
    await client.close()
    // Before the fix the server had sent `#1.valueOf` to the client and dropped the promise:
    // its rejection (the client left) was unhandled and ended the process.
    await sleep(300)
    expect(child.isAlive()).toBe(true)
    const again = await connectTo<{ add(a: number, b: number): Promise<number> }>(child.url)
    expect(await again.remote.add(3, 4)).toBe(7)
  })

  test('a callback called every 10 ms and never awaited (README pattern) leaves no unhandled rejection when the page leaves', async () => {
    const unhandled: unknown[] = []
    const record = (reason: unknown) => void unhandled.push(reason)
    process.on('unhandledRejection', record)
    let timer: NodeJS.Timeout | undefined
    try {
      const server = await startServer({
        service: service({ subscribe: (onTick: (n: number) => unknown) => { let n = 0; timer = setInterval(() => onTick(++n), 10) } }),
      })
      const client = await connectTo<{ subscribe(fn: (n: number) => void): Promise<void> }>(server)
      const ticks: number[] = []
      await client.remote.subscribe((n) => void ticks.push(n))
      await until(() => ticks.length >= 2)
      await client.close()
      await sleep(100) // ten more forgotten calls on a closed connection
      expect(unhandled).toEqual([])
    } finally {
      clearInterval(timer)
      process.off('unhandledRejection', record)
    }
  })
})

describe('2: one JSON-RPC batch must not exhaust the server', () => {
  test('a 16 MiB batch frame of 8.4M entries is refused with one small answer; the server stays responsive', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const before = await child.gc()
    const raw = await RawClient.open(child.url, { maxPayload: 64 * 1024 * 1024 })
    const text = `[${'1,'.repeat(8 * 1024 * 1024 - 2)}1]` // just under 16 MiB (maxFrameBytes)
    const started = Date.now()
    raw.sendText(text)
    const answer = await raw.next(20_000)
    const took = Date.now() - started
    expect(answer.binary).toBe(false)
    expect((answer as { text: string }).text.length).toBeLessThan(400)
    expect((answer.value as { error: { code: number; message: string } }).error).toMatchObject({ code: -32600, message: expect.stringContaining('maxBatchLength') })
    expect(took).toBeLessThan(10_000)
    const after = await child.stats()
    // Figures for the closing note: time to answer, RSS growth while parsing.
    console.info(`16 MiB batch: answered in ${took} ms; child RSS ${(before.memory.rss / 2 ** 20).toFixed(0)} -> ${(after.memory.rss / 2 ** 20).toFixed(0)} MiB`)
    expect(after.memory.rss - before.memory.rss).toBeLessThan(100 * 2 ** 20)
    expect((await raw.call(2, 'add', [3, 4]))[3]).toBe(7)
  }, 30_000)
})

describe('3: a client that never reads cannot grow server memory without bound', () => {
  const blob = new Uint8Array(64 * 1024)

  test('past sendHighWaterMark the server stops reading the client until it drains; nothing is lost', async () => {
    let produced = 0
    const server = await startServer({
      service: service({ blob: () => (produced++, blob) }),
      limits: { sendHighWaterMark: 1024 * 1024, maxSendBufferBytes: 256 * 1024 * 1024 },
    })
    const ws = new WebSocket(urlOf(server), { perMessageDeflate: false })
    let socket!: import('node:net').Socket
    ws.once('upgrade', (res) => (socket = res.socket as import('node:net').Socket))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    let received = 0
    ws.on('message', () => received++)
    socket.pause() // the client stops reading
    const requests = 2000 // 125 MiB of replies if the server kept answering
    for (let i = 1; i <= requests; i++) ws.send(encode([0, i, 'blob', []]))
    await sleep(500)
    const whilePaused = produced
    console.info(`client not reading: server produced ${whilePaused} of ${requests} 64 KiB replies (${(whilePaused * 64 / 1024).toFixed(1)} MiB) before it stopped reading`)
    // Kernel socket buffers on both ends plus the 1 MiB high-water mark, not 125 MiB.
    expect(whilePaused).toBeLessThan(400)
    socket.resume()
    await until(() => received === requests, 20_000, 'every reply after the client reads again')
    expect(produced).toBe(requests)
    ws.terminate()
  }, 30_000)

  test('past maxSendBufferBytes (pushes the client never reads) the connection is closed with 1008', async () => {
    let conn: Connection | undefined
    const server = await startServer({ service: service({}), limits: { sendHighWaterMark: 256 * 1024, maxSendBufferBytes: 4 * 1024 * 1024 }, onConnection: (c) => void (conn = c) })
    const raw = await RawClient.open(urlOf(server))
    raw.socket.pause()
    await until(() => conn !== undefined)
    const reason = new Promise<Error | undefined>((resolve) => conn!.onClose(resolve))
    let pushed = 0
    while (!conn!.closed && pushed < 4000) {
      ;(conn!.notify as unknown as { push(b: Uint8Array): void }).push(blob)
      pushed++
      if (pushed % 16 === 0) await sleep(0) // the check runs once per tick
    }
    const why = await within(reason, 2000, 'the connection to close')
    expect(why?.message).toContain('maxSendBufferBytes')
    expect(why?.message).toContain('1008')
    console.info(`pushes to a client that never reads: closed after ${(pushed * 64 / 1024).toFixed(1)} MiB pushed`)
    expect(pushed).toBeLessThan(4000)
    await raw.terminate()
  }, 20_000)
})

describe('4: server-wide limits', () => {
  test('maxConnections: one more handshake is refused with 503', async () => {
    const logger = capture()
    const server = await startServer({ service: service({ ping: () => 'pong' }), limits: { maxConnections: 2 }, logger })
    await RawClient.open(urlOf(server))
    await RawClient.open(urlOf(server))
    await expect(RawClient.open(urlOf(server))).rejects.toThrow('HTTP 503')
    expect(logger.text()).toContain('maxConnections (2)')
  })

  test('maxServerInFlightCalls bounds slow handlers across connections', async () => {
    const gate = deferred()
    const server = await startServer({ service: service({ hold: () => gate.promise }), limits: { maxServerInFlightCalls: 3 } })
    const a = await connectTo<{ hold(): Promise<void> }>(server)
    const b = await connectTo<{ hold(): Promise<void> }>(server)
    const held = [a.remote.hold(), a.remote.hold(), b.remote.hold()]
    await until(() => [...server.connections].reduce((n, c) => n + c.stats().inFlightCalls, 0) === 3)
    const refused = await b.remote.hold().catch((e: Error) => e)
    expect(refused).toBeInstanceOf(OverloadedError)
    expect((refused as Error).message).toContain('maxServerInFlightCalls = 3')
    gate.resolve()
    await Promise.all(held)
  })

  test('maxServerRefs bounds references across connections', async () => {
    skipReferenceCheck() // the handler keeps the proxies until GC, on purpose
    const server = await startServer({ service: service({ take: (..._fns: unknown[]) => 'ok' }), limits: { maxServerRefs: 3 } })
    const a = await connectTo<{ take(...fns: unknown[]): Promise<string> }>(server)
    const b = await connectTo<{ take(...fns: unknown[]): Promise<string> }>(server)
    const keep = [() => 1, () => 2, () => 3]
    expect(await a.remote.take(...keep)).toBe('ok')
    const refused = await b.remote.take(() => 4).catch((e: Error) => e)
    expect(refused).toBeInstanceOf(OverloadedError)
    await a.close()
    await until(() => server.connections.size === 1)
    expect(await b.remote.take(() => 4)).toBe('ok')
  })
})

describe('9: a client cannot flood the server log', () => {
  test('10,000 notifications to a throwing handler write at most 20 lines, then a summary', async () => {
    const logger = capture()
    const server = await startServer({ service: service({ bad: () => { throw new Error('nope') } }), logger })
    const raw = await RawClient.open(urlOf(server))
    for (let i = 0; i < 10_000; i++) raw.send([2, 'bad', []])
    expect((await raw.call(1, 'bad', []))[2]).toMatchObject({ message: 'nope' }) // all notifications were handled before
    expect(logger.warnings.length).toBe(20)
    await raw.terminate()
    await until(() => server.connections.size === 0)
    expect(logger.text()).toContain('9980 more log lines')
  })
})

describe('10: duplicate request ids', () => {
  test('a request reusing a running id gets ProtocolError; the running handler is aborted on disconnect', async () => {
    const signals: AbortSignal[] = []
    const server = await startServer({
      service: service({ wait: withContext((ctx: CallContext) => new Promise<void>((resolve) => {
        signals.push(ctx.signal)
        ctx.signal.addEventListener('abort', () => resolve())
      })) }),
    })
    const raw = await RawClient.open(urlOf(server))
    raw.send([0, 9, 'wait', []])
    const answer = await raw.call(9, 'wait', [])
    expect(answer[2]).toMatchObject({ name: 'ProtocolError', code: ErrorCode.PROTOCOL, message: expect.stringContaining('already in use') })
    expect(signals).toHaveLength(1)
    await raw.terminate()
    await until(() => signals.every((s) => s.aborted) && server.connections.size === 0)
  })
})

describe('12: shutdown refuses new calls', () => {
  test('during server.close(), running calls finish and new ones get ShuttingDownError', async () => {
    const gate = deferred<string>()
    const server = await startServer({ service: service({ hold: () => gate.promise, add: (a: number, b: number) => a + b }) })
    const client = await connectTo<{ hold(): Promise<string>; add(a: number, b: number): Promise<number> }>(server)
    const running = client.remote.hold()
    await until(() => [...server.connections][0]?.stats().inFlightCalls === 1)
    const closed = server.close()
    const refused = await client.remote.add(1, 2).catch((e: Error) => e)
    expect(refused).toBeInstanceOf(ShuttingDownError)
    expect((refused as ShuttingDownError).code).toBe('WIRECALL_SHUTTING_DOWN')
    gate.resolve('finished')
    expect(await running).toBe('finished')
    await closed
  })
})

describe('13: callScoped handlers cannot be made to hold references', () => {
  test('a client floods one with references, never answers its callbacks, and leaves: nothing kept, no crash', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const raw = await RawClient.open(child.url)
    const ref = (id: number) => new RawExt(64, new Uint8Array([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]))
    // 500 calls, each with 20 callbacks (the same first one, and 19 of its own).
    for (let i = 0; i < 500; i++) {
      raw.sendBytes(encodeRaw([0, i + 1, 'scopedCallback', [ref(1), ...Array.from({ length: 19 }, (_, k) => ref(100 + i * 19 + k))]]))
    }
    // The server calls back #1 once per call; the client never answers, so every handler waits.
    const callbacks = () => raw.frames.filter((f) => f.binary && (decodeRaw(f.bytes) as unknown[])[0] === 0).length
    await until(() => callbacks() === 500, 5000, 'the server to call back 500 times')
    const held = (await child.stats()).connectionStats[0]!
    expect(held.inFlightCalls).toBe(500)
    expect(held.importedRefs).toBe(1 + 500 * 19)
    // Leaving: every waiting callback call rejects with ConnectionClosedError inside its handler.
    await raw.terminate()
    await sleep(300)
    expect(child.isAlive()).toBe(true)
    expect((await child.stats()).connectionStats).toEqual([])
    // A client that answers gets every reference back as each call settles.
    const polite = await RawClient.open(child.url)
    for (let i = 0; i < 50; i++) polite.sendBytes(encodeRaw([0, i + 1, 'scopedCallback', [ref(1), ref(2)]]))
    const answered = new Set<number>()
    await until(() => {
      for (const f of polite.frames) {
        if (!f.binary) continue
        const m = decodeRaw(f.bytes) as unknown[]
        if (m[0] === 0 && !answered.has(m[1] as number)) {
          answered.add(m[1] as number)
          polite.sendBytes(encodeRaw([1, m[1], null, 'ok']))
        }
      }
      return polite.frames.filter((f) => f.binary && (decodeRaw(f.bytes) as unknown[])[0] === 1).length === 50
    }, 5000, '50 answers')
    const given = new Map<number, number>()
    await until(() => {
      given.clear()
      for (const f of polite.frames) {
        const m = f.binary ? (decodeRaw(f.bytes) as unknown[]) : []
        if (m[0] !== 4) continue
        const pairs = m[1] as number[]
        for (let k = 0; k < pairs.length; k += 2) given.set(pairs[k]!, (given.get(pairs[k]!) ?? 0) + pairs[k + 1]!)
      }
      return given.get(1) === 50 && given.get(2) === 50
    }, 5000, 'every copy given back')
    expect((await child.stats()).connectionStats[0]).toMatchObject({ importedRefs: 0, inFlightCalls: 0 })
    expect(child.isAlive()).toBe(true)
  }, 30_000)
})
