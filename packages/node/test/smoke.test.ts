import { test, expect } from 'vitest'
import { service } from '@wirecall/core'
import { serve, connect } from '../src/index.js'

test('quick start', async () => {
  const math = service({ add: (a: number, b: number) => a + b })
  const server = await serve({ host: '127.0.0.1', port: 0, service: math })
  const client = await connect<typeof math>(`ws://127.0.0.1:${server.port}`)
  expect(await client.remote.add(3, 4)).toBe(7)
  client.notify.add(1, 2)
  await client.close()
  await server.close()
})
