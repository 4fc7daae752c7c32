// The channel scheme of @wirecall/redis, measured (docs/scaling.md, "Why one channel per topic").
//
//   node bench/channels.mjs [--messages=N] [--topics=N] [--nodes=N] [--reps=N]
//
// One redis-server (lib/redis.mjs: ephemeral port, no persistence), --nodes subscriber processes (the
// cluster's nodes, 3 by default) and one publisher (this process). The publisher sends --messages notifications
// round robin over --topics topics, at most WINDOW unanswered at a time, with each scheme:
//
//   per-topic   PUBLISH <topic channel>; a node SUBSCRIBEs to the channels of the topics it has
//               members in (what @wirecall/redis does)
//   sharded     the same with SPUBLISH / SSUBSCRIBE (Redis 7 sharded pub/sub; on one server it works
//               like PUBLISH, in a Redis Cluster each channel lives on the shard of its hash slot)
//   one channel PUBLISH to a single channel for all topics; every node SUBSCRIBEs to it and drops
//               what it has no members for (the socket.io adapter's default scheme)
//   per node    PUBLISH to the inbox channel of each node with members in the topic (the publisher
//               needs to know who is interested: one PUBLISH per interested node)
//
// and two interest patterns: `spread` (each topic has members on exactly one node: many small
// topics, e.g. one per dashboard) and `everywhere` (every topic has members on every node).
// Measured per scheme: published messages/s (until every node has every message it subscribed to;
// each delivery is counted by its node and checked), Redis CPU per published message (INFO cpu,
// user + sys, before and after), the subscriber nodes' CPU per message (process.cpuUsage, summed
// over the nodes: receiving, parsing and dropping), and deliveries per message (useful, dropped). Compare the
// schemes within one run: the machine is shared.
import { fork } from 'node:child_process'
import { createClient } from 'redis'
import { startRedis } from './lib/redis.mjs'
import { numberArg } from './lib/number-arg.mjs'

const arg = numberArg
const NODES = arg('nodes', 3)
const WINDOW = 512
const PAYLOAD = Buffer.alloc(64, 0x61) // about a notification frame's size

