/**
 * What a result holds when it cannot cross to another node. Across nodes,
 * arguments and results are data only; a page's result that holds a stream
 * or a function is refused with a `ParameterError`. But the node that got it
 * from the page holds a live stream (the page's producer waits for credit)
 * or a reference: given back here at once, not whenever the garbage
 * collector gets to them, so a page's generator stops (its `finally` runs)
 * and neither side keeps a stream slot.
 */
import { release } from '@wirecall/core'

/** Most values looked at in one result (a huge array of data is not walked to its end). */
export const MAX_RELEASE_WALK = 10_000

/** Cancel the streams and release the references `value` holds (arrays and plain objects are looked into). */
export function releaseHeld(value: unknown): void {
  const stack: unknown[] = [value]
  for (let seen = 0; stack.length > 0 && seen < MAX_RELEASE_WALK; seen++) {
    const item = stack.pop()
    if (item === null || (typeof item !== 'object' && typeof item !== 'function')) continue
    if (release(item) || ArrayBuffer.isView(item)) continue
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length && stack.length < MAX_RELEASE_WALK; i++) stack.push(item[i])
    } else if (typeof item === 'object') {
      const proto = Object.getPrototypeOf(item) as unknown
      if (proto !== Object.prototype && proto !== null) continue
      for (const key of Object.keys(item)) {
        if (stack.length >= MAX_RELEASE_WALK) break
        stack.push((item as Record<string, unknown>)[key])
      }
    }
  }
}
