/**
 * A proxy the holder simply drops is garbage-collected, and the
 * FinalizationRegistry sends a release so the owner forgets its entry.
 * vitest runs this package with --expose-gc.
 */
import { expect, test } from 'vitest'
import { release, service } from '../src/index.js'
import { pair } from './harness.js'

const gc = (globalThis as { gc?: () => void }).gc

/** Poll gc() with short waits, bounded, until `done()`. */
async function collectUntil(done: () => boolean, rounds = 40): Promise<boolean> {
  for (let i = 0; i < rounds && !done(); i++) {
    gc!()
    await new Promise((r) => setTimeout(r, 5))
  }
  return done()
}

test('gc() is available (vitest runs core tests with --expose-gc)', () => {
  expect(typeof gc).toBe('function')
})

test('a dropped callback proxy releases the owner\'s export', async () => {
  let weak: WeakRef<object> | undefined
  const serverApi = service({
    // Calls the callback once and keeps only a weak reference to it.
    touch: async (fn: () => Promise<number>) => {
      weak = new WeakRef(fn)
      return fn()
    },
  })
  const { client, server } = pair<typeof serverApi>({ service: serverApi })
  expect(await client.remote.touch((() => 7) as never)).toBe(7)
  expect(client.stats().exportedRefs).toBe(1)
  expect(server.stats().importedRefs).toBe(1)
  const released = await collectUntil(() => client.stats().exportedRefs === 0)
  expect(weak!.deref()).toBeUndefined()
  expect(released).toBe(true)
  expect(server.stats().importedRefs).toBe(0)
})

test('a dropped service proxy returned as a result releases the server\'s export', async () => {
  const serverApi = service({ open: () => service({ ping: () => 'pong' }) })
  const { client, server } = pair<typeof serverApi>({ service: serverApi })
  let weak: WeakRef<object> | undefined
  await (async () => {
    const handle = await client.remote.open()
    expect(await handle.ping()).toBe('pong')
    weak = new WeakRef(handle)
  })()
  expect(server.stats().exportedRefs).toBe(1)
  const released = await collectUntil(() => server.stats().exportedRefs === 0)
  expect(weak!.deref()).toBeUndefined()
  expect(released).toBe(true)
  expect(client.stats().importedRefs).toBe(0)
})

test('a proxy that is still held is not released by gc', async () => {
  const held: unknown[] = []
  const serverApi = service({ keep: (fn: unknown) => void held.push(fn) })
  const { client, server } = pair<typeof serverApi>({ service: serverApi })
  await client.remote.keep((() => 1) as never)
  await collectUntil(() => false, 5) // more rounds than the tests above need to see a release
  expect(client.stats().exportedRefs).toBe(1)
  expect(server.stats().importedRefs).toBe(1)
  release(held.pop())
})
