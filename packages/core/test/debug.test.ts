/**
 * Debug areas: the `debug`-style pattern switch, the sink, and what the
 * session and reference tables report when their areas are on (and that
 * nothing is reported when they are off).
 */
import { afterEach, expect, test } from 'vitest'
import { debugLog, enableDebug, service, setDebugSink, type DebugSink } from '../src/index.js'
import { allowLiveRefs, pair } from './harness.js'

const lines: string[] = []
const capture: DebugSink = (area, message) => void lines.push(`${area} ${message}`)
let previous: DebugSink | undefined

afterEach(() => {
  enableDebug(undefined)
  if (previous) setDebugSink(previous)
  previous = undefined
  lines.length = 0
})

function listen(patterns: string): void {
  previous = setDebugSink(capture)
  enableDebug(patterns)
}

test('patterns: wildcards, lists and exclusions, as the debug package reads DEBUG', () => {
  const session = debugLog('wirecall:session')
  const refs = debugLog('wirecall:refs')
  const other = debugLog('someone-else:net')
  expect(debugLog('wirecall:session')).toBe(session)

  enableDebug('wirecall:*')
  expect([session.enabled, refs.enabled, other.enabled]).toEqual([true, true, false])
  enableDebug('wirecall:refs, someone-else:*')
  expect([session.enabled, refs.enabled, other.enabled]).toEqual([false, true, true])
  enableDebug('*,-wirecall:refs')
  expect([session.enabled, refs.enabled, other.enabled]).toEqual([true, false, true])
  enableDebug('')
  expect([session.enabled, refs.enabled, other.enabled]).toEqual([false, false, false])
  // An area created after the switch follows it too.
  enableDebug('wirecall:later')
  expect(debugLog('wirecall:later').enabled).toBe(true)
})

test('only enabled areas reach the sink, and a throwing sink breaks nothing', () => {
  listen('wirecall:a')
  debugLog('wirecall:a')('one', 1)
  debugLog('wirecall:b')('two')
  expect(lines).toEqual(['wirecall:a one'])
  setDebugSink(() => {
    throw new Error('sink failed')
  })
  expect(() => debugLog('wirecall:a')('three')).not.toThrow()
})

test('wirecall:session reports frames both ways; wirecall:refs reports exports, imports and releases', async () => {
  listen('wirecall:session,wirecall:refs')
  const { client, server } = pair<{ add(a: number, b: number): number; each(fn: (n: number) => void): void }>({
    service: service({ add: (a: number, b: number) => a + b, each: (fn: (n: number) => void) => void fn(1) }),
  })
  allowLiveRefs(client, server)
  expect(await client.remote.add(1, 2)).toBe(3)
  const seen: number[] = []
  await client.remote.each((n) => void seen.push(n))
  await new Promise((r) => setTimeout(r, 20))
  const text = lines.join('\n')
  expect(text).toMatch(/wirecall:session .*sent request #1 add/)
  expect(text).toMatch(/wirecall:session .*received request #1 add/)
  expect(text).toMatch(/wirecall:session .*received response #1/)
  expect(text).toMatch(/wirecall:refs exported #1 \(function\)/)
  expect(text).toMatch(/wirecall:refs imported #1/)
})

test('with every area off, a session logs nothing', async () => {
  previous = setDebugSink(capture)
  const { client } = pair<{ add(a: number, b: number): number }>({ service: service({ add: (a: number, b: number) => a + b }) })
  expect(await client.remote.add(2, 2)).toBe(4)
  expect(lines).toEqual([])
})
