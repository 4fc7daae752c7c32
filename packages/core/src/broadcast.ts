/**
 * Fan-out of one notification to many sessions (topics, explicit receiver
 * lists, broadcast to all). The frame is encoded once and the same bytes are
 * handed to every member; a member whose send buffer is over the high-water
 * mark, or that is closed, is skipped and counted, never waited for.
 */
import { createProxy, type Notify } from './proxy.js'
import { Session, type SessionOptions } from './session.js'

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
    const frame = Session.encodeBroadcast(path, args, options)
    let delivered = 0
    let dropped = 0
    for (const member of members()) {
      if (member.sendEncoded(frame)) delivered++
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
