/**
 * Clients that are not ours call a wirecall server: JSON-RPC 2.0 over text
 * frames (hand-written frames, and the npm client `json-rpc-2.0`) and a
 * Python msgpack-rpc client.
 */
import { describe, expect, test } from 'vitest'
import { execFile, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { service, withContext } from '@wirecall/core'
import { JSONRPCClient } from 'json-rpc-2.0'
import { WebSocket } from 'ws'
import { RawClient, sleep, startServer, until, urlOf, within } from './helpers.js'

const recorded: string[] = []
const api = service({
  add: (a: number, b: number) => a + b,
  addition: { add: (a: number, b: number) => a + b },
  length: (bytes: Uint8Array) => bytes.byteLength,
  fail: (text: string) => {
    throw new RangeError(text)
  },
  record: (text: string) => void recorded.push(text),
  recorded: () => [...recorded],
  when: () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
  big: () => 2n ** 64n,
  where: withContext((ctx) => ctx.peer?.address),
  slow: async (ms: number, value: string) => (await sleep(ms), value),
})

async function jsonClient() {
  recorded.length = 0
  const server = await startServer({ service: api })
  const raw = await RawClient.open(urlOf(server))
  const send = (value: unknown) => raw.sendText(typeof value === 'string' ? value : JSON.stringify(value))
  const next = async () => {
    const frame = await raw.next()
    expect(frame.binary, 'a text request is answered in text').toBe(false)
    return frame.value as any
  }
  return { server, raw, send, next }
}

describe('JSON-RPC 2.0 over text frames', () => {
  test('requests, string ids, sub-service paths, JSON-only values', async () => {
    const { send, next } = await jsonClient()
    send({ jsonrpc: '2.0', method: 'add', params: [3, 4], id: 1 })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 1, result: 7 })
    send({ jsonrpc: '2.0', method: 'addition.add', params: [40, 2], id: 'abc' })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 'abc', result: 42 })
    send({ jsonrpc: '2.0', method: 'record', id: 2 }) // params omitted
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 2, result: null })
    send({ jsonrpc: '2.0', method: 'when', params: [], id: 3 })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 3, result: '2024-01-02T03:04:05.000Z' })
    send({ jsonrpc: '2.0', method: 'big', params: [], id: 4 })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 4, result: '18446744073709551616' })
    send({ jsonrpc: '2.0', method: 'where', params: [], id: 5 })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 5, result: '127.0.0.1' })
  })

  test('errors: method not found, handler errors, by-name params, invalid requests', async () => {
    const { send, next } = await jsonClient()
    send({ jsonrpc: '2.0', method: 'nope', params: [], id: 1 })
    expect(await next()).toMatchObject({ jsonrpc: '2.0', id: 1, error: { code: -32601, data: { code: 'WIRECALL_NOT_FOUND' } } })
    send({ jsonrpc: '2.0', method: 'fail', params: ['bad'], id: 2 })
    expect(await next()).toMatchObject({ id: 2, error: { code: -32000, message: 'bad', data: { name: 'RangeError' } } })
    send({ jsonrpc: '2.0', method: 'add', params: { a: 1, b: 2 }, id: 3 })
    expect(await next()).toMatchObject({ id: 3, error: { code: -32602 } })
    for (const bad of [{ method: 'add', params: [1, 2], id: 4 }, { jsonrpc: '1.0', method: 'add', id: 4 }, { jsonrpc: '2.0', id: 4 }, { jsonrpc: '2.0', method: 'add', id: { x: 1 } }]) {
      const reply = await (send(bad), next())
      expect(reply, JSON.stringify(bad)).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 } })
    }
    send([])
    expect(await next()).toMatchObject({ id: null, error: { code: -32600 } })
  })

  // docs/protocol.md and the JSON-RPC 2.0 spec: "Parse error" is -32700.
  test('a text frame that is not JSON gets a Parse error (-32700)', async () => {
    const { send, next } = await jsonClient()
    send('{"jsonrpc": "2.0", "method": ')
    expect(await next()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } })
  })

  test('notifications get no response; batches get one array in any order', async () => {
    const { send, next, raw } = await jsonClient()
    send({ jsonrpc: '2.0', method: 'record', params: ['n1'] })
    send({ jsonrpc: '2.0', method: 'nope', params: [] }) // a failing notification is silent too
    send([
      { jsonrpc: '2.0', method: 'slow', params: [30, 'first'], id: 1 },
      { jsonrpc: '2.0', method: 'record', params: ['n2'] },
      { jsonrpc: '2.0', method: 'add', params: [1, 1], id: 2 },
      { jsonrpc: '2.0', method: 'nope', id: 3 },
      { bogus: true },
    ])
    const batch = await next()
    expect(Array.isArray(batch)).toBe(true)
    expect(batch).toHaveLength(4)
    const byId = new Map((batch as { id: unknown }[]).map((r) => [r.id, r]))
    expect(byId.get(1)).toEqual({ jsonrpc: '2.0', id: 1, result: 'first' })
    expect(byId.get(2)).toEqual({ jsonrpc: '2.0', id: 2, result: 2 })
    expect(byId.get(3)).toMatchObject({ error: { code: -32601 } })
    expect(byId.get(null)).toMatchObject({ error: { code: -32600 } })
    expect(recorded).toEqual(['n1', 'n2'])
    await sleep(20)
    expect(raw.unread()).toEqual([])
  })

  test('text and binary requests share one connection', async () => {
    const { raw, send, next } = await jsonClient()
    send({ jsonrpc: '2.0', method: 'add', params: [1, 2], id: 1 })
    expect(await next()).toMatchObject({ result: 3 })
    expect(await raw.call(1, 'add', [2, 3])).toEqual([1, 1, null, 5])
  })
})

