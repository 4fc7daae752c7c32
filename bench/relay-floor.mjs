// What one more process hop costs on this machine, with no library at all (docs/scaling.md).
//
//   node bench/relay-floor.mjs [--rounds=4000]
//
// Three processes on 127.0.0.1, placed like cluster-fanout's with --pin=split: A (node 0) and B
// (node 1) on CPU 0, C (a page's client process) on CPU 1. Plain TCP sockets with no delay, one
// byte per message. A times, alternately, a round trip A -> C -> A (what a local call pays in
// process hops) and A -> B -> C -> B -> A (what a cross-node call over a node link pays), one at
// a time, and prints both p50/p99 and their ratio. Every wait is bounded by --rounds.
import net from 'node:net'
import { fork, execFileSync } from 'node:child_process'
import { numberArg } from './lib/number-arg.mjs'

const role = process.argv[2]
const arg = numberArg
const serve = (onData) => new Promise((resolve) => {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true)
    sock.on('data', (d) => onData(sock, d))
  })
  server.listen(0, '127.0.0.1', () => resolve(server.address().port))
})
const dial = (port) => new Promise((resolve) => {
  const sock = net.connect(port, '127.0.0.1', () => {
    sock.setNoDelay(true)
    resolve(sock)
  })
})

if (role === 'C') {
  // The page: echoes.
  process.send(await serve((sock, d) => sock.write(d)))
} else if (role === 'B') {
  // The relay node: forwards to C and back.
  const toC = await dial(Number(process.argv[3]))
  let back
  toC.on('data', (d) => back.write(d))
  process.send(await serve((sock, d) => {
    back = sock
    toC.write(d)
  }))
} else if (role === 'A') {
  const direct = await dial(Number(process.argv[3]))
  const relayed = await dial(Number(process.argv[4]))
  const rounds = Number(process.argv[5])
  const roundTrip = (sock) => new Promise((resolve) => {
    const t = process.hrtime.bigint()
    sock.once('data', () => resolve(Number(process.hrtime.bigint() - t) / 1000))
    sock.write('x')
  })
  const d = []
  const r = []
  for (let i = 0; i < rounds; i++) {
    d.push(await roundTrip(direct))
    r.push(await roundTrip(relayed))
  }
  const pct = (a, q) => a.sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * q))]
  process.send({ directP50: pct(d, 0.5), directP99: pct(d, 0.99), relayP50: pct(r, 0.5), relayP99: pct(r, 0.99) })
} else {
  const rounds = arg('rounds', 4000)
  const pin = (child, cpu) => {
    try { execFileSync('taskset', ['-a', '-cp', cpu, String(child.pid)], { stdio: 'ignore' }) } catch {}
  }
  const first = (child) => new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`a helper process exited (code ${code})`)))
  })
  const self = new URL(import.meta.url).pathname
  const children = []
  try {
    const c = fork(self, ['C']); children.push(c); pin(c, '1')
    const portC = await first(c)
    const b = fork(self, ['B', String(portC)]); children.push(b); pin(b, '0')
    const portB = await first(b)
    const a = fork(self, ['A', String(portC), String(portB), String(rounds)]); children.push(a); pin(a, '0')
    const m = await first(a)
    const f = (x) => x.toFixed(0).padStart(5)
    console.log(`direct A->C->A       p50 ${f(m.directP50)} µs  p99 ${f(m.directP99)} µs`)
    console.log(`relayed A->B->C->B->A p50 ${f(m.relayP50)} µs  p99 ${f(m.relayP99)} µs   ratio p50 ${(m.relayP50 / m.directP50).toFixed(2)}x`)
  } finally {
    for (const child of children) child.kill()
  }
}
