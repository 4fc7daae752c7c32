/**
 * The reconnecting client, the same code in Node and in browsers: one stable
 * `remote` over a series of connections. Owns the connection lifecycle
 * (state, reconnect with capped exponential backoff and jitter, calls made
 * while disconnected, listeners that survive a reconnect); every call goes
 * through the core `Session` of the current connection.
 *
 * What differs between platforms is only how one connection is opened: a
 * `Dialer`. The browser package dials with the page's `WebSocket`
 * (`@wirecall/browser`), the Node package with `ws` and its own transport
 * (headers, TLS options, corked writes, zero-copy large binaries), each adding
 * its own liveness check. So this module imports neither Node nor the DOM.
 *
 * Delivery is at most once: calls pending when a connection drops reject
 * with `ConnectionClosedError` and are never re-sent (the server may already
 * have run them), unless the caller marked them `idempotent`. Given the
 * `resume` option, and when the server offers resumable sessions
 * (docs/protocol.md, "Resume"), the session itself survives a drop: the
 * handshake and the parked session are in client-resume.ts (not bundled by a
 * page that does not pass `resume`); see the README's guarantee.
 */
import { waitForSession, type SessionWaiter } from './waiting.js'
import { debugLog } from './debug.js'
import { ConnectionClosedError, TimeoutError } from './errors.js'
import { resolveLimits, type Limits } from './limits.js'
import type { ResumeFailure } from './resume.js'
import type { ClientResumer, ResumeHost, ResumeSupport } from './resume-support.js'
import { DEFAULT_TIMEOUT_MS, type CallOptions, type Logger, type SessionOptions } from './options.js'
import { createProxy, type Notify, type Remote } from './proxy.js'
import { Session, noteReconnect, type CallScope } from './session.js'
import type { Transport } from './transport.js'

/** `wirecall:client`: connects, drops, reconnect attempts and state changes. */
const debug = debugLog('wirecall:client')

/** Where the client is in its life. `closed` is final. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** Backoff between reconnect attempts: `min(maxDelayMs, initialDelayMs * factor^n)`, minus up to `jitter` of it at random. */
export interface ReconnectOptions {
  /** @default 250 ms */
  readonly initialDelayMs: number
  /** @default 10 000 ms: a restarted server is found within seconds, without hammering a dead one. */
  readonly maxDelayMs: number
  /** @default 2 */
  readonly factor: number
  /** Fraction (0-1) of each delay randomised away, so many clients do not reconnect in lockstep. @default 0.5 */
  readonly jitter: number
  /** Give up (state `closed`) after this many failed attempts in a row. @default Infinity */
  readonly maxAttempts: number
  /**
   * How long a link must stay open to count as a recovery: only then does the
   * next reconnect start again from `initialDelayMs` (and `maxAttempts`
   * count again from zero). A server that accepts and drops at once (a crash
   * loop, a proxy without a backend) is retried at a growing delay instead of
   * every `initialDelayMs` by every client. @default 5000 ms
   */
  readonly stableAfterMs: number
}

/** The reconnect backoff used when `reconnect` is `true` or leaves fields out. */
export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
  stableAfterMs: 5000,
})

