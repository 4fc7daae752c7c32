/**
 * The README's runnable examples run as they are, against the built
 * packages (turbo builds them before tests), and print what the README says.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, test } from 'vitest'

const run = promisify(execFile)
const example = (name: string) => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url))

test('examples/quickstart.mjs prints the quick start results', async () => {
  const { stdout } = await run(process.execPath, [example('quickstart.mjs')], { timeout: 15_000 })
  expect(stdout.trim().split('\n')).toEqual(['7', 'waited 10 ms', 'NotFoundError WIRECALL_NOT_FOUND'])
})

test('examples/bidirectional.mjs shows callbacks, context and topics', async () => {
  const { stdout } = await run(process.execPath, [example('bidirectional.mjs')], { timeout: 15_000 })
  expect(stdout).toContain('tick 3\ntick 2\ntick 1\nliftoff')
  expect(stdout).toContain('you are 127.0.0.1')
  expect(stdout).toContain('[bob] bob joined lobby')
  expect(stdout).toContain('[alice] bob joined lobby')
})

test('examples/progress.mjs: a callScoped handler\'s callbacks are given back per call, none refused', async () => {
  const { stdout } = await run(process.execPath, [example('progress.mjs')], { timeout: 30_000 })
  expect(stdout.trim().split('\n')).toEqual(['report 0%', 'report 50%', 'report 100%', 'report done', '50000 calls, 0 refused'])
})
