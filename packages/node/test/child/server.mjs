/**
 * A wirecall server in its own process, for regression tests whose failure
 * is a process exit and for the fuzz script.
 *
 * Why a child process: Node's default `--unhandled-rejections=throw` turns a
 * stray rejection into an exit; inside a vitest worker such a crash would be
 * caught by the runner (or kill the worker) instead of showing as the
 * server's death. This process installs no `unhandledRejection` or
 * `uncaughtException` handler on purpose.
 *
 * It imports the BUILT packages (`dist/`, through the workspace names); the
 * harness in `../child-harness.ts` refuses to start it when dist is stale.
 *
 * Protocol, on stdout (one line each):
 *   READY <port>                   once listening
 *   STATS <json>                   answer to the stdin line `STATS`
 *   GC <json>                      answer to the stdin line `GC` (memory after gc)
 * stdin closing (the parent went away) closes the server and exits.
 *
 * Options: JSON in the env var WIRECALL_CHILD_OPTIONS, all optional:
 *   limits         Partial<Limits> passed to serve()
 *   logErrors      passed to serve()
 *   exposeErrorStacks  passed to serve()
 *   timeout        passed to serve()
 *   nodeEnv        sets process.env.NODE_ENV before the packages load
 *   logger         'stderr' (default: warnings and errors to stderr) | 'silent' | 'console'
 *   authenticate   'none' (default) | 'token' (needs ?token=secret, identity 'user')
 *                  | 'throw' (the hook throws) | 'reject' (the hook returns a rejected promise)
 *                  | 'async' (resolves to identity 'user' after a tick)
 *                  | 'hang' (like 'token', but ?token=hang never gets an answer: a stuck auth backend)
 *   jsonRpc        false: no text-frame handler
 *   crash          'unhandledRejection' | 'uncaughtException': after READY, crash
 *                  deliberately in `crashAfterMs` (default 0) ms; proves a crash is visible
 *   crashMethod    true: expose `crash()`, which leaves a rejected promise unhandled
 *
 * Streams: `count(n)` yields 0..n-1; `endless(size)` yields `size`-byte chunks until
 * stopped; `drain(upload)` reads an upload and returns its item count;
 * `stallUpload(upload)` reads one item of an upload (which grants the credit) then stops
 * reading until the call is cancelled; `streamCounters()` says how many items `endless`
 * producers pulled, how many run, how many finished (their `finally` ran), and how many
 * `stallUpload` handlers are waiting (`stalledUploads`).
 *   contracts      true: expose validated methods (zod) under `checked`, count their runs in
 *                  STATS (`validatedRuns`)
 *   reflection     passed to serve()
 *   resume         passed to serve() (resumable sessions); STATS then has `server`: server.stats()
 */
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'

const options = JSON.parse(process.env.WIRECALL_CHILD_OPTIONS || '{}')
if (options.nodeEnv !== undefined) process.env.NODE_ENV = options.nodeEnv

// Loaded after NODE_ENV is set: the Node adapter reads it for exposeErrorStacks.
const { callScoped, service, withContext, validated } = await import('@wirecall/core')
const { serve } = await import('@wirecall/node')

/** Object.prototype and friends as they were at start, to prove nothing polluted them. */
const watched = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype, String: String.prototype }
function snapshot() {
  const out = {}
  for (const [name, proto] of Object.entries(watched)) {
    out[name] = Reflect.ownKeys(proto).map((k) => {
      const d = Object.getOwnPropertyDescriptor(proto, k)
      return [String(k), d.value ?? d.get ?? null, d.set ?? null, Boolean(d.enumerable), Boolean(d.writable)]
    })
  }
  return out
}
const baseline = snapshot()
function prototypeChanges() {
  const now = snapshot()
  const changes = []
  for (const name of Object.keys(watched)) {
    const before = new Map(baseline[name].map((e) => [e[0], e]))
    const after = new Map(now[name].map((e) => [e[0], e]))
    for (const [k, e] of after) {
      const b = before.get(k)
      if (!b) changes.push(`${name}.prototype.${k} added`)
      else if (b.some((v, i) => v !== e[i])) changes.push(`${name}.prototype.${k} changed`)
    }
    for (const k of before.keys()) if (!after.has(k)) changes.push(`${name}.prototype.${k} deleted`)
  }
  // A polluting write through a setter path would show as a plain inherited property.
  for (const probe of ['polluted', 'isAdmin', 'x', '0']) {
    if (probe in {}) changes.push(`({}).${probe} is inherited`)
  }
  return changes
}

const streamCounters = { pulled: 0, running: 0, finished: 0, stalledUploads: 0 }

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(Number(ms) || 0, 60_000))))

/** Handler runs of the validated methods: a refused call must never add to it. */
let validatedRuns = 0
async function contractMethods() {
  const z = await import('zod')
  const count = (fn) => (...args) => {
    validatedRuns++
    return fn(...args)
  }
  return {
    checked: service({
      add: validated([z.number(), z.number()], count((a, b) => a + b)),
      sum: validated([z.array(z.number()).max(100_000)], count((xs) => xs.reduce((s, x) => s + x, 0))),
      named: validated([z.object({ a: z.number(), b: z.number().default(1) })], count(({ a, b }) => a * b)),
      deep: validated([z.object({ user: z.object({ tags: z.array(z.string()) }) })], count((o) => o.user.tags.length)),
      slowCheck: validated([z.string().refine(async (s) => (await sleep(5), s !== 'no'), 'refused')], count((s) => s)),
    }),
  }
}

