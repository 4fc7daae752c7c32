/**
 * The client's side of resumable sessions (docs/protocol.md, "Resume"): the
 * resume handshake on each new link, and the session parked while its link
 * is down. The reconnecting `Client` (client.ts) drives it through the seam
 * in resume-support.ts, and only when given the `resume` option exported
 * here: the Node client passes it by default, a page passes it when it wants
 * sessions to survive a drop (`connect(url, { resume })`), so that a page
 * that does not never bundles this code nor the resume layer (resume.ts).
 */
import { debugLog } from './debug.js'
import { ConnectionClosedError } from './errors.js'
import { BATCH_PROTOCOL } from './batch.js'
import { FirstFrame, RESUME_PROTOCOL, ResumableTransport, ResumeFrame, encodeControl, isControl, parseControl, type ResumeFailure } from './resume.js'
import type { Link } from './client.js'
import type { ClientResumer, ResumeHost, ResumeSupport } from './resume-support.js'
import { Session } from './session.js'

/**
 * What a client that can resume offers at the handshake, most capable last
 * (a server picks what it knows). Here rather than in resume.ts, which a page
 * bundles for `usesBatches` alone: a frozen array is kept by the bundler
 * even when nothing reads it.
 */
export const RESUME_OFFER: readonly string[] = Object.freeze(['wirecall.v1', BATCH_PROTOCOL, RESUME_PROTOCOL])

/**
 * Resumable sessions for a reconnecting client: `connect(url, { resume })`
 * in a page. The client offers `wirecall.resume.v1`; when the server selects
 * it (`serve({ resume: true })`), a session whose link drops is parked and
 * resumed on the next link within the server's grace window: references in
 * both directions, subscriptions and calls in flight survive, and frames
 * sent meanwhile are delivered once, in order (`onResume` says how it went).
 * Without it, every reconnect starts a fresh session and `onReconnect` runs.
 * The Node `createClient()` and `connect({ reconnect })` pass it by default
 * (`resume: false` turns it off there).
 *
 * @example
 * ```ts
 * import { createClient, resume } from '@wirecall/browser'
 *
 * const client = createClient<Api>(`wss://${location.host}/rpc`, {
 *   resume,
 *   onResume: (r) => console.log(r.resumed ? 'resumed' : `fresh session (${r.reason})`),
 *   onReconnect: (c) => c.remote.subscribe(onPrice),  // only after a fresh session
 * })
 * await client.remote.subscribe(onPrice)              // survives a drop within the grace window
 * ```
 */
export const resume: ResumeSupport = {
  offer: RESUME_OFFER,
  protocol: RESUME_PROTOCOL,
  client: <S>(host: ResumeHost<S>): ClientResumer<S> => new ClientResume<S>(host),
}

/** One client's resumable session: current (linked) or parked (its link dropped, waiting for the next). */
class ClientResume<S> implements ClientResumer<S> {
  /** The session over a resume layer, linked or parked. */
  private session: Session<S> | undefined
  /** The resume layer under `session`. */
  private layer: ResumableTransport | undefined
  /** `session` lost its link and is kept for the next link to resume. */
  private parked = false
  /** `wirecall:client`, as the client's own lines: the handshake is part of connecting. */
  private readonly debug = debugLog('wirecall:client')

  constructor(private readonly host: ResumeHost<S>) {}

