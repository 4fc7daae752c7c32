/**
 * `DEBUG=wirecall:*` switches debug lines on without code changes: a child
 * process with the variable set writes server and client lines to stderr;
 * without it, nothing. Runs the built packages (like the child harness).
 */
import { spawn } from 'node:child_process'
import { expect, test } from 'vitest'
import { assertDistFresh } from './child-harness.js'

const script = `
import { serve, connect, service } from '@wirecall/node'
const server = await serve({ port: 0, host: '127.0.0.1', service: service({ add: (a, b) => a + b }) })
const client = await connect('ws://127.0.0.1:' + server.port)
if (await client.remote.add(1, 2) !== 3) process.exit(2)
await client.close()
await server.close()
`

function run(env: Record<string, string | undefined>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, DEBUG: undefined, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stderr })
    })
  })
}

test('DEBUG=wirecall:server,wirecall:client,wirecall:session writes what happens to stderr', async () => {
  assertDistFresh()
  const { code, stderr } = await run({ DEBUG: 'wirecall:server,wirecall:client,wirecall:session' })
  expect(code).toBe(0)
  expect(stderr).toMatch(/wirecall:client connected to ws:\/\/127\.0\.0\.1:\d+/)
  expect(stderr).toMatch(/wirecall:server connection c1 from 127\.0\.0\.1/)
  expect(stderr).toMatch(/wirecall:session .*sent request #1 add/)
  expect(stderr).toMatch(/wirecall:server connection c1 closed/)
}, 20_000)

test('without DEBUG, nothing is written', async () => {
  assertDistFresh()
  const { code, stderr } = await run({})
  expect(code).toBe(0)
  expect(stderr).toBe('')
}, 20_000)
