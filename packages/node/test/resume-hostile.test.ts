/**
 * Hostile clients against resumable sessions, with the server in a child
 * process (Node's default unhandled-rejection behaviour: a crash shows as an
 * exit): bogus resume frames, huge counts, acks for frames never sent,
 * silent handshakes, clients that never acknowledge, and resume storms.
 */
import { expect, test } from 'vitest'
import { WebSocket } from 'ws'
import { encodeControl, parseControl, RESUME_PROTOCOL, ResumeFrame, type Control } from '@wirecall/core/internal'
import { startChildServer, type ChildServer } from './child-harness.js'
import { connectTo, encode, sleep, until } from './helpers.js'

/** A raw client of the resume protocol: sends what it is told, records what comes back. */
class RawResume {
  readonly frames: Buffer[] = []
  closed = false
  closeCode = 0
  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data: Buffer) => void this.frames.push(data))
    ws.on('error', () => {})
    ws.on('close', (code) => {
      this.closed = true
      this.closeCode = code
    })
  }

  static async open(url: string): Promise<RawResume> {
    const ws = new WebSocket(url, [RESUME_PROTOCOL], { perMessageDeflate: false })
    const raw = new RawResume(ws)
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    expect(ws.protocol).toBe(RESUME_PROTOCOL)
    return raw
  }

  send(bytes: Uint8Array | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes)
  }

  hello(token: string | null, received = 0): void {
    this.send(encodeControl({ kind: ResumeFrame.HELLO, token, received }))
  }

  async first(): Promise<Control | undefined> {
    await until(() => this.frames.length > 0 || this.closed, 5000, 'an answer or a close')
    return this.frames[0] ? parseControl(this.frames[0]) : undefined
  }

  kill(): void {
    this.ws.terminate()
  }
}

/** The server still answers a plain client, and is alive. */
async function stillServes(child: ChildServer): Promise<void> {
  expect(child.isAlive()).toBe(true)
  const client = await connectTo<{ add(a: number, b: number): number }>(child.url)
  expect(await client.remote.add(2, 3)).toBe(5)
  await client.close()
}

test('bogus first frames, malformed control frames and huge counts are refused; the server survives', { timeout: 60_000 }, async () => {
  const child = await startChildServer({ resume: true, logger: 'silent', limits: { handshakeTimeoutMs: 500 } })
  const bogus: (Uint8Array | string)[] = [
    encode([0, 1, 'add', [1, 2]]),                  // a request before any HELLO
    '{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}',
    Uint8Array.from([0x94, 0xff]),                  // truncated control frame
    Uint8Array.from([0x94, 0xff, 0x63, 0xc0, 0x00]), // unknown kind 99
    encode([-1, 0, 12345, 0]),                      // token not a string
    encode([-1, 0, 'x'.repeat(10_000), 0]),          // token far too long
    encode([-1, 0, null, -5]),                       // negative count
    encode([-1, 0, null, 1.5]),                      // fractional count
    encode([-1, 0, null, 2 ** 64]),                  // count beyond 2^53
    encode([-1, 3, 10]),                             // an ACK instead of a HELLO
    new Uint8Array(0),
  ]
  for (const frame of bogus) {
    const raw = await RawResume.open(child.url)
    raw.send(frame)
    await until(() => raw.closed, 5000, 'the server to close a bogus handshake')
    expect(raw.frames).toEqual([])
  }
  // A HELLO with an unknown token and an enormous count: a fresh session, told why.
  const huge = await RawResume.open(child.url)
  huge.hello('nope', Number.MAX_SAFE_INTEGER)
  expect(await huge.first()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: 'unknown' })
  huge.kill()
  // A link that never says HELLO is closed at the handshake deadline.
  const silent = await RawResume.open(child.url)
  await until(() => silent.closed, 5000, 'the handshake deadline')
  await stillServes(child)
  const stats = await child.stats()
  expect(stats.server.resumeRefusals).toBe(1)
})

