/**
 * Sessions over a transport that copies frames on send (`Transport.copiesFrames`:
 * the browser's WebSocket, the Node transport): the session hands it views of
 * its codec's reused buffer, so nothing may encode between a frame's encoding
 * and its sending. Its own file: the stream-result marker is encoded once per
 * process, on the first stream result, which is what the first test checks.
 */
import { afterEach, expect, test } from 'vitest'
import { Session, service, streams, type Transport } from '../src/index.js'
import { createMemoryPair } from '../src/internal.js'
import { silent } from './harness.js'

/** A memory end that declares `copiesFrames` and copies every binary frame as it is sent, as a WebSocket does. */
function copying(transport: Transport): Transport {
  const send = transport.send.bind(transport)
  return Object.assign(transport, {
    copiesFrames: true,
    send: (frame: Uint8Array | string) => send(typeof frame === 'string' ? frame : frame.slice()),
  })
}

const sessions: Session<unknown>[] = []
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()))
})

function copyingPair<S>(api: object): Session<S> {
  const [a, b] = createMemoryPair()
  const client = new Session<S>(copying(a), { logger: silent, streams })
  const server = new Session(copying(b), { logger: silent, streams, service: api })
  sessions.push(client as Session<unknown>, server as Session<unknown>)
  return client
}

test('the first stream result of the process arrives whole (its marker is encoded while the response waits unsent)', async () => {
  const api = service({
    numbers: async function* (n: number) {
      for (let i = 0; i < n; i++) yield i
    },
  })
  const client = copyingPair<typeof api>(api)
  const out: number[] = []
  for await (const n of await client.remote.numbers(5)) out.push(n)
  expect(out).toEqual([0, 1, 2, 3, 4])
})