  /**
   * Say HELLO with the parked session's token and how many frames it
   * received, then wait for the server's WELCOME (a fresh session) or
   * RESUMED (the same one).
   */
  handshake(link: Link): void {
    const { host, debug } = this
    const raw = link.transport
    const offered = this.parked && this.layer?.resumable && this.layer.token ? this.layer : undefined
    if (debug.enabled) debug(`${host.url}: resume handshake (${offered ? `resuming, ${offered.received} frames received` : this.parked ? 'the parked session cannot resume' : 'fresh'})`)
    let timer: ReturnType<typeof setTimeout> | undefined
    const broken = (first: FirstFrame, why: string) => {
      first.abandon()
      raw.close(1002, 'resume handshake failed')
      host.retry(new ConnectionClosedError(`${host.url}: ${why}`))
    }
    const first: FirstFrame = new FirstFrame(raw, (frame, first) => {
      clearTimeout(timer)
      host.abandonWith(undefined)
      if (host.isClosed()) return (first.abandon(), raw.close())
      const control = isControl(frame) ? parseControl(frame) : undefined
      if (control?.kind === ResumeFrame.RESUMED) {
        if (!offered || !offered.canResumeFrom(control.received)) {
          // The server resumed something this client cannot continue: give up the session, start afresh.
          this.lose('unavailable')
          return broken(first, 'the server resumed a session this client cannot continue')
        }
        offered.token = control.token
        offered.attach(raw, control.received, undefined, first)
        this.parked = false
        debug(`${host.url}: session resumed`)
        host.begin(this.session!, link, true)
        return
      }
      if (control?.kind !== ResumeFrame.WELCOME) return broken(first, 'the server did not answer the resume handshake')
      // A parked session this client could not offer (its replay buffer overflowed) is 'unavailable'.
      const lostWhy: ResumeFailure | undefined = this.parked ? (offered ? (control.lost ?? 'unknown') : 'unavailable') : undefined
      if (lostWhy) this.lose(lostWhy)
      host.begin(this.fresh(control.token, raw, first), link)
      if (lostWhy) host.report({ resumed: false, reason: lostWhy })
    }, (reason) => {
      clearTimeout(timer)
      host.abandonWith(undefined)
      host.retry(new ConnectionClosedError(`${host.url}: the connection closed during the resume handshake${reason ? `: ${reason.message}` : ''}`))
    })
    host.abandonWith(() => {
      clearTimeout(timer)
      first.abandon()
      raw.close()
    })
    raw.send(encodeControl({ kind: ResumeFrame.HELLO, token: offered?.token ?? null, received: offered?.received ?? 0 }))
    timer = setTimeout(() => broken(first, `no answer to the resume handshake within ${host.limits.handshakeTimeoutMs} ms`), host.limits.handshakeTimeoutMs)
  }

  /**
   * A fresh session over a new resume layer on `raw`. In a method of its own:
   * the layer keeps its `linkLost` closure for life, and a closure made in
   * `handshake` would keep that handshake's scope with it: the link, and
   * `offered`, the previous layer, whose own closure keeps the handshake
   * before... Every session a server refused to resume, with its socket,
   * stayed reachable until the client closed (a server that welcomes and
   * drops made the client keep about 6 KB per reconnect).
   */
  private fresh(token: string, raw: Link['transport'], first: FirstFrame): Session<S> {
    const layer = new ResumableTransport(this.host.limits, { linkLost: (reason) => this.linkLost(session, reason) })
    layer.token = token
    const session: Session<S> = new Session<S>(layer, this.host.sessionOptions)
    this.session = session
    this.layer = layer
    layer.attach(raw, 0, undefined, first)
    return session
  }

  lose(reason: ResumeFailure): void {
    if (!this.parked) return
    const layer = this.layer
    this.forget()
    layer?.end(new ConnectionClosedError(`the session could not be resumed (${reason})`))
  }

  closed(session: Session<S>): void {
    if (this.session === session) this.forget()
  }

  close(): void {
    if (!this.parked) return
    const session = this.session
    this.forget()
    void session?.close()
  }

  /** The link under the resumable session dropped: park the session and reconnect. */
  private linkLost(session: Session<S>, reason: Error | undefined): void {
    if (!this.host.detach(session)) return
    this.parked = true
    if (this.host.isClosed()) return this.lose('unavailable')
    this.debug(`${this.host.url}: link lost${reason ? ` (${reason.message})` : ''}; the session is parked for a resume`)
    this.host.retry(new ConnectionClosedError(`connection to ${this.host.url} lost`))
  }

  private forget(): void {
    this.session = undefined
    this.layer = undefined
    this.parked = false
  }
}