/** Options of a reconnecting client (`Client`), whatever the platform: the session options plus reconnecting. */
export interface ClientOptions<ServerService = unknown> extends Omit<SessionOptions, 'peer' | 'identity'> {
  /** Reconnect automatically when the connection drops. */
  readonly reconnect?: boolean | Readonly<Partial<ReconnectOptions>>
  /**
   * Calls made while not connected: `'wait'` queues them until the next
   * connection opens (their timeout keeps running); `'fail'` rejects them
   * at once with `ConnectionClosedError`. @default 'wait'
   */
  readonly whileDisconnected?: 'wait' | 'fail'
  /** Called on every state change (also available as `client.onStateChange`). */
  onStateChange?(state: ConnectionState, client: Client<ServerService>): void
  /**
   * Called after each re-connection that started a new session (not the
   * first connection, and not a resumed session, which kept its
   * subscriptions): re-subscribe here.
   */
  onReconnect?(client: Client<ServerService>): void | Promise<void>
  /**
   * Resumable sessions: pass `resume` (`import { resume } from
   * '@wirecall/browser'` or `'@wirecall/node'`). The client then offers
   * `wirecall.resume.v1`, and when the server selects it (`serve({ resume:
   * true })`) a session whose link drops survives: references,
   * subscriptions and calls in flight stay, and frames sent meanwhile are
   * delivered once, in order. Without it, each reconnect starts a fresh
   * session and `onReconnect` runs. A value rather than a switch, so that a
   * page that does not resume does not bundle the resume code; `false`
   * turns off a platform's default.
   * @default undefined in a page; `resume` in the Node `createClient()` and `connect({ reconnect })`
   */
  readonly resume?: ResumeSupport | false
  /**
   * Called after each reconnect of a client that had a resumable session:
   * `{ resumed: true }`, or `{ resumed: false, reason }` when the server
   * gave a fresh session instead (the old one expired, was refused, or could
   * not be replayed; its pending calls rejected, `onReconnect` runs).
   */
  readonly onResume?: (result: ResumeResult, client: Client<ServerService>) => void
}

/** What became of a resumable session after a reconnect (`ClientOptions.onResume`). */
export type ResumeResult =
  | {
    /** The same session continues: nothing was lost. */
    readonly resumed: true
  }
  | {
    /** A fresh session replaced the old one. */
    readonly resumed: false
    /** Why the old session could not resume. */
    readonly reason: ResumeFailure
  }

/** One open connection, as a platform's `Dialer` hands it to the client. */
export interface Link {
  /** The connection's transport, not started yet: the client's new `Session` starts it. */
  readonly transport: Transport
  /**
   * Optional: watch the peer's liveness over this link for `session`;
   * returns the function that stops watching (the link dropped).
   */
  watch?(session: Session<unknown>): () => void
  /** The server selected the subprotocol of the client's `resume` option: the link starts with the resume handshake. */
  readonly resume?: boolean
}

/** What a dial attempt reports, exactly once: `opened` or `failed`. */
export interface DialEvents {
  /** The connection is open. */
  opened(link: Link): void
  /**
   * The attempt failed. `final`: retrying cannot help (a malformed URL, a
   * handshake the server refused with 401 or 403): the client gives up.
   */
  failed(reason: Error, final?: boolean): void
}

/**
 * How a platform opens one connection: `dial` starts an attempt and returns
 * a function that abandons it (the client was closed meanwhile).
 */
export interface Dialer {
  /** The address dialled, for messages and `peer.url`. */
  readonly url: string
  /** Start one connection attempt; report it through `events`. Returns the function that abandons it. */
  dial(events: DialEvents): () => void
}

/**
 * One `remote` that stays valid over a series of connections, reconnecting
 * with capped exponential backoff and jitter. The browser package's
 * `BrowserClient` and the Node package's reconnecting `connect()` are this
 * class with their platform's `Dialer`.
 *
 * @example
 * ```ts
 * import { connect } from '@wirecall/node'     // or '@wirecall/browser'
 *
 * type Api = { math: { add(a: number, b: number): number } }
 * const client = await connect<Api>('ws://127.0.0.1:8080', { reconnect: true })
 * client.onStateChange((state) => console.log(state))  // connecting | open | reconnecting | closed
 * console.log(await client.remote.math.add(3, 4))      // 7, on whichever connection is open
 * await client.close()
 * ```
 */
export class Client<ServerService = unknown> {
  /** The server's service; stays valid across reconnects. */
  readonly remote: Remote<ServerService>
  /** Fire-and-forget to the server; dropped (not queued) while disconnected. */
  readonly notify: Notify<ServerService>
  /** Resolves on the first open; rejects if the client closes before that. */
  readonly ready: Promise<void>
  /** The server's address. */
  readonly url: string

