// A throwaway redis-server for the cluster scenario: startRedisServer from @wirecall/redis/testing
// (the starter the tests, the e2e suite and the demo use): Debian's /usr/bin/redis-server as a child
// process on an ephemeral port of 127.0.0.1, no persistence, in its own temp dir, never daemonized,
// killed (SIGKILL) when this process exits and, through `setpriv --pdeathsig KILL` when present,
// also when this process dies any other way. The few queries the scenario needs are raw RESP here.
import { createConnection } from 'node:net'
import { REDIS_SERVER, redisServerInstalled, startRedisServer } from '@wirecall/redis/testing'

export { REDIS_SERVER }
const HOST = '127.0.0.1'

const resp = (args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`

/** Parse one RESP2 reply at `buf[pos]`: returns [value, next] or undefined when incomplete. */
function parseReply(buf, pos = 0) {
  const eol = buf.indexOf('\r\n', pos)
  if (eol < 0) return undefined
  const type = buf[pos]
  const line = buf.slice(pos + 1, eol)
  const next = eol + 2
  switch (type) {
    case '+': return [line, next]
    case '-': return [new Error(line), next]
    case ':': return [Number(line), next]
    case '$': {
      const n = Number(line)
      if (n < 0) return [null, next]
      if (buf.length < next + n + 2) return undefined
      return [buf.slice(next, next + n), next + n + 2]
    }
    case '*': {
      const n = Number(line)
      if (n < 0) return [null, next]
      const out = []
      let p = next
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p)
        if (!r) return undefined
        out.push(r[0])
        p = r[1]
      }
      return [out, p]
    }
    default: throw new Error(`unexpected RESP reply ${JSON.stringify(buf.slice(pos, pos + 40))}`)
  }
}

/** One command on a fresh connection (ASCII replies only); resolves with the parsed reply. */
export function redisCommand(port, args, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port })
    let buf = ''
    const finish = (err, value) => { clearTimeout(timer); socket.destroy(); err ? reject(err) : resolve(value) }
    const timer = setTimeout(() => finish(new Error(`redis ${args[0]}: no reply from ${HOST}:${port} in ${timeoutMs} ms`)), timeoutMs)
    socket.setEncoding('latin1')
    socket.on('error', (e) => finish(e))
    socket.once('connect', () => socket.write(resp(args)))
    socket.on('data', (d) => {
      buf += d
      let r
      try { r = parseReply(buf) } catch (e) { return finish(e) }
      if (r) r[0] instanceof Error ? finish(r[0]) : finish(null, r[0])
    })
    socket.once('close', () => finish(new Error(`redis ${args[0]}: ${HOST}:${port} closed the connection`)))
  })
}

/**
 * Start a redis-server; resolves with { url, port, pid, command(args), stop() } once it answers PING.
 * `extraArgs` go on its command line (e.g. ['--client-output-buffer-limit', 'pubsub 0 0 0']).
 */
export async function startRedis({ extraArgs = [] } = {}) {
  if (!redisServerInstalled()) throw new Error(`${REDIS_SERVER} is missing: apt-get install -y redis-server (or set REDIS_SERVER)`)
  const server = await startRedisServer({ args: extraArgs })
  return {
    url: server.url,
    port: server.port,
    pid: server.child.pid, // setpriv execs redis-server in place: the same pid
    command: (a, timeoutMs) => redisCommand(server.port, a, timeoutMs),
    stop: () => server.stop(),
  }
}
