/**
 * The resume layer on its own (resume.ts): two `ResumableTransport`s over a
 * series of in-memory links that fail at random. Every frame must reach the
 * other side exactly once and in order, whatever was in flight at each
 * failure; the replay buffers must stay within their limits and empty once
 * acknowledged; control frames round-trip and malformed ones are refused.
 */
import { describe, expect, test } from 'vitest'
import {
  ACK_EVERY, ResumableTransport, ResumeFrame, createMemoryPair, encodeControl, isControl, parseControl,
  type Control, type MemoryTransport,
} from '../src/internal.js'
import type { TransportReceiver } from '../src/index.js'

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

/** A receiver that records what its session would see. */
function recorder() {
  const got: string[] = []
  const state = { closed: false, reason: undefined as Error | undefined }
  const receiver: TransportReceiver = {
    message: (frame) => void got.push(typeof frame === 'string' ? frame : new TextDecoder().decode(frame)),
    closed: (reason) => {
      state.closed = true
      state.reason = reason
    },
  }
  return { got, state, receiver }
}

/** Two ends; `relink()` attaches a fresh in-memory link with each end's count, as a HELLO/RESUMED exchange would. */
function pair(limits = { maxReplayBytes: 1 << 20, maxReplayFrames: 100_000 }) {
  let lost = 0
  const events = { linkLost: () => void lost++ }
  const a = new ResumableTransport(limits, events)
  const b = new ResumableTransport(limits, events)
  const ra = recorder()
  const rb = recorder()
  a.start(ra.receiver)
  b.start(rb.receiver)
  let link: [MemoryTransport, MemoryTransport] | undefined
  const relink = () => {
    expect(a.canResumeFrom(b.received)).toBe(true)
    expect(b.canResumeFrom(a.received)).toBe(true)
    link = createMemoryPair()
    const aSaw = b.received
    const bSaw = a.received
    a.attach(link[0], aSaw)
    b.attach(link[1], bSaw)
  }
  return { a, b, ra, rb, relink, fail: () => link?.[0].fail(new Error('cut')), lost: () => lost }
}

describe('ResumableTransport', () => {
  test('frames cross once and in order across 30 random link failures, both ways', async () => {
    const { a, b, ra, rb, relink, fail, lost } = pair()
    relink()
    let sentA = 0
    let sentB = 0
    let seed = 7
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let round = 0; round < 30; round++) {
      const burst = Math.floor(random() * 200)
      for (let i = 0; i < burst; i++) {
        a.send(new TextEncoder().encode(`a${sentA++}`))
        if (random() < 0.5) b.send(`b${sentB++}`)
        if (random() < 0.05) await tick() // let some frames (and acks) arrive before the cut
      }
      fail()
      // Sent while parked: buffered, counted.
      for (let i = 0; i < 10; i++) a.send(new TextEncoder().encode(`a${sentA++}`))
      await tick()
      relink()
      await tick()
    }
    await tick()
    expect(lost()).toBe(60)
    expect(rb.got).toEqual(Array.from({ length: sentA }, (_, i) => `a${i}`))
    expect(ra.got).toEqual(Array.from({ length: sentB }, (_, i) => `b${i}`))
    expect(ra.state.closed || rb.state.closed).toBe(false)
  })

  test('acks empty the replay buffer; unacknowledged frames are bounded, and past the bound the session cannot resume', async () => {
    const { a, b, relink, fail } = pair({ maxReplayBytes: 10_000, maxReplayFrames: 1000 })
    relink()
    for (let i = 0; i < ACK_EVERY * 3; i++) a.send(new Uint8Array(10))
    await tick()
    await tick()
    expect(a.bufferedReplayBytes).toBe(0) // acked every ACK_EVERY frames
    expect(b.received).toBe(ACK_EVERY * 3)
    // A peer that never acks (the link is cut before anything arrives): the buffer stops at its limit.
    fail()
    await tick()
    for (let i = 0; i < 999; i++) a.send(new Uint8Array(10))
    expect(a.bufferedReplayBytes).toBe(9990)
    expect(a.resumable).toBe(true)
    a.send(new Uint8Array(100)) // past maxReplayBytes while parked: the session ends
    expect(a.resumable).toBe(false)
    expect(a.isEnded).toBe(true)
    expect(a.bufferedReplayBytes).toBe(0)
  })

  test('a count outside the buffer cannot resume', () => {
    const { a, relink } = pair()
    relink()
    for (let i = 0; i < 5; i++) a.send('x')
    expect(a.canResumeFrom(0)).toBe(true)
    expect(a.canResumeFrom(5)).toBe(true)
    expect(a.canResumeFrom(6)).toBe(false) // more than was ever sent
    expect(a.canResumeFrom(-1)).toBe(false)
  })

  test('an ack of frames never sent is a violation: the session ends and the link closes', async () => {
    const violations: string[] = []
    const a = new ResumableTransport({ maxReplayBytes: 1000, maxReplayFrames: 10 }, { linkLost() {}, violation: (r) => void violations.push(r) })
    const r = recorder()
    a.start(r.receiver)
    const [near, far] = createMemoryPair()
    a.attach(near, 0)
    far.start({ message() {}, closed() {} })
    far.send(encodeControl({ kind: ResumeFrame.ACK, received: 5 }))
    await tick()
    expect(violations).toHaveLength(1)
    expect(r.state.closed).toBe(true)
  })
})

describe('control frames', () => {
  const samples: Control[] = [
    { kind: 0, token: null, received: 0 },
    { kind: 0, token: 'abc', received: 2 ** 40 + 3 },
    { kind: 1, token: 't'.repeat(32), lost: null },
    { kind: 1, token: 't', lost: 'refused' },
    { kind: 2, token: 'tok', received: 70_000 },
    { kind: 3, received: 127 },
    { kind: 3, received: 128 },
    { kind: 3, received: Number.MAX_SAFE_INTEGER },
  ]
  test.each(samples)('round trip %j', (control) => {
    const frame = encodeControl(control)
    expect(isControl(frame)).toBe(true)
    expect(parseControl(frame)).toEqual(control)
  })

  test('msgpack-rpc messages are never taken for control frames, and malformed control frames are refused', () => {
    expect(isControl(Uint8Array.from([0x94, 0x00, 0x01, 0xa1, 0x61]))).toBe(false) // a request
    expect(isControl(Uint8Array.from([0x93, 0x02, 0xa1, 0x61]))).toBe(false) // a notification
    expect(isControl('[-1,3,1]')).toBe(false)
    expect(parseControl(Uint8Array.from([0x93, 0xff, 0x03]))).toBeUndefined() // truncated
    expect(parseControl(Uint8Array.from([0x93, 0xff, 0x09, 0x00]))).toBeUndefined() // unknown kind
    expect(parseControl(Uint8Array.from([0x93, 0xff, 0x03, 0xff]))).toBeUndefined() // negative count
    expect(parseControl(Uint8Array.from([0x94, 0xff, 0x01, 0xa0, 0xc0]))).toBeUndefined() // empty token
  })
})