test('acks for frames never sent, and bogus frames mid-session, end that session only', { timeout: 60_000 }, async () => {
  const child = await startChildServer({ resume: true, logger: 'silent' })
  const attacks: Uint8Array[] = [
    encode([-1, 3, 1_000_000]),          // ack of frames never sent
    encode([-1, 3, Number.MAX_SAFE_INTEGER]),
    encode([-1, 3, -1]),                 // malformed ack
    encode([-1, 0, null, 0]),            // a second HELLO mid-session
    encode([-1, 2, 'tok', 0]),           // a server-only frame from a client
  ]
  for (const attack of attacks) {
    const raw = await RawResume.open(child.url)
    raw.hello(null)
    expect(await raw.first()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: null })
    raw.send(encode([0, 1, 'add', [1, 2]]))
    await until(() => raw.frames.length >= 2, 3000, 'the answer')
    raw.send(attack)
    await until(() => raw.closed, 3000, 'the session to end')
    expect(raw.closeCode).toBe(1002)
  }
  await sleep(100)
  const stats = await child.stats()
  expect(stats.server.parkedSessions).toBe(0) // a violation ends the session; nothing is parked for it
  await stillServes(child)
})

test('a client that never acknowledges cannot grow the replay buffer past maxReplayBytes; it just loses the ability to resume', { timeout: 60_000 }, async () => {
  const child = await startChildServer({ resume: true, logger: 'silent', limits: { maxReplayBytes: 256 * 1024 } })
  const before = await child.gc()
  const raw = await RawResume.open(child.url)
  raw.hello(null)
  const welcome = await raw.first()
  const blob = new Uint8Array(64 * 1024)
  // 32 MiB of answers that are never acknowledged.
  for (let i = 0; i < 512; i++) raw.send(encode([0, i, 'echo', [blob]]))
  await until(() => raw.frames.length >= 513, 30_000, 'every answer')
  const after = await child.gc()
  expect(after.memory.heapUsed - before.memory.heapUsed).toBeLessThan(8 * 2 ** 20)
  raw.kill()
  await sleep(200)
  // Not resumable any more: the drop ended the session instead of parking 32 MiB.
  const stats = await child.stats()
  expect(stats.server.parkedSessions).toBe(0)
  const back = await RawResume.open(child.url)
  back.hello((welcome as { token: string }).token, 513)
  expect(await back.first()).toMatchObject({ kind: ResumeFrame.WELCOME, lost: 'unknown' })
  back.kill()
  await stillServes(child)
})

test('a resume storm: 200 simultaneous HELLOs with one token and 500 with forged ones; exactly one resumes', { timeout: 60_000 }, async () => {
  const child = await startChildServer({ resume: true, logger: 'silent' })
  const victim = await RawResume.open(child.url)
  victim.hello(null)
  const token = ((await victim.first()) as { token: string }).token
  victim.kill()
  for (let i = 0; i < 100 && (await child.stats()).server.parkedSessions !== 1; i++) await sleep(50)
  expect((await child.stats()).server.parkedSessions).toBe(1)
  const storm = await Promise.all(Array.from({ length: 200 }, () => RawResume.open(child.url)))
  for (const raw of storm) raw.hello(token, 0)
  const answers = await Promise.all(storm.map((raw) => raw.first()))
  expect(answers.filter((a) => a?.kind === ResumeFrame.RESUMED)).toHaveLength(1)
  expect(answers.filter((a) => a?.kind === ResumeFrame.WELCOME && a.lost === 'unknown')).toHaveLength(199)
  for (const raw of storm) raw.kill()
  for (let round = 0; round < 5; round++) {
    const forged = await Promise.all(Array.from({ length: 100 }, () => RawResume.open(child.url)))
    for (const raw of forged) raw.hello(Math.random().toString(36).slice(2).padEnd(32, 'x'), Math.floor(Math.random() * 1e9))
    await Promise.all(forged.map((raw) => raw.first()))
    for (const raw of forged) raw.kill()
  }
  await sleep(200)
  const stats = await child.stats()
  expect(stats.server.resumes).toBe(1)
  expect(stats.server.resumeRefusals).toBe(699)
  // Every storm session was fresh and parked; each is bounded (maxParkedSessions) and ends with the grace window.
  expect(stats.server.parkedSessions).toBeLessThanOrEqual(701)
  expect(stats.server.parkedBytes).toBeLessThan(2 ** 20)
  await stillServes(child)
})
