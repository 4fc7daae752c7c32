/**
 * The only globals the core may use: the ones every JS runtime wirecall
 * targets (browsers, Node 20+, Deno, Bun, workers) has. The build compiles
 * against this file instead of DOM or Node typings, so a stray `window`,
 * `Buffer` or `process` in packages/core/src fails the build.
 */
interface EventListenerOptionsLike { once?: boolean }
interface AbortSignal {
  readonly aborted: boolean
  readonly reason: any
  addEventListener(type: 'abort', listener: () => void, options?: EventListenerOptionsLike): void
  removeEventListener(type: 'abort', listener: () => void): void
  throwIfAborted(): void
}
declare var AbortSignal: { prototype: AbortSignal; timeout(ms: number): AbortSignal }
interface AbortController {
  readonly signal: AbortSignal
  abort(reason?: unknown): void
}
declare var AbortController: { prototype: AbortController; new (): AbortController }
interface TimerHandle { readonly __timer?: never }
declare function setTimeout(callback: () => void, ms?: number): TimerHandle
declare function clearTimeout(handle: TimerHandle | undefined): void
declare function queueMicrotask(callback: () => void): void
declare var console: {
  log(...data: unknown[]): void
  warn(...data: unknown[]): void
  error(...data: unknown[]): void
}
declare class TextEncoder {
  encode(input?: string): Uint8Array
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean })
  decode(input?: Uint8Array): string
}
/** High-resolution time (browsers, Node 16+, Deno, Bun, workers): call latencies for observers. */
declare var performance: { now(): number }