  private current: Session<ServerService> | undefined
  /** The resume side (client-resume.ts), when the `resume` option is given. */
  private readonly resumer: ClientResumer<ServerService> | undefined
  /** Stops the liveness check of the current link. */
  private unwatch: (() => void) | undefined
  private stateNow: ConnectionState = 'connecting'
  private readonly stateListeners = new Set<(state: ConnectionState) => void>()
  /** Listeners added with `on`, re-attached to every new connection; `off` detaches from the current one. */
  private readonly notificationListeners: { path: string; listener: (...args: never[]) => unknown; off: (() => void) | undefined }[] = []
  private readonly waiters = new Set<SessionWaiter<ServerService>>()
  private readonly backoff: ReconnectOptions | undefined
  /** Reconnect attempts since the last link that stayed open `stableAfterMs` (sets the next delay). */
  private attempts = 0
  /** When the current link opened (`Date.now()`), to tell a recovery from an accept-and-drop. */
  private openedAt = 0
  private everOpened = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private abandon: (() => void) | undefined
  private settleReady!: { resolve(): void; reject(e: Error): void }

  /**
   * Start connecting through `dialer` at once. `sessionOptions` is one object
   * for every connection, so the sessions share the configuration resolved
   * from it; `reconnectByDefault` is the platform's default for `reconnect`.
   */
  constructor(
    private readonly dialer: Dialer,
    private readonly options: ClientOptions<ServerService>,
    private readonly sessionOptions: SessionOptions,
    reconnectByDefault: boolean,
  ) {
    this.url = dialer.url
    const resume = options.resume
    // A value, not a switch (see `ClientOptions.resume`): `resume: true` from plain JS would otherwise fail later, obscurely.
    if (resume !== undefined && resume !== false && typeof (resume as Partial<ResumeSupport> | null)?.client !== 'function') {
      throw new TypeError(`resume: expected the \`resume\` value exported by @wirecall/browser or @wirecall/node, or false; got ${String(resume)}`)
    }
    this.resumer = resume ? resume.client<ServerService>(this.resumeHost(resolveLimits(sessionOptions.limits))) : undefined
    const reconnect = options.reconnect ?? reconnectByDefault
    this.backoff = reconnect === false ? undefined : { ...DEFAULT_RECONNECT, ...(reconnect === true ? {} : reconnect) }
    this.ready = new Promise((resolve, reject) => (this.settleReady = { resolve, reject }))
    this.ready.catch(() => {}) // observed through connect(); never an unhandled rejection
    this.remote = createProxy({ invoke: (path, args) => this.call(path, args) }) as Remote<ServerService>
    this.notify = createProxy({ invoke: (path, args) => this.current?.sendNotification(path, args) }) as Notify<ServerService>
    this.open()
  }

  private get logger(): Logger {
    return this.options.logger ?? console
  }

  /** Current state. */
  get state(): ConnectionState {
    return this.stateNow
  }

  /** The session of the current connection, if open (for `stats()`, or per-connection details). */
  get session(): Session<ServerService> | undefined {
    return this.current
  }

