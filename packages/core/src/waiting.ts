/**
 * Calls made while no session can take them: a reconnecting client between
 * connections, or a pool with no endpoint open. They wait in a set until a
 * session opens (`resolve`), the client or pool gives up (`reject`), their
 * timeout runs out or their signal fires; the time waited counts against
 * the call's timeout.
 */
import { AbortError, TimeoutError } from './errors.js'
import type { CallOptions, Session } from './session.js'

/** A call waiting for a session. */
export interface SessionWaiter<S> {
  resolve(session: Session<S>): void
  reject(error: Error): void
}

/**
 * Wait in `waiters` for a session (`what`: what it waits for, in error
 * messages), then make the call on it with the rest of its timeout
 * (`options.timeout`, else `defaultTimeout`).
 */
export function callWhenReady<S>(
  waiters: Set<SessionWaiter<S>>, path: string, args: unknown[], options: CallOptions | undefined, defaultTimeout: number, what: string,
): Promise<unknown> {
  const timeout = options?.timeout ?? defaultTimeout
  const started = Date.now()
  return waitForSession(waiters, path, timeout, options?.signal, what).then((session) => {
    const left = timeout > 0 ? Math.max(1, timeout - (Date.now() - started)) : 0
    return session.call(path, args, { ...options, timeout: left })
  })
}

export function waitForSession<S>(
  waiters: Set<SessionWaiter<S>>, path: string, timeout: number, signal: AbortSignal | undefined, what: string,
): Promise<Session<S>> {
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const done = () => {
      waiters.delete(waiter)
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    const waiter: SessionWaiter<S> = {
      resolve: (session) => (done(), resolve(session)),
      reject: (error) => (done(), reject(error)),
    }
    const onAbort = () => waiter.reject(new AbortError(`call to ${path} aborted while waiting for ${what}`))
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    if (timeout > 0) timer = setTimeout(() => waiter.reject(new TimeoutError(`call to ${path} timed out after ${timeout} ms waiting for ${what}`)), timeout)
    waiters.add(waiter)
  })
}
