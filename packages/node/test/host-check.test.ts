/**
 * The Host check's reading of the listening address (host-check.ts): read once, and read again
 * when the server listens anew, so a server that moved off loopback is not checked as if on it.
 */
import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect, test } from 'vitest'
import { hostCheck } from '../src/host-check.js'

const request = (host: string, localAddress = '10.0.0.5') => ({ headers: { host }, socket: { localAddress } }) as unknown as IncomingMessage

test('the listening address is read once, then again after the server listens anew', () => {
  const server = new (class extends EventEmitter {
    bound: AddressInfo | null = { address: '127.0.0.1', family: 'IPv4', port: 8080 }
    reads = 0
    address() {
      this.reads++
      return this.bound
    }
  })()
  const allowed = hostCheck(undefined, server)
  // On loopback: a name DNS could rebind is refused, local names pass.
  expect(allowed(request('evil.example:8080'))).toBe(false)
  expect(allowed(request('localhost:8080'))).toBe(true)
  expect(allowed(request('evil.example:8080'))).toBe(false)
  expect(server.reads).toBe(1)
  // Listening again, now on a public address: not checked.
  server.bound = { address: '10.0.0.5', family: 'IPv4', port: 8080 }
  server.emit('listening')
  expect(allowed(request('evil.example:8080'))).toBe(true)
  expect(server.reads).toBe(2)
})

test('before the server listens (address() is null) it reads again, and falls back to the socket', () => {
  let bound: AddressInfo | null = null
  let reads = 0
  const allowed = hostCheck(undefined, { address: () => (reads++, bound) })
  expect(allowed(request('evil.example', '127.0.0.1'))).toBe(false)
  expect(allowed(request('evil.example', '10.0.0.5'))).toBe(true)
  bound = { address: '127.0.0.1', family: 'IPv4', port: 1 }
  expect(allowed(request('evil.example', '10.0.0.5'))).toBe(false)
  expect(reads).toBe(3)
})
