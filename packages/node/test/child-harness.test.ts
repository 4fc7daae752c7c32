/**
 * The child-process server harness: a server in its own process
 * answers over real sockets, reports its stats, and a crash in it (an
 * unhandled rejection under Node's default behaviour) is visible as a
 * non-zero exit rather than lost.
 */
import { describe, expect, test } from 'vitest'
import { RawClient } from './helpers.js'
import { startChildServer } from './child-harness.js'

describe('child-process server harness', () => {
  test('a raw msgpack-rpc client gets add(3, 4) = 7 from the child; stats and gc answer', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const raw = await RawClient.open(child.url)
    expect(await raw.call(1, 'add', [3, 4])).toEqual([1, 1, null, 7])
    expect(await raw.call(2, 'nested.deep.add', [1, 2])).toEqual([1, 2, null, 3])
    const stats = await child.stats()
    expect(stats.connections).toBe(1)
    expect(stats.connectionStats[0]).toMatchObject({ pendingCalls: 0, inFlightCalls: 0 })
    expect(stats.prototypeChanges).toEqual([])
    const after = await child.gc()
    expect(after.gcExposed).toBe(true)
    expect(after.memory.heapUsed).toBeGreaterThan(0)
    await raw.terminate()
    expect(child.isAlive()).toBe(true)
    const exit = await child.stop()
    expect(exit.code).toBe(0)
    expect(child.isAlive()).toBe(false)
  })

  test('JSON-RPC text frames reach the child too', async () => {
    const child = await startChildServer({ logger: 'silent' })
    const raw = await RawClient.open(child.url)
    raw.sendText('{"jsonrpc":"2.0","method":"add","params":[3,4],"id":9}')
    expect((await raw.next()).value).toEqual({ jsonrpc: '2.0', id: 9, result: 7 })
  })

  test('an unhandled rejection in the child exits it with a non-zero code, and stderr says why', async () => {
    const child = await startChildServer({ crash: 'unhandledRejection', crashAfterMs: 50 })
    const exit = await child.exited
    expect(exit.code).not.toBe(0)
    expect(exit.code).not.toBe(null)
    expect(exit.stderr).toContain('deliberate unhandled rejection')
    expect(child.isAlive()).toBe(false)
    await expect(child.stats()).rejects.toThrow(/not running/)
  })

  test('a handler that leaves a rejection unhandled kills the child mid-test', async () => {
    const child = await startChildServer({ crashMethod: true, logger: 'silent' })
    const raw = await RawClient.open(child.url)
    raw.send([0, 1, 'crash', []])
    const exit = await child.exited
    expect(exit.code).toBe(1)
    expect(exit.stderr).toContain('crash method')
    await raw.closed
  })
})
