/**
 * Errors of the hostile-input path without a stack trace. Refusing a
 * malformed frame builds two errors (`DecodeError`, `FrameError`); nobody
 * reads their stacks (the message is logged, the peer gets a
 * `ProtocolError`), yet capturing them was ~80 % of the cost of refusing a
 * frame (~30 µs of ~38 µs), which a peer sending floods of tiny bad frames
 * could spend at will. V8 records no frames while `Error.stackTraceLimit` is
 * 0; engines without the knob capture stacks as usual.
 *
 * Usage, around `super(message)` in such an error's constructor:
 * `const saved = pauseStacks(); super(message); resumeStacks(saved)`.
 */
const ErrorCtor = Error as { stackTraceLimit?: number }

/** Stop stack capture for the next error built; returns what to restore. */
export function pauseStacks(): number | undefined {
  const saved = ErrorCtor.stackTraceLimit
  if (saved !== undefined) ErrorCtor.stackTraceLimit = 0
  return saved
}

/** Restore stack capture after `pauseStacks`. */
export function resumeStacks(saved: number | undefined): void {
  if (saved !== undefined) ErrorCtor.stackTraceLimit = saved
}