  /** Observe state changes. Returns the unsubscribe function. */
  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener)
    return () => this.stateListeners.delete(listener)
  }

  /** Listen to a server notification on every connection, next to the client-side service. */
  on(path: string, listener: (...args: never[]) => unknown): () => void {
    const entry = { path, listener, off: this.current?.on(path, listener) }
    this.notificationListeners.push(entry)
    return () => {
      const i = this.notificationListeners.indexOf(entry)
      if (i >= 0) this.notificationListeners.splice(i, 1)
      entry.off?.()
      entry.off = undefined
    }
  }

  /** The same remote and notify, with per-call options (timeout, signal) applied to calls: the shape of `Session.with()`. */
  with(options: CallOptions): CallScope<ServerService> {
    return { remote: createProxy({ invoke: (path, args) => this.call(path, args, options) }) as Remote<ServerService>, notify: this.notify }
  }

  /** Close for good: no more reconnects; pending and waiting calls reject. */
  async close(): Promise<void> {
    if (this.stateNow === 'closed') return
    clearTimeout(this.retryTimer)
    this.setState('closed')
    this.rejectWaiters(new ConnectionClosedError('client closed'))
    this.settleReady.reject(new ConnectionClosedError(`client closed before connecting to ${this.url}`))
    this.resumer?.close()
    const session = this.current
    if (session) await session.close()
    else this.abandon?.()
  }

  // ------------------------------------------------------------------ calls

  private call(path: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    const sent = this.callOnce(path, args, options)
    if (!options?.idempotent) return sent
    const started = Date.now()
    return sent.catch((err: unknown) => this.resend(err, path, args, options, started))
  }

  /** An idempotent call whose connection was lost: send it again on the next one, within its timeout. */
  private resend(err: unknown, path: string, args: unknown[], options: CallOptions, started: number): Promise<unknown> {
    if (!(err instanceof ConnectionClosedError) || this.stateNow === 'closed') throw err
    const timeout = options.timeout ?? this.options.timeout ?? DEFAULT_TIMEOUT_MS
    const left = timeout > 0 ? timeout - (Date.now() - started) : 0
    if (timeout > 0 && left <= 0) throw err
    debug(`${this.url}: re-sending idempotent call ${path} after: ${err.message}`)
    const scoped = { ...options, timeout: timeout > 0 ? left : 0 }
    const current = this.current
    // Each try waits for a session that is open, so a try fails only when a connection is lost: no busy loop.
    const next = current && !current.closed ? current.call(path, args, scoped) : this.waitForSession(path, scoped.timeout, options.signal).then((s) => s.call(path, args, scoped))
    return next.catch((again: unknown) => this.resend(again, path, args, options, started))
  }

  private callOnce(path: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    const session = this.current
    if (session && !session.closed) return session.call(path, args, options)
    if (this.stateNow === 'closed') return Promise.reject(new ConnectionClosedError(`cannot call ${path}: client is closed`))
    if ((this.options.whileDisconnected ?? 'wait') === 'fail') {
      return Promise.reject(new ConnectionClosedError(`cannot call ${path}: not connected (${this.stateNow})`))
    }
    const timeout = options?.timeout ?? this.options.timeout ?? DEFAULT_TIMEOUT_MS
    const started = Date.now()
    return this.waitForSession(path, timeout, options?.signal).then((s) => {
      const left = timeout > 0 ? Math.max(1, timeout - (Date.now() - started)) : 0
      return s.call(path, args, { ...options, timeout: left })
    })
  }

  private waitForSession(path: string, timeout: number, signal: AbortSignal | undefined): Promise<Session<ServerService>> {
    return waitForSession(this.waiters, path, timeout, signal, 'a connection')
  }

  private rejectWaiters(error: Error): void {
    for (const w of [...this.waiters]) w.reject(error)
  }

  // ------------------------------------------------------------- lifecycle

  private open(): void {
    let settled = false
    this.abandon = this.dialer.dial({
      opened: (link) => {
        if (settled) return
        settled = true
        this.abandon = undefined
        if (this.stateNow === 'closed') return link.transport.close()
        this.attach(link)
      },
      failed: (reason, final) => {
        if (settled) return
        settled = true
        this.abandon = undefined
        if (final) this.giveUp(reason)
        else this.retry(reason)
      },
    })
  }

  private attach(link: Link): void {
    const resumer = this.resumer
    if (resumer && link.resume) return resumer.handshake(link)
    // A server without resume (another node, an older one): a parked session cannot come back.
    resumer?.lose('unknown')
    this.begin(new Session<ServerService>(link.transport, this.sessionOptions), link)
  }

  /** What the resume side (client-resume.ts) may do to this client. */
  private resumeHost(limits: Limits): ResumeHost<ServerService> {
    return {
      url: this.url,
      sessionOptions: this.sessionOptions,
      limits,
      isClosed: () => this.stateNow === 'closed',
      abandonWith: (abandon) => void (this.abandon = abandon),
      begin: (session, link, resumed) => this.begin(session, link, resumed),
      detach: (session) => this.detach(session),
      retry: (reason) => this.retry(reason),
      report: (result) => this.reportResume(result),
    }
  }

  private reportResume(result: ResumeResult): void {
    try {
      this.options.onResume?.(result, this)
    } catch (err) {
      this.logger.error('[wirecall] onResume threw:', err)
    }
  }

  /**
   * Use `session`, open on `link`, from now on. A `resumed` session (the
   * parked one, back on a new link) kept its listeners and subscriptions:
   * `onResume` runs rather than `onReconnect`.
   */
  private begin(session: Session<ServerService>, link: Link, resumed = false): void {
    this.openedAt = Date.now()
    if (!resumed) {
      for (const entry of this.notificationListeners) entry.off = session.on(entry.path, entry.listener)
      session.onClose(() => this.dropped(session))
    }
    this.unwatch = link.watch?.(session as Session<unknown>)
    this.current = session
    const isReconnect = this.everOpened
    this.everOpened = true
    if (isReconnect) noteReconnect(session as Session<unknown>)
    // Waiting calls and `ready` first: a state listener must not be able to hold them up.
    for (const w of [...this.waiters]) w.resolve(session)
    this.settleReady.resolve()
    this.setState('open')
    if (resumed) this.reportResume({ resumed: true })
    else if (isReconnect && this.options.onReconnect) {
      Promise.resolve()
        .then(() => this.options.onReconnect!(this))
        .catch((err: unknown) => this.logger.error('[wirecall] onReconnect failed:', err))
    }
  }

  private dropped(session: Session<ServerService>): void {
    this.resumer?.closed(session)
    if (!this.detach(session) || this.stateNow === 'closed') return
    // A link that stayed up was a recovery: back off from the start. One dropped at once was not.
    if (Date.now() - this.openedAt >= (this.backoff?.stableAfterMs ?? 0)) this.attempts = 0
    this.retry(new ConnectionClosedError(`connection to ${this.url} lost`))
  }

  /** Stop using `session` (its link is gone); false when it is not the current one. */
  private detach(session: Session<ServerService>): boolean {
    if (this.current !== session) return false
    this.current = undefined
    this.unwatch?.()
    this.unwatch = undefined
    return true
  }

  private retry(reason: Error): void {
    if (this.stateNow === 'closed') return
    const b = this.backoff
    if (!b || this.attempts >= b.maxAttempts) return this.giveUp(reason)
    const raw = Math.min(b.maxDelayMs, b.initialDelayMs * b.factor ** this.attempts)
    const delay = raw * (1 - b.jitter * Math.random())
    this.attempts++
    debug(`${this.url}: ${reason.message}; attempt ${this.attempts} of ${b.maxAttempts} in ${Math.round(delay)} ms`)
    this.setState(this.everOpened ? 'reconnecting' : 'connecting')
    this.retryTimer = setTimeout(() => this.open(), delay)
  }

  private giveUp(reason: Error): void {
    this.setState('closed')
    this.resumer?.lose('unavailable')
    this.rejectWaiters(reason)
    this.settleReady.reject(reason)
  }

  private setState(state: ConnectionState): void {
    if (this.stateNow === state) return
    debug(`${this.url}: ${this.stateNow} -> ${state}`)
    this.stateNow = state
    const listeners: ((state: ConnectionState) => void)[] = [...this.stateListeners]
    if (this.options.onStateChange) listeners.unshift((s) => this.options.onStateChange!(s, this))
    for (const listener of listeners) {
      try {
        listener(state)
      } catch (err) {
        this.logger.error('[wirecall] a state listener threw:', err)
      }
    }
  }
}

/**
 * Wait for `client.ready`, at most `timeout` ms (0: no limit); on failure
 * close the client and reject. The platforms' `connect()` share it.
 */
export async function clientReady<C extends Pick<Client<never>, 'ready' | 'url' | 'close'>>(client: C, timeout: number): Promise<C> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    if (timeout > 0) timer = setTimeout(() => reject(new TimeoutError(`could not connect to ${client.url} within ${timeout} ms`)), timeout)
  })
  try {
    await Promise.race([client.ready, expired])
    return client
  } catch (err) {
    await client.close()
    throw err
  } finally {
    clearTimeout(timer)
  }
}
