/**
 * The `wirecall` command, run as a process (the built `dist/bin.js`, as npm
 * installs it) against a real server on 127.0.0.1: it lists, calls (msgpack
 * and JSON-RPC), sends headers, times out, prints remote errors with name,
 * code and message on stderr, and exits non-zero on them.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as z from 'zod'
import { WebSocketServer, type WebSocket } from 'ws'
import { ParameterError, service, validated, withContext } from '@wirecall/core'
import { serve, type WirecallServer } from '@wirecall/node'
import { ExitCode } from '../src/index.js'
import { parseCommandLine, UsageError } from '../src/args.js'

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

interface Outcome { code: number | null; stdout: string; stderr: string }

/** Run the command; bounded by a kill after 20 s so a hang fails instead of stalling the suite. */
function wirecall(...args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20_000, env: { ...process.env, NODE_ENV: 'test' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

let server: WirecallServer
let closedServer: WirecallServer
let url: string
let noReflection: string
let runs = 0

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`)
  const api = service({
    math: service({
      add: validated([z.number(), z.number()], (a, b) => (runs++, a + b)),
      area: validated([z.object({ w: z.number(), h: z.number().default(1) })], ({ w, h }) => w * h),
    }),
    echo: (x: unknown) => x,
    big: () => ({ n: 2n ** 70n, when: new Date(0), bytes: new Uint8Array([1, 2, 3]), tags: new Set(['a']) }),
    whoami: withContext((ctx) => ctx.identity),
    fail: () => {
      throw Object.assign(new RangeError('out of range'), { limit: 10 })
    },
    slow: () => new Promise((resolve) => setTimeout(() => resolve('late'), 3_000)),
  })
  server = await serve({
    host: '127.0.0.1', port: 0, service: api, reflection: true, logger: { warn() {}, error() {} },
    authenticate: (req) => req.headers['x-user'] ?? 'anonymous',
  })
  url = `ws://127.0.0.1:${server.port}`
  closedServer = await serve({ host: '127.0.0.1', port: 0, service: api, logger: { warn() {}, error() {} } })
  noReflection = `ws://127.0.0.1:${closedServer.port}`
})

afterAll(async () => {
  await server?.close()
  await closedServer?.close()
})

describe('wirecall call', () => {
  for (const mode of [[], ['--json-rpc']]) {
    const label = mode.length ? 'JSON-RPC' : 'msgpack'
    test(`${label}: arguments as JSON, the result as JSON on stdout, exit 0`, async () => {
      const out = await wirecall('call', url, 'math.add', '3', '4', ...mode)
      expect(out).toEqual({ code: 0, stdout: '7\n', stderr: '' })
      const echo = await wirecall('call', url, 'echo', '{"a":[1,"two",null]}', ...mode)
      expect(JSON.parse(echo.stdout)).toEqual({ a: [1, 'two', null] })
      const negative = await wirecall('call', url, 'math.add', ...mode, '--', '-3', '4')
      expect(negative.stdout).toBe('1\n')
    })

    test(`${label}: a remote error goes to stderr with name, code and message; exit 1; the handler never ran`, async () => {
      const before = runs
      const out = await wirecall('call', url, 'math.add', '"3"', '4', ...mode)
      expect(out.code).toBe(ExitCode.REMOTE_ERROR)
      expect(out.stdout).toBe('')
      expect(out.stderr).toMatch(/^ParameterError \[WIRECALL_BAD_PARAMETERS\]: invalid arguments: \[0\]: /)
      expect(out.stderr).toContain('"path": [\n')
      expect(runs).toBe(before)
      const thrown = await wirecall('call', url, 'fail', ...mode)
      expect(thrown.code).toBe(ExitCode.REMOTE_ERROR)
      expect(thrown.stderr).toMatch(/^RangeError \[WIRECALL_REMOTE_ERROR\]: out of range\ndata: \{\n {2}"limit": 10\n\}/)
      const missing = await wirecall('call', url, 'nope', ...mode)
      expect(missing.code).toBe(ExitCode.REMOTE_ERROR)
      expect(missing.stderr).toMatch(/^NotFoundError \[WIRECALL_NOT_FOUND\]: no such method: nope/)
    })

    test(`${label}: --header reaches the server; --timeout gives exit 4`, async () => {
      const who = await wirecall('call', url, 'whoami', '-H', 'X-User: ada', ...mode)
      expect(who.stdout).toBe('"ada"\n')
      const slow = await wirecall('call', url, 'slow', '--timeout', '300', ...mode)
      expect(slow.code).toBe(ExitCode.TIMEOUT)
      expect(slow.stderr).toMatch(/timed out after 300 ms/)
    })

    test(`${label}: named arguments`, async () => {
      const out = await wirecall('call', url, 'math.area', '--named', '{"w":3}', ...mode)
      expect(out).toEqual({ code: 0, stdout: '3\n', stderr: '' })
    })
  }

  test('values beyond JSON are printed readably', async () => {
    const out = await wirecall('call', url, 'big')
    expect(JSON.parse(out.stdout)).toEqual({ n: '1180591620717411303424', when: '1970-01-01T00:00:00.000Z', bytes: 'AQID', tags: ['a'] })
  })

  test('nothing listening: exit 3 with the reason', async () => {
    const probe = await serve({ host: '127.0.0.1', port: 0, service: service({}) })
    const port = probe.port
    await probe.close()
    for (const mode of [[], ['--json-rpc']]) {
      const out = await wirecall('call', `ws://127.0.0.1:${port}`, 'echo', '1', ...mode)
      expect(out.code, out.stderr).toBe(ExitCode.CONNECT)
      expect(out.stderr).toMatch(/^wirecall: /)
    }
  })

  test('usage errors: exit 2 with the usage', async () => {
    for (const args of [['call', url], ['call', 'http://x', 'a'], ['call', url, 'echo', 'not json'], ['frobnicate', url], ['call', url, 'echo', '-H', 'bad header'], ['ls', url, '--timeout', '-5']]) {
      const out = await wirecall(...args)
      expect(out.code, args.join(' ')).toBe(ExitCode.USAGE)
      expect(out.stderr).toContain('usage:')
    }
    expect((await wirecall('--help')).stdout).toContain('wirecall call <url> <method>')
  })
})

