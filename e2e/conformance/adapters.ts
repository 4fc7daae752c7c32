/**
 * The two client shapes the conformance suite runs against, behind one
 * interface: a core `Session` (the in-memory pair, the Node client) and a
 * `BrowserClient` (the browser adapter, over Chromium's WebSocket or `ws`).
 * Type-only imports of the adapters, so this file bundles for the page too.
 */
import type { CallOptions, Notify, Remote, Session, SessionStats } from '@wirecall/core'
import type { BrowserClient } from '@wirecall/browser'
import type { TestService } from './server-service.js'

export interface TestClient {
  /** Which adapter this is, for messages. */
  readonly label: string
  readonly remote: Remote<TestService>
  readonly notify: Notify<TestService>
  with(options: CallOptions): { readonly remote: Remote<TestService> }
  /** Client-side counters of the current connection (or of the last one, once it dropped). */
  stats(): SessionStats
  /** True while the client has a live connection to the server. */
  isOpen(): boolean
  close(): Promise<void>
}

/** Options a case may ask of `connect()`. */
export interface ConnectOptions {
  /** The client's own service, which the server reaches through `conn.remote`. */
  readonly service?: object
  /** Default call timeout of the client, ms. */
  readonly timeout?: number
}

/** Connects one new client to the runner's server. */
export type Connect = (options?: ConnectOptions) => Promise<TestClient>

export function fromSession(session: Session<TestService>, label: string): TestClient {
  return {
    label,
    remote: session.remote,
    notify: session.notify,
    with: (options) => session.with(options),
    stats: () => session.stats(),
    isOpen: () => !session.closed,
    close: () => session.close(),
  }
}

export function fromBrowserClient(client: BrowserClient<TestService>, label: string): TestClient {
  let last = client.session
  client.onStateChange(() => {
    if (client.session) last = client.session
  })
  return {
    label,
    remote: client.remote,
    notify: client.notify,
    with: (options) => client.with(options),
    stats: () => {
      last = client.session ?? last
      if (!last) throw new Error(`${label}: the client never had a connection`)
      return last.stats()
    },
    isOpen: () => client.state === 'open' && client.session !== undefined && !client.session.closed,
    close: () => client.close(),
  }
}
