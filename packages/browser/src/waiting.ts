/**
 * Calls made while no connection is open wait here (the reconnecting client
 * and the endpoint pool both queue them), bounded by the call's timeout and
 * its AbortSignal.
 */
import { AbortError, TimeoutError } from '@wirecall/core'

/** A call waiting for something to call on (a session). */
export interface Waiter<T> {
  resolve(value: T): void
  reject(error: Error): void
}

/**
 * Add a waiter to `waiters` and resolve when the owner resolves it; reject on
 * `timeout` (0 = never) or when `signal` fires, with errors naming `path` and
 * what it waited `for` ("a connection", "an endpoint"). The waiter leaves the
 * set however it settles.
 */
export function waitFor<T>(waiters: Set<Waiter<T>>, path: string, what: string, timeout: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const done = () => {
      waiters.delete(waiter)
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    const waiter: Waiter<T> = {
      resolve: (value) => (done(), resolve(value)),
      reject: (error) => (done(), reject(error)),
    }
    const onAbort = () => waiter.reject(new AbortError(`call to ${path} aborted while waiting for ${what}`))
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    if (timeout > 0) timer = setTimeout(() => waiter.reject(new TimeoutError(`call to ${path} timed out after ${timeout} ms waiting for ${what}`)), timeout)
    waiters.add(waiter)
  })
}