describe('wirecall ls', () => {
  test('one line per method, signatures from the schemas', async () => {
    const out = await wirecall('ls', url)
    expect(out.code).toBe(0)
    expect(out.stdout.trim().split('\n')).toEqual([
      'big(0 arguments)',
      'echo(1 argument)',
      'fail(0 arguments)',
      'math.add(number, number)',
      'math.area({ w: number, h?: number })',
      'slow(0 arguments)',
      'whoami(0 arguments)',
    ])
  })

  test('--json prints the description; JSON-RPC too', async () => {
    const out = await wirecall('ls', url, '--json', '--json-rpc')
    const tree = JSON.parse(out.stdout) as { members: Record<string, unknown> }
    expect(Object.keys(tree.members).sort()).toEqual(['big', 'echo', 'fail', 'math', 'slow', 'whoami'])
  })

  test('a server without reflection: exit 1 with a hint', async () => {
    const out = await wirecall('ls', noReflection)
    expect(out.code).toBe(ExitCode.REMOTE_ERROR)
    expect(out.stderr).toMatch(/NotFoundError \[WIRECALL_NOT_FOUND\][\s\S]*reflection/)
  })
})

describe('a hostile server', () => {
  test('garbage frames, a huge unanswered id, or an instant close: the command exits non-zero in bounded time', async () => {
    const behaviours: Record<string, (ws: WebSocket) => void> = {
      garbage: (ws) => ws.on('message', () => {
        ws.send(Buffer.from([0xc1, 0xff, 0x00]))
        ws.send('{"jsonrpc":"2.0","id":999,"result":1}')
        ws.send('not json at all')
        ws.send(JSON.stringify([1, 2, 3]))
      }),
      close: (ws) => ws.close(1011, 'go away'),
      silent: () => {},
    }
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((resolve) => wss.once('listening', resolve))
    const port = (wss.address() as { port: number }).port
    let behaviour = 'garbage'
    wss.on('connection', (ws) => behaviours[behaviour]!(ws))
    try {
      for (behaviour of Object.keys(behaviours)) {
        for (const mode of [[], ['--json-rpc']]) {
          const started = Date.now()
          const out = await wirecall('call', `ws://127.0.0.1:${port}`, 'echo', '1', '--timeout', '1000', ...mode)
          expect(out.code, `${behaviour} ${mode.join('')}: ${out.stderr}`).not.toBe(0)
          expect(out.code, `${behaviour} ${mode.join('')}: killed by the test's bound, not exited by itself`).not.toBeNull()
          expect(Date.now() - started).toBeLessThan(15_000)
        }
      }
    } finally {
      for (const ws of wss.clients) ws.terminate()
      await new Promise((resolve) => wss.close(resolve))
    }
  })
})

describe('parseCommandLine', () => {
  test('--named needs one JSON object', () => {
    expect(() => parseCommandLine(['call', 'ws://h:1', 'm', '--named', '1', '2'])).toThrow(UsageError)
    expect(parseCommandLine(['call', 'ws://h:1', 'm', '-H', 'A: b', '-H', 'C:d', '-t', '50'])).toMatchObject({
      kind: 'call', options: { headers: { a: 'b', c: 'd' }, timeout: 50 },
    })
  })

  test('ParameterError is what the server sends for bad arguments (sanity of the fixture)', () => {
    expect(new ParameterError('x').code).toBe('WIRECALL_BAD_PARAMETERS')
  })
})
