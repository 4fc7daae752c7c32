/**
 * `redisCluster()`: wirecall servers in several processes acting as one,
 * over Redis pub/sub and a few keys. See docs/scaling.md for the design and
 * what crosses Redis per operation.
 *
 * Channels (all under `prefix`, `wirecall` by default):
 * - `<prefix>:t:<topic>`: one message per topic notification, the frame the
 *   publishing node encoded for its own members, delivered as is. A node
 *   subscribes to a topic's channel only while it has members in the topic.
 * - `<prefix>:all`: notifications to every connection.
 * - `<prefix>:n:<node>`: the node's inbox: notifications to listed
 *   connection ids, calls to its pages, and answers to its own calls.
 * With `sharded: true` (Redis Cluster) they are sharded channels
 * (`SPUBLISH`/`SSUBSCRIBE`).
 * Keys: `<prefix>:nodes` (set of node ids), `<prefix>:node:{<node>}` (alive
 * while it exists: refreshed every `heartbeatMs`, expires after `nodeTtlMs`),
 * `<prefix>:p:{<node>}` (hash: connection id -> presence entry as JSON); the
 * `{<node>}` hash tag keeps a node's two keys in one Redis Cluster slot.
 */
import { ConnectionClosedError, NotFoundError, ParameterError, TimeoutError, DEFAULT_TIMEOUT_MS, type CallOptions } from '@wirecall/core'
import { MsgpackCodec, errorPolicy, resolvePath } from '@wirecall/core/internal'
import type { Cluster, Connection, FanoutTarget, LocalNode, PresenceEntry } from '@wirecall/node'
import { NodeLinks, type LinkOptions } from './links.js'
import { RelayObserver } from './relay-observer.js'
import { releaseHeld } from './held-values.js'
import { CALL, DELIVER, InboxCalls, NODE_CALL } from './inbox-calls.js'
import { createRedisClient, type Client } from './redis-client.js'
import type { RedisClusterOptions } from './options.js'
import { NODE_ID, jsonSafe, nodeOf, offeredNames, parseEntry, randomId } from './names.js'
import { CLOSE_TIMEOUT_MS, JOIN_TIMEOUT_MS, REDIS_REPLY_TIMEOUT_MS, unanswered, within } from './deadlines.js'

/** A value that is data whatever the codec: nothing inside to check. */
function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function')
}

/** A cluster over Redis: `serve({ cluster: redisCluster({ url }) })`. */
export function redisCluster(options: RedisClusterOptions = {}): Cluster {
  return new RedisCluster(options)
}

class RedisCluster implements Cluster {
  readonly nodeId: string
  private readonly prefix: string
  private readonly heartbeatMs: number
  private readonly nodeTtlMs: number
  private readonly pub: Client
  private readonly sub: Client
  /** Redis Cluster with sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`) instead of one Redis with `PUBLISH`/`SUBSCRIBE`. */
  private readonly sharded: boolean
  /** Data only: without a reference host, functions and services are refused while encoding. */
  private readonly codec = new MsgpackCodec()
  private readonly policy = errorPolicy({ exposeErrorStacks: false })
  private local: LocalNode | undefined
  /**
   * The subscription listener of each topic channel: one function per topic, so
   * subscribing again never adds a second. Kept after the last member leaves
   * until Redis confirms the `UNSUBSCRIBE`: one refused while Redis is away
   * leaves the channel in the client, which subscribes it again on reconnecting;
   * the subscriber's `ready` handler then unsubscribes it, and a member that
   * joins meanwhile reuses the same function (a second one would deliver every
   * notification twice).
   */
  private readonly topicListeners = new Map<string, (message: Buffer) => void>()
  /** Local members per topic: a topic channel is subscribed while its count is above zero. */
  private readonly topicCounts = new Map<string, number>()
  /** Calls through the nodes' Redis inboxes (when no node link carries them). */
  private readonly inboxCalls: InboxCalls
  /** The server's observers watching calls relayed through Redis (undefined when nothing observes). */
  private relay: RelayObserver | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  /** This node left the cluster (`close()`). */
  private isClosed = false
  private readonly logger: { warn(message: string, ...details: unknown[]): void }
  /** `<node id>\0`, the head of this node's fan-out messages. */
  private readonly tag: Buffer
  /** The value of this node's liveness key: what its node service offers, and its link URL. */
  private nodeInfo: string
  private links: NodeLinks | undefined
  /** Other nodes' link URLs (null: the node has none), read from their liveness keys when first needed. */
  private readonly linkUrls = new Map<string, string | null>()
  private nextAnyNode = 0

