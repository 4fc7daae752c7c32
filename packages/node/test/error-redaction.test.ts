/**
 * What a production server tells callers about its errors (`redactErrors`,
 * on by default when NODE_ENV is "production"), over real sockets, in
 * msgpack and JSON-RPC alike: no stray fields, no file paths from system
 * errors, `data` only for classes declared public, and an `onSendError` hook
 * for the last word.
 */
import { describe, expect, test } from 'vitest'
import { readFile } from 'node:fs/promises'
import { service } from '@wirecall/core'
import type { ServeOptions } from '../src/index.js'
import { RawClient, startServer, urlOf } from './helpers.js'
import { startChildServer } from './child-harness.js'

class InsufficientFunds extends Error {
  override name = 'InsufficientFunds'
  constructor(readonly balance: number) {
    super('insufficient funds')
  }
}
class Declared extends Error {
  override name = 'Declared'
  readonly field = 'shown'
}

const api = service({
  secret: () => {
    throw Object.assign(new Error('boom'), { dbPassword: 'hunter2' })
  },
  fsError: () => readFile('/nonexistent/wirecall-redaction/missing.txt'),
  tabled: () => {
    throw new InsufficientFunds(3)
  },
  declared: () => {
    throw new Declared('declared')
  },
  object: () => {
    throw { dbPassword: 'hunter2' } // eslint-disable-line no-throw-literal
  },
})

/** The error slot of a msgpack response and of a JSON-RPC response to the same method. */
async function errorsOf(options: Partial<ServeOptions>, method: string): Promise<{ msgpack: Record<string, unknown>; json: Record<string, unknown> }> {
  const server = await startServer({ service: api, exposeErrorStacks: false, ...options })
  const raw = await RawClient.open(urlOf(server))
  const [, , msgpack] = await raw.call(1, method, [])
  raw.sendText(JSON.stringify({ jsonrpc: '2.0', id: 2, method, params: [] }))
  const reply = (await raw.nextValue()) as { error: { data: Record<string, unknown> } }
  await raw.terminate()
  return { msgpack: msgpack as Record<string, unknown>, json: reply.error.data }
}

const leaks = (value: unknown) => /hunter2|nonexistent|wirecall-redaction|open|syscall|errno/.test(JSON.stringify(value))

describe('redactErrors: true', () => {
  const production = { redactErrors: true, errors: { InsufficientFunds }, publicErrors: [Declared] }

  test('a thrown error\'s own fields stay home; name, message and code cross', async () => {
    const { msgpack, json } = await errorsOf(production, 'secret')
    for (const wire of [msgpack, json]) {
      expect(wire).toEqual({ name: 'Error', message: 'boom', code: 'WIRECALL_REMOTE_ERROR' })
    }
  })

  test('a Node system error becomes "internal error": no path, syscall, errno or code', async () => {
    const { msgpack, json } = await errorsOf(production, 'fsError')
    for (const wire of [msgpack, json]) {
      expect(wire).toEqual({ name: 'Error', message: 'internal error', code: 'WIRECALL_REMOTE_ERROR' })
      expect(leaks(wire)).toBe(false)
    }
  })

  test('a thrown plain object crosses without its contents', async () => {
    const { msgpack, json } = await errorsOf(production, 'object')
    for (const wire of [msgpack, json]) expect(leaks(wire)).toBe(false)
  })

  test('classes of the errors table and of publicErrors keep their data; wirecall\'s own errors too', async () => {
    expect((await errorsOf(production, 'tabled')).msgpack).toMatchObject({ name: 'InsufficientFunds', data: { balance: 3 } })
    const declared = await errorsOf(production, 'declared')
    for (const wire of [declared.msgpack, declared.json]) expect(wire).toMatchObject({ name: 'Declared', data: { field: 'shown' } })
    expect((await errorsOf(production, 'missing')).msgpack).toMatchObject({ name: 'NotFoundError', code: 'WIRECALL_NOT_FOUND' })
  })

  test('onSendError has the last word; a hook that throws sends "internal error"', async () => {
    const seen: unknown[] = []
    const redacted = await errorsOf({
      ...production,
      onSendError: (error, wire) => {
        seen.push(error)
        return { ...wire, message: `${wire.message} (ref 42)` }
      },
    }, 'secret')
    expect(redacted.msgpack).toEqual({ name: 'Error', message: 'boom (ref 42)', code: 'WIRECALL_REMOTE_ERROR' })
    expect(redacted.json).toEqual(redacted.msgpack)
    expect((seen[0] as { dbPassword: string }).dbPassword).toBe('hunter2') // the hook sees the original
    const failing = await errorsOf({ onSendError: () => { throw new Error('hook bug') } }, 'declared')
    expect(failing.msgpack).toEqual({ name: 'Error', message: 'internal error', code: 'WIRECALL_REMOTE_ERROR' })
  })

  test('off (development): fields are sent as before', async () => {
    expect((await errorsOf({}, 'secret')).msgpack).toMatchObject({ data: { dbPassword: 'hunter2' } })
  })
})

test('a server started with NODE_ENV=production redacts by default (child process, msgpack and JSON-RPC)', async () => {
  const child = await startChildServer({ nodeEnv: 'production', logger: 'silent' })
  const raw = await RawClient.open(child.url)
  const secret = (await raw.call(1, 'throws', []))[2]
  const fs = (await raw.call(2, 'fsError', []))[2]
  expect(secret).toEqual({ name: 'Error', message: 'boom', code: 'WIRECALL_REMOTE_ERROR' })
  expect(fs).toEqual({ name: 'Error', message: 'internal error', code: 'WIRECALL_REMOTE_ERROR' })
  raw.sendText(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'fsError', params: [] }))
  const reply = (await raw.nextValue()) as { error: { message: string; data: unknown } }
  expect(reply.error.message).toBe('internal error')
  expect(JSON.stringify(reply)).not.toMatch(/nonexistent|hunter2|ENOENT|syscall/)
  await raw.terminate()
  await child.stop()
})