const api = service({
  ...(options.contracts ? await contractMethods() : {}),
  add: (a, b) => a + b,
  echo: (x) => x,
  len: (s) => s.length,
  slow: async (ms) => {
    await sleep(ms)
    return `waited ${ms} ms`
  },
  waitSignal: withContext((ctx) => new Promise((resolve) => {
    if (ctx.signal.aborted) resolve('aborted')
    else ctx.signal.addEventListener('abort', () => resolve('aborted'), { once: true })
  })),
  throws: () => {
    throw Object.assign(new Error('boom'), { dbPassword: 'hunter2' })
  },
  throwsAsync: async () => {
    throw Object.assign(new Error('async boom'), { dbPassword: 'hunter2' })
  },
  notifyThrows: () => {
    throw new Error('notification handler failed')
  },
  callMeBack: async (fn) => await fn(1),
  makeCallback: () => (x) => x,
  fsError: () => readFile('/nonexistent/wirecall-child-fixture/missing.txt'),
  nested: { deep: { add: (a, b) => a + b } },
  // callScoped (hardening.test.ts): calls the first callback it is given; all of them are given back when it settles.
  scopedCallback: callScoped(async (...callbacks) => callbacks[0](1)),
  // Streams (streams.test.ts, hostile clients): what producers pulled and how many are running.
  count: async function* (n) {
    for (let i = 0; i < n; i++) yield i
  },
  endless: withContext(async function* (ctx, size) {
    const chunk = new Uint8Array(Math.max(0, Math.min(Number(size) || 0, 1 << 20)))
    streamCounters.running++
    try {
      while (!ctx.signal.aborted) {
        streamCounters.pulled++
        yield chunk
      }
    } finally {
      streamCounters.running--
      streamCounters.finished++
    }
  }),
  drain: async (items) => {
    let n = 0
    for await (const _ of items) n++
    return n
  },
  stallUpload: withContext(async (ctx, items) => {
    streamCounters.stalledUploads++
    try {
      await items[Symbol.asyncIterator]().next()
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
      return 'stopped'
    } finally {
      streamCounters.stalledUploads--
    }
  }),
  streamCounters: () => ({ ...streamCounters }),
  ...(options.crashMethod
    ? {
        crash: () => {
          Promise.reject(new Error('deliberate unhandled rejection (crash method)'))
          return 'crashing'
        },
      }
    : {}),
})

const silent = { warn() {}, error() {} }
const stderrLogger = {
  warn: (...args) => process.stderr.write(`[warn] ${args.map(show).join(' ')}\n`),
  error: (...args) => process.stderr.write(`[error] ${args.map(show).join(' ')}\n`),
}
function show(part) {
  if (part instanceof Error) return `${part.name}: ${part.message}`
  try {
    return typeof part === 'string' ? part : String(part)
  } catch {
    return '[unprintable]'
  }
}

function authenticateHook() {
  switch (options.authenticate ?? 'none') {
    case 'none':
      return undefined
    case 'token':
      return (req) => (new URL(req.url ?? '/', 'http://x').searchParams.get('token') === 'secret' ? 'user' : undefined)
    case 'throw':
      return () => {
        throw new Error('authenticate hook threw')
      }
    case 'reject':
      return () => Promise.reject(new Error('authenticate hook rejected'))
    case 'hang':
      return (req) => {
        const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token')
        return token === 'hang' ? new Promise(() => {}) : token === 'secret' ? 'user' : undefined
      }
    case 'async':
      return async () => {
        await sleep(1)
        return 'user'
      }
    default:
      throw new Error(`unknown authenticate option ${options.authenticate}`)
  }
}

const auth = authenticateHook()
const server = await serve({
  host: '127.0.0.1',
  port: 0,
  service: api,
  logger: options.logger === 'silent' ? silent : options.logger === 'console' ? console : stderrLogger,
  ...(options.limits ? { limits: options.limits } : {}),
  ...(options.logErrors !== undefined ? { logErrors: options.logErrors } : {}),
  ...(options.exposeErrorStacks !== undefined ? { exposeErrorStacks: options.exposeErrorStacks } : {}),
  ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
  ...(options.jsonRpc === false ? { textFrames: undefined } : {}),
  ...(auth ? { authenticate: auth } : {}),
  ...(options.reflection !== undefined ? { reflection: options.reflection } : {}),
  ...(options.resume ? { resume: true } : {}),
})

function stats() {
  const connections = [...server.connections]
  return {
    pid: process.pid,
    memory: process.memoryUsage(),
    connections: connections.length,
    connectionStats: connections.map((c) => ({ id: c.id, ...c.stats() })),
    droppedNotifications: server.droppedNotifications,
    prototypeChanges: prototypeChanges(),
    gcExposed: typeof globalThis.gc === 'function',
    validatedRuns,
    server: server.stats(),
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const command = line.trim()
  if (command === 'STATS') {
    process.stdout.write(`STATS ${JSON.stringify(stats())}\n`)
  } else if (command === 'GC') {
    if (typeof globalThis.gc === 'function') {
      globalThis.gc()
      globalThis.gc()
    }
    process.stdout.write(`GC ${JSON.stringify(stats())}\n`)
  } else if (command) {
    process.stderr.write(`child: unknown command ${JSON.stringify(command)}\n`)
  }
})
// The parent went away (or asked us to stop by closing stdin): never linger.
lines.on('close', () => {
  const force = setTimeout(() => process.exit(0), 2000)
  force.unref()
  server.close().then(() => process.exit(0), () => process.exit(0))
})

process.stdout.write(`READY ${server.port}\n`)

if (options.crash) {
  setTimeout(() => {
    if (options.crash === 'uncaughtException') throw new Error('deliberate uncaught exception (crash option)')
    Promise.reject(new Error('deliberate unhandled rejection (crash option)'))
  }, options.crashAfterMs ?? 0)
}
