import { test, expect } from 'vitest'
import { service } from '../src/index.js'
import { pair } from './harness.js'

test('add over memory pair', async () => {
  const math = service({ add: (a: number, b: number) => a + b })
  const { client } = pair<typeof math>({ service: math })
  expect(await client.remote.add(3, 4)).toBe(7)
})