// ------------------------------------------------------------------ subscriber process (one node)
if (process.argv[2] === 'node') {
  const url = process.argv[3]
  const sub = createClient({ url })
  sub.on('error', () => {}) // redis-server stops at the end of the run, maybe before this process is killed
  await sub.connect()
  let useful = 0
  let dropped = 0
  let mine = new Set()
  // The run's end for this node: it reports once it has received every message it will get
  // (no polling, which would add its own CPU to the measurement).
  let expectTotal = Infinity
  let reportId = 0
  const report = () => {
    const c = process.cpuUsage()
    process.send({ id: reportId, useful, dropped, cpuUs: c.user + c.system })
  }
  const onMessage = (message) => {
    // Every scheme's message is `<topic>\0<payload>`: the node delivers it if it has members there.
    const topic = message.subarray(0, message.indexOf(0)).toString()
    if (mine.has(topic)) useful++
    else dropped++
    if (useful + dropped === expectTotal) report()
  }
  let unsubscribe = async () => {}
  process.on('message', async (m) => {
    try {
      if (m.cmd === 'subscribe') {
        await unsubscribe()
        useful = 0
        dropped = 0
        mine = new Set(m.topics)
        const channels = m.channels
        if (m.scheme === 'sharded') {
          for (const c of channels) await sub.sSubscribe(c, onMessage, true)
          unsubscribe = async () => { for (const c of channels) await sub.sUnsubscribe(c) }
        } else {
          // Subscriptions in batches: one SUBSCRIBE with 10,000 channels is one command.
          for (let i = 0; i < channels.length; i += 1000) await sub.subscribe(channels.slice(i, i + 1000), onMessage, true)
          unsubscribe = async () => { for (let i = 0; i < channels.length; i += 1000) await sub.unsubscribe(channels.slice(i, i + 1000)) }
        }
        process.send({ id: m.id, ok: true })
      } else if (m.cmd === 'cpu') {
        const c = process.cpuUsage()
        process.send({ id: m.id, cpuUs: c.user + c.system })
      } else if (m.cmd === 'expect') {
        // Armed before the publisher starts (it waits for this answer); the report comes under doneId.
        useful = 0
        dropped = 0
        expectTotal = m.expectTotal
        reportId = m.doneId
        process.send({ id: m.id, ok: true })
      } else if (m.cmd === 'quit') {
        await sub.close()
        process.exit(0)
      }
    } catch (err) {
      process.send({ id: m.id, error: String(err?.stack ?? err) })
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true })
} else {
  await main()
}

async function main() {
  const messages = arg('messages', 60_000)
  const topics = arg('topics', 1000)
  const reps = arg('reps', 3)
  const redis = await startRedis({ extraArgs: ['--client-output-buffer-limit', 'pubsub 0 0 0'] })
  const nodes = []
  let nextId = 0
  /** The node's message with this id. */
  const answer = (node, id) => new Promise((resolve, reject) => {
    const on = (m) => {
      if (m.id !== id) return
      node.off('message', on)
      m.error ? reject(new Error(m.error)) : resolve(m)
    }
    node.on('message', on)
  })
  const ask = (node, msg) => {
    const id = ++nextId
    const answered = answer(node, id)
    node.send({ ...msg, id })
    return answered
  }
  try {
    for (let n = 0; n < NODES; n++) {
      const child = fork(new URL(import.meta.url).pathname, ['node', redis.url, String(n)], { stdio: 'inherit' })
      await new Promise((resolve, reject) => { child.once('message', resolve); child.once('exit', () => reject(new Error(`node ${n} exited`))) })
      nodes.push(child)
    }
    const pub = createClient({ url: redis.url })
    pub.on('error', () => {}) // its commands reject too; redis-server stops at the end
    await pub.connect()
    const topicNames = Array.from({ length: topics }, (_, i) => `t${i}`)
    const frames = topicNames.map((t) => Buffer.concat([Buffer.from(`${t}\0`), PAYLOAD]))
    const holders = {
      spread: (i) => [i % NODES],
      everywhere: () => [...Array(NODES).keys()],
    }
    const schemes = {
      'per-topic': {
        channels: (mineTopics) => mineTopics.map((t) => `c:t:${t}`),
        send: (i, interested) => [pub.publish(`c:t:${topicNames[i]}`, frames[i])],
      },
      sharded: {
        channels: (mineTopics) => mineTopics.map((t) => `c:t:${t}`),
        send: (i) => [pub.sPublish(`c:t:${topicNames[i]}`, frames[i])],
      },
      'one channel': {
        channels: () => ['c:topics'],
        send: (i) => [pub.publish('c:topics', frames[i])],
      },
      'per node': {
        channels: (_, n) => [`c:n:${n}`],
        send: (i, interested) => interested.map((n) => pub.publish(`c:n:${n}`, frames[i])),
      },
    }
    const cpu = async () => {
      const info = await pub.info('cpu')
      const get = (k) => Number(info.match(new RegExp(`^${k}:([\\d.]+)`, 'm'))[1])
      return get('used_cpu_user') + get('used_cpu_sys')
    }
    const results = []
    for (const [interest, holdersOf] of Object.entries(holders)) {
      const rows = Object.fromEntries(Object.keys(schemes).map((s) => [s, []]))
      // Repetitions interleave the schemes, so that noise on the machine spreads evenly.
      for (let r = 0; r < reps; r++) {
        for (const [name, scheme] of Object.entries(schemes)) {
          await Promise.all(nodes.map((node, n) => {
            const mineTopics = topicNames.filter((_, i) => holdersOf(i).includes(n))
            return ask(node, { cmd: 'subscribe', scheme: name, topics: mineTopics, channels: scheme.channels(mineTopics, n) })
          }))
          let expected = 0
          for (let k = 0; k < messages; k++) expected += holdersOf(k % topics).length
          // What each node will receive: its topics' messages, or every message on the one channel.
          const expectTotal = nodes.map((_, n) => {
            let total = 0
            for (let k = 0; k < messages; k++) if (name === 'one channel' || holdersOf(k % topics).includes(n)) total++
            return total
          })
          const nodeCpu0 = (await Promise.all(nodes.map((node) => ask(node, { cmd: 'cpu' })))).reduce((s, c) => s + c.cpuUs, 0)
          // Each node answers under doneId once it has all its messages (bounded: 60 s).
          const doneIds = nodes.map(() => ++nextId)
          const done = Promise.all(nodes.map((node, n) => answer(node, doneIds[n])))
          await Promise.all(nodes.map((node, n) => ask(node, { cmd: 'expect', expectTotal: expectTotal[n], doneId: doneIds[n] })))
          const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`${name}/${interest}: not every node got its messages within 60 s`)), 60_000).unref())
          const cpu0 = await cpu()
          const t0 = performance.now()
          let inFlight = []
          for (let k = 0; k < messages; k++) {
            const i = k % topics
            inFlight.push(...scheme.send(i, holdersOf(i)))
            if (inFlight.length >= WINDOW) { await Promise.all(inFlight); inFlight = [] }
          }
          await Promise.all(inFlight)
          const counts = await Promise.race([done, timeout])
          const seconds = (performance.now() - t0) / 1000
          const cpuUsed = (await cpu()) - cpu0
          const useful = counts.reduce((s, c) => s + c.useful, 0)
          const dropped = counts.reduce((s, c) => s + c.dropped, 0)
          const nodeUs = counts.reduce((s, c) => s + c.cpuUs, 0) - nodeCpu0
          if (useful !== expected) throw new Error(`${name}/${interest}: ${useful} useful deliveries, expected ${expected}`)
          rows[name].push({ perSec: messages / seconds, redisUsPerMsg: (cpuUsed * 1e6) / messages, nodeUsPerMsg: nodeUs / messages, usefulPerMsg: useful / messages, droppedPerMsg: dropped / messages })
        }
      }
      for (const [name, reps_] of Object.entries(rows)) {
        const med = (k) => reps_.map((x) => x[k]).sort((a, b) => a - b)[reps_.length >> 1]
        results.push({ interest, scheme: name, perSec: med('perSec'), redisUsPerMsg: med('redisUsPerMsg'), nodeUsPerMsg: med('nodeUsPerMsg'), usefulPerMsg: med('usefulPerMsg'), droppedPerMsg: med('droppedPerMsg'), reps: reps_ })
      }
    }
    await pub.close()
    const head = ['interest', 'scheme', 'published msg/s', 'Redis CPU µs/msg', 'nodes CPU µs/msg', 'deliveries/msg used', 'dropped']
    const lines = results.map((r) => [r.interest, r.scheme, Math.round(r.perSec).toLocaleString('en-US'), r.redisUsPerMsg.toFixed(1), r.nodeUsPerMsg.toFixed(1), r.usefulPerMsg.toFixed(2), r.droppedPerMsg.toFixed(2)])
    const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
    console.log(`${messages} messages of ${PAYLOAD.length + 4} B over ${topics} topics, ${NODES} subscribed nodes, ${WINDOW} in flight, medians of ${reps}`)
    for (const l of [head, ...lines]) console.log(l.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '))
  } finally {
    for (const n of nodes) n.kill('SIGKILL')
    await redis.stop()
  }
}