  constructor(private readonly options: RedisClusterOptions) {
    const nodeId = options.nodeId ?? randomId()
    if (!NODE_ID.test(nodeId)) throw new TypeError(`redisCluster: nodeId must match ${NODE_ID} (got ${JSON.stringify(nodeId)})`)
    this.nodeId = nodeId
    this.tag = Buffer.from(`${nodeId}\0`, 'latin1')
    this.nodeInfo = JSON.stringify({ offers: options.nodeService ? offeredNames(options.nodeService) : [] })
    this.prefix = options.prefix ?? 'wirecall'
    this.heartbeatMs = options.heartbeatMs ?? 2000
    this.nodeTtlMs = options.nodeTtlMs ?? 6000
    if (this.nodeTtlMs < this.heartbeatMs * 2) throw new RangeError('redisCluster: nodeTtlMs must be at least twice heartbeatMs')
    const join = options.joinTimeoutMs
    if (join !== undefined && !(join > 0)) throw new RangeError(`redisCluster: joinTimeoutMs must be a positive number of milliseconds (got ${join})`)
    this.logger = options.logger ?? console
    this.sharded = options.sharded === true
    this.pub = createRedisClient(options, this.sharded)
    this.sub = this.pub.duplicate()
    this.inboxCalls = new InboxCalls({
      nodeId,
      codec: this.codec,
      policy: this.policy,
      errors: options.errors,
      relay: () => this.relay,
      isReady: () => this.pub.isReady,
      onceReady: (listener) => void this.pub.once('ready', listener),
      send: (channel, message) => this.send(channel, message),
      inbox: (node) => this.key('n', node),
      connection: (id) => this.local?.connection(id),
      runNodeCall: (path, args, timeout, from) => this.runNodeCall(path, args, timeout, from),
    })
    let reported = false
    const onError = (err: Error) => {
      // The client reconnects by itself; say so once per outage, not once per retry.
      if (!reported) this.logger.warn(`[wirecall] redis cluster node ${this.nodeId}: ${err.message} (reconnecting)`)
      reported = true
    }
    // A cluster client reports per Redis node; a plain client for itself.
    const [errorEvent, readyEvent] = this.sharded ? ['node-error', 'node-ready'] : ['error', 'ready']
    for (const c of [this.pub, this.sub]) {
      c.on(errorEvent, onError)
      if (this.sharded) c.on('error', onError)
    }
    this.pub.on(readyEvent, () => {
      if (reported) this.logger.warn(`[wirecall] redis cluster node ${this.nodeId}: connected again`)
      reported = false
      // After an outage the keys may have expired: announce this node and its connections again.
      if (this.local && !this.isClosed) this.announce().catch(() => {})
    })
    // A topic first joined while the subscriber knew Redis was away was refused (no offline
    // queue), not kept: subscribe every topic again when it is back. The client keeps one
    // listener per channel, so a topic it kept is not subscribed twice.
    // Topics left meanwhile whose UNSUBSCRIBE was refused are unsubscribed again.
    this.sub.on(readyEvent, () => {
      if (!this.local || this.isClosed) return
      for (const [topic, listener] of this.topicListeners) {
        if (this.topicCounts.has(topic)) this.listen(this.key('t', topic), listener).catch(() => {})
        else this.unsubscribeTopic(topic, listener)
      }
    })
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':')
  }

  /**
   * A node's liveness key, `<prefix>:node:{<node>}`. The braces are a hash
   * tag: in a Redis Cluster it and the node's presence hash are in one slot,
   * so one `MULTI` can refresh both (one Redis ignores the braces).
   */
  private liveKey(node: string): string {
    return `${this.prefix}:node:{${node}}`
  }

  /** A node's presence hash, `<prefix>:p:{<node>}` (same slot as its liveness key). */
  private presenceKey(node: string): string {
    return `${this.prefix}:p:{${node}}`
  }

  /** `PUBLISH`, or `SPUBLISH` on a Redis Cluster (the channel's shard forwards it). */
  private send(channel: string, message: Buffer): Promise<number> {
    return this.sharded ? this.pub.sPublish(channel, message) : this.pub.publish(channel, message)
  }

  private listen(channel: string, listener: (message: Buffer, channel: Buffer) => void): Promise<void> {
    return this.sharded ? this.sub.sSubscribe(channel, listener, true) : this.sub.subscribe(channel, listener, true)
  }

  private unlisten(channel: string, listener: (message: Buffer, channel: Buffer) => void): Promise<void> {
    return this.sharded ? this.sub.sUnsubscribe(channel, listener, true) : this.sub.unsubscribe(channel, listener, true)
  }

  async attach(node: LocalNode): Promise<void> {
    this.local = node
    if (node.observer) {
      this.relay = new RelayObserver(node.observer, this.nodeId, () => this.inboxCalls.counts(),
        { error: (message, ...details) => this.logger.warn(message, ...details) })
    }
    try {
      const ms = this.options.joinTimeoutMs ?? JOIN_TIMEOUT_MS
      await within(this.join(), ms, () => new Error(`Redis did not answer within ${ms} ms (joinTimeoutMs)`))
    } catch (err) {
      this.isClosed = true
      for (const c of [this.pub, this.sub]) if (c.isOpen) c.destroy()
      throw new Error(`redisCluster: node ${this.nodeId} cannot join the cluster: ${(err as Error).message}`, { cause: err })
    }
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs)
    this.heartbeat.unref()
  }

  /** Connect, subscribe this node's channels and announce it (`attach`, within `joinTimeoutMs`). */
  private async join(): Promise<void> {
    await this.connectOnce()
    if (this.options.links) await this.startLinks(this.options.links === true ? {} : this.options.links)
    // One channel at a time: on a Redis Cluster each is in its own slot.
    const onMessage = (message: Buffer, channel: Buffer) => this.onMessage(message, channel.toString())
    await this.listen(this.key('n', this.nodeId), onMessage)
    await this.listen(this.key('all'), onMessage)
    await this.announce()
  }

  /**
   * The first connection fails fast: a wrong password, a refused or unreachable
   * Redis makes `serve()` reject with the reason (the client would otherwise
   * retry forever and `serve()` would never resolve). Later outages are retried.
   */
  private async connectOnce(): Promise<void> {
    let onError: ((err: Error) => void) | undefined
    const failed = new Promise<never>((_, reject) => {
      onError = reject
      this.pub.once('error', reject)
      this.sub.once('error', reject)
    })
    failed.catch(() => {})
    try {
      await Promise.race([Promise.all([this.pub.connect(), this.sub.connect()]), failed])
    } finally {
      this.pub.off('error', onError!)
      this.sub.off('error', onError!)
    }
  }

  /** Listen for links from the other nodes, with the cluster's secret (created by the first node that needs it). */
  private async startLinks(options: LinkOptions): Promise<void> {
    await this.pub.set(this.key('secret'), randomId() + randomId() + randomId(), { NX: true })
    const secret = await this.pub.get(this.key('secret'))
    if (!secret) throw new Error('could not read the cluster secret for node links')
    const links = new NodeLinks(options, this.nodeId, secret, {
      callPage: (id, path, args, timeout) => {
        const conn = this.local?.connection(id)
        if (!conn) return Promise.reject(new ConnectionClosedError(`connection ${id} is closed`))
        return conn.call(path, args, { timeout }).then((result) => this.dataOnly(path, 'result', result))
      },
      callNode: async (path, args, timeout, from) => this.dataOnly(path, 'result', await this.runNodeCall(path, args, timeout, from)),
    }, this.local?.observer)
    await links.start()
    // Joining gave up meanwhile (joinTimeoutMs): nothing may stay listening.
    if (this.isClosed) {
      await links.close()
      throw new Error('joining was given up')
    }
    this.links = links
    this.nodeInfo = JSON.stringify({ ...(JSON.parse(this.nodeInfo) as object), link: links.url })
  }

  /**
   * Across nodes, arguments and results are data only, whichever way they
   * travel. Primitives are data by definition, so the common case (a few
   * numbers and strings) skips the trial encoding: that encode is work on the
   * relay path of every call, on both nodes.
   */
  private dataOnly<T>(path: string, what: 'arguments' | 'result', value: T): T {
    if (what === 'result' ? isPrimitive(value) : (value as unknown[]).every(isPrimitive)) return value
    try {
      this.codec.encode(value, undefined)
    } catch (err) {
      if (what === 'result') releaseHeld(value)
      throw new ParameterError(
        `${what === 'result' ? 'the result' : 'arguments'} of ${path} cannot cross to another node: ${(err as Error).message} (across nodes, arguments and results are data only)`,
        { cause: err },
      )
    }
    return value
  }

  /** The link URL of `node`, if both ends have links. */
  private async linkUrl(node: string): Promise<string | undefined> {
    if (!this.links) return undefined
    let url = this.linkUrls.get(node)
    if (url === undefined) {
      const info = await within(this.pub.get(this.liveKey(node)), REDIS_REPLY_TIMEOUT_MS, unanswered).catch(() => null)
      try {
        url = info ? ((JSON.parse(info) as { link?: string }).link ?? null) : null
      } catch {
        url = null
      }
      // A node without a liveness key may be starting: ask again next time.
      if (info) this.linkUrls.set(node, url)
    }
    return url ?? undefined
  }

  /**
   * Write this node's liveness key and presence hash from scratch, then list it
   * in `nodes`. In that order: a node listed in `nodes` without a liveness key is
   * taken for gone by the others' `presence()`, which drops it from the set.
   */
  private async announce(): Promise<void> {
    const local = this.local!
    const entries: Record<string, string> = {}
    for (const conn of local.connections()) entries[conn.id] = this.entryJson(conn)
    // One slot (hash tag): one MULTI on one Redis and on a Redis Cluster.
    const multi = this.pub.multi()
      .set(this.liveKey(this.nodeId), this.nodeInfo, { PX: this.nodeTtlMs })
      .del(this.presenceKey(this.nodeId))
    if (Object.keys(entries).length > 0) multi.hSet(this.presenceKey(this.nodeId), entries)
    multi.pExpire(this.presenceKey(this.nodeId), this.nodeTtlMs * 10)
    await multi.exec()
    await this.pub.sAdd(this.key('nodes'), this.nodeId)
  }

  /**
   * Refresh the liveness key, and repair what others may have concluded meanwhile:
   * a beat that finds the key gone (missed beats on a busy process, a Redis that
   * restarted with an `announce` that failed) writes everything again, and every
   * beat lists the node in `nodes` again (another node's `presence()` drops a node
   * whose key it found expired, perhaps just before this node refreshed it).
   */
  private beat(): void {
    if (!this.pub.isReady) return
    this.pub.multi()
      .exists(this.liveKey(this.nodeId))
      .set(this.liveKey(this.nodeId), this.nodeInfo, { PX: this.nodeTtlMs })
      .pExpire(this.presenceKey(this.nodeId), this.nodeTtlMs * 10)
      .exec()
      .then(async ([existed]) => {
        if (this.isClosed) return
        if (existed === 0) await this.announce()
        else await this.pub.sAdd(this.key('nodes'), this.nodeId)
      })
      .catch(() => {})
    // Calls waiting on a node that stopped beating would otherwise wait for their timeout.
    for (const node of this.inboxCalls.nodesWaitedOn()) {
      this.pub.exists(this.liveKey(node)).then((alive) => {
        if (!alive) this.inboxCalls.failCallsTo(node)
      }, () => {})
    }
  }

  private entryJson(conn: Connection): string {
    return JSON.stringify({ identity: jsonSafe(conn.identity), topics: [...conn.topics], since: this.local!.since(conn) })
  }

  /** A presence write; lost writes are repaired by `announce` when Redis comes back. */
  private write(run: (client: Client) => Promise<unknown>): void {
    if (this.isClosed || !this.pub.isReady) return
    run(this.pub).catch(() => {})
  }

  opened(conn: Connection): void {
    this.write((c) => c.hSet(this.presenceKey(this.nodeId), conn.id, this.entryJson(conn)))
  }

  closed(conn: Connection): void {
    this.write((c) => c.hDel(this.presenceKey(this.nodeId), conn.id))
  }

  joined(conn: Connection, topic: string): void {
    const count = (this.topicCounts.get(topic) ?? 0) + 1
    this.topicCounts.set(topic, count)
    if (count === 1 && !this.isClosed) {
      this.subscribeTopic(topic)
    }
    this.opened(conn)
  }

  /**
   * Subscribe to a topic's channel. One made while Redis is away is made
   * again when the subscriber is back (its `ready` handler; tested: a topic
   * joined during an outage).
   */
  private subscribeTopic(topic: string): void {
    let listener = this.topicListeners.get(topic)
    if (!listener) this.topicListeners.set(topic, (listener = (message: Buffer) => this.onTopic(topic, message)))
    this.listen(this.key('t', topic), listener).catch(() => {})
  }

  left(conn: Connection, topic: string): void {
    const count = (this.topicCounts.get(topic) ?? 1) - 1
    if (count > 0) this.topicCounts.set(topic, count)
    else {
      this.topicCounts.delete(topic)
      const listener = this.topicListeners.get(topic)
      if (!this.isClosed && listener) this.unsubscribeTopic(topic, listener)
    }
    if (!conn.closed) this.opened(conn)
  }

  /** Unsubscribe a topic's channel; its listener is forgotten once Redis confirms (see `topicListeners`). */
  private unsubscribeTopic(topic: string, listener: (message: Buffer) => void): void {
    this.unlisten(this.key('t', topic), listener).then(() => {
      if (!this.topicCounts.has(topic) && this.topicListeners.get(topic) === listener) this.topicListeners.delete(topic)
    }, () => {})
  }

  publish(target: FanoutTarget, frame: Uint8Array): void {
    if (this.isClosed || !this.pub.isReady) return
    const payload = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)
    if ('topic' in target || 'all' in target) {
      // Tagged with this node's id: the publisher has served its own members already.
      const channel = 'topic' in target ? this.key('t', target.topic) : this.key('all')
      this.send(channel, Buffer.concat([this.tag, payload])).catch(() => {})
    } else {
      // One message per node that holds some of the ids, never one per connection.
      const byNode = new Map<string, string[]>()
      for (const id of target.ids) {
        const node = nodeOf(id)
        if (node === undefined || node === this.nodeId) continue
        let list = byNode.get(node)
        if (!list) byNode.set(node, (list = []))
        list.push(id)
      }
      for (const [node, ids] of byNode) {
        this.send(this.key('n', node), Buffer.from(this.codec.encode([DELIVER, ids, frame], undefined))).catch(() => {})
      }
    }
  }

  call(id: string, path: string, args: unknown[], options: CallOptions | undefined): Promise<unknown> {
    const node = nodeOf(id)
    if (node === undefined) return Promise.reject(new ConnectionClosedError(`no connection ${id} in the cluster (not a cluster connection id)`))
    if (node === this.nodeId) {
      const conn = this.local?.connection(id)
      return conn ? conn.call(path, args, options) : Promise.reject(new ConnectionClosedError(`connection ${id} is closed`))
    }
    if (this.isClosed) return Promise.reject(new ConnectionClosedError(`cannot call ${id}: this node left the cluster`))
    if (this.links) return this.viaLink(node, 'page', path, [id, path], args, options, () =>
      this.inboxCalls.request(node, `connection ${id}`, path, (callId) => [CALL, callId, this.nodeId, id, path, args], options))
    return this.inboxCalls.request(node, `connection ${id}`, path, (callId) => [CALL, callId, this.nodeId, id, path, args], options)
  }

  /**
   * A call over the link to `node` when it has one, else `fallback` (through
   * Redis). Once the node's address is known and its link is open, the call
   * goes out in this same tick: no awaits before the frame is written.
   */
  private viaLink(
    node: string, method: 'page' | 'node', path: string, head: unknown[], args: unknown[],
    options: CallOptions | undefined, fallback: () => Promise<unknown>,
  ): Promise<unknown> {
    const known = this.linkUrls.get(node)
    if (known === undefined) {
      // Reading the address is part of the call: within its timeout (Redis may be slow to answer).
      const timeout = options?.timeout ?? DEFAULT_TIMEOUT_MS
      const started = Date.now()
      const url = timeout > 0
        ? within(this.linkUrl(node), timeout, () => new TimeoutError(`call to ${path} timed out after ${timeout} ms (reading the link address of node ${node})`))
        : this.linkUrl(node)
      return url.then((url) => {
        const rest = timeout > 0 ? { ...options, timeout: Math.max(1, timeout - (Date.now() - started)) } : options
        return url ? this.overLink(node, url, method, path, head, args, rest) : fallback()
      })
    }
    return known ? this.overLink(node, known, method, path, head, args, options) : fallback()
  }

  private overLink(
    node: string, url: string, method: 'page' | 'node', path: string, head: unknown[], args: unknown[], options: CallOptions | undefined,
  ): Promise<unknown> {
    try {
      this.dataOnly(path, 'arguments', args)
    } catch (err) {
      return Promise.reject(err)
    }
    const timeout = options?.timeout ?? DEFAULT_TIMEOUT_MS
    return this.links!.call(node, url, method, [...head, args, timeout], timeout, options?.signal).catch((err: unknown) => {
      // The node may have gone or come back elsewhere: read its address again next time.
      if (err instanceof ConnectionClosedError) this.linkUrls.delete(node)
      throw err
    })
  }

  async callNode(node: string | undefined, path: string, args: unknown[], options: CallOptions | undefined): Promise<unknown> {
    if (this.isClosed) throw new ConnectionClosedError(`cannot call ${path}: this node left the cluster`)
    const target = node ?? (await within(this.pickNode(path), REDIS_REPLY_TIMEOUT_MS, unanswered))
    if (target === this.nodeId) return this.runNodeCall(path, args, options?.timeout ?? DEFAULT_TIMEOUT_MS, this.nodeId)
    const viaRedis = () => this.inboxCalls.request(target, `node ${target}`, path, (callId) => [NODE_CALL, callId, this.nodeId, path, args], options)
    return this.links ? this.viaLink(target, 'node', path, [path], args, options, viaRedis) : viaRedis()
  }

  /** A live node whose node service offers the first member of `path` (round robin over them). */
  private async pickNode(path: string): Promise<string> {
    this.ready()
    const member = path.split('.')[0]!
    const nodes = await this.pub.sMembers(this.key('nodes'))
    const infos = await Promise.all(nodes.map((n) => this.pub.get(this.liveKey(n))))
    const offering = nodes.filter((n, i) => {
      const info = infos[i]
      if (!info) return false
      try {
        return (JSON.parse(info) as { offers?: string[] }).offers?.includes(member) === true
      } catch {
        return false
      }
    }).sort()
    if (offering.length === 0) throw new ConnectionClosedError(`no live node offers ${path}`)
    return offering[this.nextAnyNode++ % offering.length]!
  }

  /** Run a call to this node's node service (from another node, or from this one). */
  private async runNodeCall(path: string, args: unknown[], timeout: number, from: string): Promise<unknown> {
    const root = this.options.nodeService
    const handler = root ? resolvePath(root, path) : undefined
    if (!handler) throw new NotFoundError(`node ${this.nodeId} offers no ${path}`)
    if (!handler.contextual) return handler.fn.apply(handler.self, args)
    const signal = timeout > 0 ? AbortSignal.timeout(timeout) : new AbortController().signal
    return handler.fn.call(handler.self, { connection: undefined, peer: { address: from }, identity: undefined, path, signal }, ...args)
  }

  // ---------------------------------------------------------------- receiving

  private onMessage(message: Buffer, channel: string): void {
    try {
      if (channel === this.key('all')) return this.onAll(message)
      const decoded = this.codec.decode(message, undefined, message.length + 1) as unknown[]
      if (decoded[0] === DELIVER) this.local?.deliver({ ids: decoded[1] as string[] }, decoded[2] as Uint8Array)
      else this.inboxCalls.receive(decoded, message.length)
    } catch (err) {
      this.logger.warn(`[wirecall] redis cluster node ${this.nodeId}: a message on ${channel} could not be used:`, err)
    }
  }

  private onTopic(topic: string, message: Buffer): void {
    const frame = this.foreignFrame(message)
    if (frame) this.local?.deliver({ topic }, frame)
  }

  private onAll(message: Buffer): void {
    const frame = this.foreignFrame(message)
    if (frame) this.local?.deliver({ all: true }, frame)
  }

  /** The frame of a `<node id>\0<frame>` fan-out message, unless this node published it (it served its members already). */
  private foreignFrame(message: Buffer): Buffer | undefined {
    const end = message.indexOf(0)
    if (end < 0) return undefined
    if (end === this.tag.length - 1 && message.compare(this.tag, 0, end, 0, end) === 0) return undefined
    return message.subarray(end + 1)
  }

  // ----------------------------------------------------------------- presence

  presence(): Promise<PresenceEntry[]> {
    try {
      this.ready()
    } catch (err) {
      return Promise.reject(err)
    }
    return within(this.readPresence(), REDIS_REPLY_TIMEOUT_MS, unanswered)
  }

  private async readPresence(): Promise<PresenceEntry[]> {
    const nodes = await this.pub.sMembers(this.key('nodes'))
    const alive = await Promise.all(nodes.map((n) => this.pub.exists(this.liveKey(n))))
    const out: PresenceEntry[] = []
    const gone: string[] = []
    const hashes = await Promise.all(nodes.map((n, i) => (alive[i] ? this.pub.hGetAll(this.presenceKey(n)) : undefined)))
    nodes.forEach((node, i) => {
      const hash = hashes[i]
      if (!hash) return void gone.push(node)
      for (const [id, json] of Object.entries(hash)) out.push(parseEntry(id, node, json))
    })
    // Nodes whose liveness key expired left without saying so: forget them. Their
    // presence hashes expire by themselves (10 x nodeTtlMs); they are not deleted
    // here, since a node that only missed beats lists itself again on its next beat.
    if (gone.length > 0) this.pub.sRem(this.key('nodes'), gone).catch(() => {})
    return out.sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : 1))
  }

  async lookup(id: string): Promise<PresenceEntry | undefined> {
    this.ready()
    const node = nodeOf(id)
    if (node === undefined) return undefined
    const [alive, json] = await within(
      Promise.all([this.pub.exists(this.liveKey(node)), this.pub.hGet(this.presenceKey(node), id)]), REDIS_REPLY_TIMEOUT_MS, unanswered)
    return alive && json ? parseEntry(id, node, json) : undefined
  }

  private ready(): void {
    if (!this.pub.isReady) throw new ConnectionClosedError('the cluster is unavailable (Redis is not connected)')
  }

  async close(): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    clearInterval(this.heartbeat)
    this.inboxCalls.failAll()
    this.relay?.close()
    await this.links?.close()
    // A Redis that does not answer must not hold the server's close: past the deadline the
    // connections are dropped (the node's keys then expire by themselves).
    const deadline = Date.now() + CLOSE_TIMEOUT_MS
    const left = () => Math.max(0, deadline - Date.now())
    const late = () => new Error('Redis did not answer in time')
    if (this.pub.isReady) {
      await within(Promise.all([
        this.pub.sRem(this.key('nodes'), this.nodeId),
        this.pub.del([this.liveKey(this.nodeId), this.presenceKey(this.nodeId)]),
      ]), left(), late).catch(() => {})
    }
    await Promise.all([this.sub, this.pub].map((c) => (c.isOpen ? within(c.close(), left(), late).catch(() => c.destroy()) : undefined)))
  }
}
