/**
 * What batches may cost their ends (docs/protocol.md, "Batches"): the memory a
 * message handed to a sink that keeps it holds, and how many frames one
 * `deliverBatch` call hands on before the receiver may yield.
 */
import { describe, expect, test } from 'vitest'
import { BATCH_MARKER, BatchWriter, MAX_BATCH_BYTES, deliverBatch } from '../src/batch.js'

function frame(n: number, fill = 7): Uint8Array {
  return new Uint8Array(n).fill(fill)
}

/** A writer to a sink that keeps every message (a Node socket writes it later), frames given as views. */
function keeping(): { writer: BatchWriter; kept: Uint8Array[] } {
  const kept: Uint8Array[] = []
  return { writer: new BatchWriter((m) => void kept.push(m), false, false), kept }
}

describe('BatchWriter without reuse: what a kept message holds', () => {
  test('a message much smaller than the batch buffer is an exact copy, not a view of 64 KiB', () => {
    const { writer, kept } = keeping()
    writer.add(frame(1100, 1)) // a lone frame, as itself
    writer.flush()
    writer.add(frame(10, 2)) // a batch of two
    writer.add(frame(20, 3))
    writer.flush()
    expect(kept.map((m) => m.length)).toEqual([1100, 1 + 12 + 22])
    for (const m of kept) expect(m.buffer.byteLength, 'memory kept alive by the message').toBe(m.length)
  })

  test('a message filling most of the buffer goes uncopied, and the next batch does not write over it', () => {
    const { writer, kept } = keeping()
    const big = MAX_BATCH_BYTES / 2 // with its header, over half the buffer
    writer.add(frame(big, 4))
    writer.add(frame(10, 4))
    writer.flush()
    writer.add(frame(big, 5))
    writer.add(frame(10, 5))
    writer.flush()
    expect(kept).toHaveLength(2)
    expect(kept[0]!.buffer.byteLength).toBe(MAX_BATCH_BYTES)
    expect(kept[0]!.buffer).not.toBe(kept[1]!.buffer)
    expect(kept[0]!.buffer.byteLength, 'a view holds at most twice its bytes').toBeLessThan(2 * kept[0]!.length)
    const frames: Uint8Array[] = []
    deliverBatch(kept[0]!, 1, (f) => (frames.push(f), true), () => {})
    expect(frames.map((f) => [f.length, f.every((b) => b === 4)])).toEqual([[big, true], [10, true]])
  })

  test('the batch buffer is reused after a copied message, and what the sink kept is intact', () => {
    const { writer, kept } = keeping()
    for (let round = 0; round < 100; round++) {
      writer.add(frame(8, round))
      writer.add(frame(8, round))
      writer.flush()
    }
    for (let round = 0; round < 100; round++) {
      const frames: Uint8Array[] = []
      deliverBatch(kept[round]!, 1, (f) => (frames.push(f), true), () => {})
      expect(frames).toEqual([frame(8, round), frame(8, round)])
    }
  })
})

describe('deliverBatch with maxFrames', () => {
  function flood(count: number): Uint8Array {
    const batch = new Uint8Array(1 + 3 * count)
    batch[0] = BATCH_MARKER
    for (let i = 1; i < batch.length; i += 3) batch.set([0xc4, 1, i % 251], i)
    return batch
  }

  test('hands on at most maxFrames frames per call, then the offset to go on from; all frames, in order, in the end', () => {
    const batch = flood(2500)
    const seen: number[] = []
    const calls: number[] = []
    let offset = 1
    while (offset !== -1) {
      const before = seen.length
      offset = deliverBatch(batch, offset, (f) => (seen.push(f[0]!), true), () => seen.push(-1), 1024)
      calls.push(seen.length - before)
    }
    expect(calls).toEqual([1024, 1024, 452])
    expect(seen).toEqual(Array.from({ length: 2500 }, (_, i) => (1 + 3 * i) % 251))
  })

  test('a batch of exactly maxFrames frames ends in one call (-1), not with an empty rest', () => {
    const seen: Uint8Array[] = []
    expect(deliverBatch(flood(1024), 1, (f) => (seen.push(f), true), () => {}, 1024)).toBe(-1)
    expect(seen).toHaveLength(1024)
  })

  test('without maxFrames every frame is handed on in one call', () => {
    let n = 0
    expect(deliverBatch(flood(100_000), 1, () => (n++, true), () => {})).toBe(-1)
    expect(n).toBe(100_000)
  })
})