describe('third-party JSON-RPC client', () => {
  test('json-rpc-2.0 JSONRPCClient over a ws socket calls, gets errors, notifies and batches', async () => {
    recorded.length = 0
    const server = await startServer({ service: api })
    const ws = new WebSocket(urlOf(server))
    const client = new JSONRPCClient((request) => ws.send(JSON.stringify(request)))
    ws.on('message', (data, isBinary) => {
      expect(isBinary, 'a text request is answered in text').toBe(false)
      client.receive(JSON.parse(String(data)))
    })
    try {
      await within(new Promise((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('error', reject)
      }), 3000, 'the json-rpc-2.0 socket to open')
      expect(await client.request('add', [3, 4])).toBe(7)
      expect(await client.request('addition.add', [40, 2])).toBe(42)
      await expect(client.request('nope', [])).rejects.toMatchObject({ code: -32601, data: { code: 'WIRECALL_NOT_FOUND' } })
      await expect(client.request('fail', ['from json-rpc-2.0'])).rejects.toMatchObject({ code: -32000, message: 'from json-rpc-2.0' })
      client.notify('record', ['notified'])
      await until(() => recorded.includes('notified'), 2000, 'the notification')
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => client.request('add', [i, i])))
      expect(many).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i))
      // A batch: one array out, one array back, matched by id.
      const batch = await client.requestAdvanced([
        { jsonrpc: '2.0', method: 'add', params: [1, 2], id: 'b1' },
        { jsonrpc: '2.0', method: 'nope', params: [], id: 'b2' },
      ])
      const byId = new Map(batch.map((r) => [r.id, r]))
      expect(byId.get('b1')).toEqual({ jsonrpc: '2.0', id: 'b1', result: 3 })
      expect(byId.get('b2')).toMatchObject({ id: 'b2', error: { code: -32601 } })
    } finally {
      const closed = new Promise((resolve) => ws.once('close', resolve))
      ws.close()
      await within(closed, 2000, 'the json-rpc-2.0 socket to close')
    }
  })
})

const PYTHON = '/usr/bin/python3'
const python = spawnSync(PYTHON, ['-c', 'import websockets, msgpack'], { encoding: 'utf8' })
const pythonReady = python.status === 0
if (!pythonReady) {
  console.warn(
    `[interop] skipping the Python msgpack-rpc test: ${PYTHON} cannot import websockets and msgpack ` +
    `(${(python.stderr || python.error?.message || '').trim()}). Install them with: ` +
    'apt-get install -y python3-websockets python3-msgpack',
  )
}

describe('third-party msgpack-rpc client (Python)', () => {
  test.skipIf(!pythonReady)('a Python msgpack-rpc client calls add, a missing method, and notifies', async () => {
    recorded.length = 0
    const server = await startServer({ service: api })
    const script = fileURLToPath(new URL('./interop/msgpack_rpc_client.py', import.meta.url))
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(PYTHON, [script, urlOf(server)], { timeout: 15_000 }, (err, out, errOut) => {
        if (err) reject(new Error(`python client failed: ${err.message}\n${errOut}`))
        else resolve(out)
      })
    })
    const out = JSON.parse(stdout)
    expect(out.add).toEqual({ msgid: 1, error: null, result: 7 })
    expect(out.missing).toMatchObject({ msgid: 2, result: null, error: { name: 'NotFoundError', code: 'WIRECALL_NOT_FOUND' } })
    expect(out.missing.error.message).toContain('no.such.method')
    expect(out.nested).toEqual({ msgid: 3, error: null, result: 42 })
    expect(out.binary).toEqual({ msgid: 4, error: null, result: 3 })
    expect(out.raises).toMatchObject({ msgid: 5, result: null, error: { name: 'RangeError', message: 'boom', code: 'WIRECALL_REMOTE_ERROR' } })
    expect(out.pipelined).toEqual(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [String(10 + i), 11 + i])))
    expect(out.recorded).toEqual({ msgid: 6, error: null, result: ['hello from python'] })
    expect(recorded).toEqual(['hello from python'])
    await until(() => server.connections.size === 0, 2000, 'the python connection to close')
  })
})
