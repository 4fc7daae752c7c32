/**
 * Fan-out of one notification to many sessions (topics, explicit receiver
 * lists, broadcast to all). The frame is encoded once and the same bytes are
 * handed to every member; a member whose send buffer is over the high-water
 * mark, or that is closed, is skipped and counted, never waited for.
 */
import { configOf } from './options.js'
import { safely, safelyEnd, safelyStartFanout } from './observe.js'
import { MessageType } from './protocol.js'
import { createProxy, type Notify } from './proxy.js'
import type { Session, SessionOptions } from './session.js'

/** What one fan-out did. */
export interface FanoutResult {
  /** Members the frame was handed to. */
  readonly delivered: number
  /** Members skipped: closed, or too slow to keep up (see `sendHighWaterMark`). */
  readonly dropped: number
}

/** A group of receivers: `group.notify.path.method(args)`. */
export interface Broadcast<ClientService> {
  /** Notify every member; arguments are data only (no callbacks). */
  readonly notify: Notify<ClientService>
  /** The same by name, with the delivery count. */
  send(path: string, args: unknown[]): FanoutResult
}

/** Build a broadcast over whatever `members()` yields at send time; `options`: the members' session options (for their value types). */
export function createBroadcast<ClientService>(
  members: () => Iterable<Session<ClientService>>,
  onDropped?: (session: Session<ClientService>) => void,
  options?: SessionOptions,
): Broadcast<ClientService> {
  const send = (path: string, args: unknown[]): FanoutResult => {
    const frame = encodeBroadcast(path, args, options)
    let delivered = 0
    let dropped = 0
    for (const member of members()) {
      if (sendEncoded(member, frame)) delivered++
      else {
        dropped++
        onDropped?.(member)
      }
    }
    return { delivered, dropped }
  }
  return {
    notify: createProxy({ invoke: (path, args) => void send(path, args) }) as Notify<ClientService>,
    send,
  }
}

/**
 * Encode a notification once for many sessions (topic fan-out). Data only:
 * no references. `options` are the members' session options, so their
 * registered value types cross as themselves. `audience` names the fan-out
 * for observers (a topic name, `(all)`, `(to)`); an observer's metadata
 * (trace context) rides in the frame, so every member's handler joins the
 * sender's trace. Server-side only: kept out of `Session` so that a page,
 * which never fans out, does not bundle it.
 */
export function encodeBroadcast(path: string, args: unknown[], options: SessionOptions = {}, audience = '(broadcast)'): Uint8Array {
  const config = configOf(options)
  const observation = config.observer ? safelyStartFanout(config.observer, path, audience, config.logger) : undefined
  if (!observation) return config.codec.encode([MessageType.NOTIFICATION, path, args], undefined)
  try {
    const message = observation.metadata ? [MessageType.NOTIFICATION, path, args, observation.metadata] : [MessageType.NOTIFICATION, path, args]
    const frame = config.codec.encode(message, undefined)
    safelyEnd(observation, undefined, config.logger)
    return frame
  } catch (err) {
    safelyEnd(observation, err, config.logger)
    throw err
  }
}

/**
 * Hand a frame made by `encodeBroadcast` to one member. Returns false when
 * dropped: the member is closed, or its send buffer is over
 * `sendHighWaterMark` (a slow peer is skipped, never waited for).
 */
export function sendEncoded(member: Session<unknown>, frame: Uint8Array): boolean {
  const { config, observer } = member
  const buffered = member.sendQueueBytes
  if (member.closed || (buffered !== undefined && buffered > config.limits.sendHighWaterMark)) {
    if (observer?.dropped) safely(config.logger, 'dropped', () => observer.dropped!())
    return false
  }
  member.transmit(frame)
  return true
}
