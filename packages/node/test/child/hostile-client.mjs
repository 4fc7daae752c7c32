/**
 * A wirecall client in its own process against the hostile servers of
 * `test/hostile-server.test.ts`, whose URLs come in WIRECALL_HOSTILE_URLS
 * (JSON: { garbage, resume, refusing }). It installs no
 * `unhandledRejection` handler: a stray rejection exits it with code 1. It
 * prints DONE when every scenario is over, then must exit on its own (a
 * timer or socket left behind by `close()` would keep it alive).
 *
 * Imports the BUILT packages, like child/server.mjs.
 */
import { service } from '@wirecall/core'
import { connect, connectPool, createClient, createPool } from '@wirecall/node'

const urls = JSON.parse(process.env.WIRECALL_HOSTILE_URLS)
const quiet = { warn() {}, error() {} }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const settled = (promise) => promise.then(() => 'ok', (err) => err?.name ?? String(err))

// 1. A plain session with a server that answers with garbage, unknown and duplicate ids, and calls our service badly.
const session = await connect(urls.garbage, { logger: quiet, timeout: 300, service: service({ f: (...args) => args.length }) })
const outcomes = await Promise.all([1, 2, 3].map((i) => settled(session.remote.add(i, 1))))
session.notify.audit('x')
await sleep(100)
await session.close()

// 2. A reconnecting client whose resume handshakes are answered wrongly, cut, or welcomed then dropped; closed mid-reconnect.
const client = createClient(urls.resume, { logger: quiet, timeout: 300, reconnect: { initialDelayMs: 5, maxDelayMs: 20 } })
const calls = [settled(client.remote.add(1, 2)), settled(client.with({ timeout: 0 }).remote.add(1, 2)), settled(client.with({ idempotent: true }).remote.add(1, 2))]
await sleep(800)
await client.close()
outcomes.push(...(await Promise.all(calls)))

// 3. A pool whose every endpoint is bad, closed while it reconnects; and connectPool over a refusing one.
const pool = createPool([urls.resume, urls.refusing], { logger: quiet, timeout: 300, reconnect: { initialDelayMs: 5, maxDelayMs: 20 } })
const poolCalls = [settled(pool.remote.add(1, 2)), settled(pool.with({ timeout: 0 }).remote.add(1, 2))]
await sleep(500)
await pool.close()
outcomes.push(...(await Promise.all(poolCalls)))
outcomes.push(await settled(connectPool([urls.refusing], { timeout: 300, reconnect: { initialDelayMs: 5, maxDelayMs: 20 } })))

process.stdout.write(`DONE ${JSON.stringify(outcomes)}\n`)
