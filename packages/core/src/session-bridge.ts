/**
 * The objects a session hands out, kept out of session.ts: the bridge that
 * the transport, the codec, the reference tables and text protocols call
 * into, and the invoker behind `remote`/`notify` proxies. Both are classes
 * (methods on the prototype) rather than closures, so a session costs one
 * small object for all four roles.
 */
import type { RefHost } from './codec.js'
import { ReferenceReleasedError, type ErrorPolicy, type ErrorTable } from './errors.js'
import type { TextPeer } from './json-rpc.js'
import type { CallOptions, SessionConfig } from './options.js'
import { FrameError, MessageType } from './protocol.js'
import type { ReferenceOwner, References } from './references.js'
import type { TransportReceiver } from './transport.js'
import { streamsNotEnabled, type StreamTable } from './stream-support.js'

/** The session as the bridge sees it (its `@internal` members). */
export interface BridgedSession {
  readonly config: SessionConfig
  readonly closed: boolean
  readonly peerLabel: string | undefined
  readonly refsTable: References | undefined
  readonly refs: References
  readonly streams: StreamTable
  malformedCount: number
  receive(frame: Uint8Array | string): void
  malformedFrame(reason: FrameError): void
  transportClosed(reason?: Error): void
  transmit(frame: string): void
  sendControl(message: unknown[]): void
  invokeReference(path: string, args: unknown[]): Promise<unknown>
  textCall(method: string, params: unknown[], named?: boolean): Promise<unknown>
  textNotification(method: string, params: unknown[], named?: boolean): void
  log(level: 'warn' | 'error', message: string, ...details: unknown[]): void
  call(path: string, args: unknown[], options?: CallOptions): Promise<unknown>
  sendNotification(path: string, args: unknown[]): void
}

/** Transport receiver, codec reference host, reference-table owner and text-protocol peer of one session. */
export class SessionBridge implements TransportReceiver, RefHost, ReferenceOwner, TextPeer {
  constructor(private readonly session: BridgedSession) {}

  // TransportReceiver
  message(frame: Uint8Array | string): void {
    this.session.receive(frame)
  }
  unreadable(reason: string): void {
    if (!this.session.closed) this.session.malformedFrame(new FrameError(reason))
  }
  closed(reason?: Error): void {
    this.session.transportClosed(reason)
  }

  // RefHost (the codec, while it encodes or decodes one of this session's frames)
  exportRef(value: object): number {
    return this.session.refs.export(value)
  }
  importedIdOf(value: object): number | undefined {
    return this.session.refsTable?.importedIdOf(value)
  }
  importRef(id: number): unknown {
    return this.session.refs.import(id)
  }
  ownExport(id: number): unknown {
    const entry = this.session.refsTable?.exported(id)
    if (!entry) throw new ReferenceReleasedError(`reference #${id} handed back after it was released`)
    return entry.value
  }
  exportStream(value: object): number {
    return this.session.streams.export(value)
  }
  importStream(id: number): unknown {
    if (!this.session.config.streams) {
      // Cancelled at once, so the peer's producer stops; the frame is refused with this error.
      this.session.sendControl([MessageType.STREAM_CANCEL, id])
      throw streamsNotEnabled('a stream arrived (msgpack ext 73)')
    }
    return this.session.streams.import(id)
  }
  get peerLabel(): string | undefined {
    return this.session.peerLabel
  }
  get errorTable(): ErrorTable | undefined {
    return this.session.config.errorTable
  }
  get errorPolicy(): ErrorPolicy {
    return this.session.config.errorPolicy
  }

  // ReferenceOwner
  invoke(path: string, args: unknown[]): unknown {
    return this.session.invokeReference(path, args)
  }
  sendRelease(pairs: number[]): void {
    this.session.sendControl([MessageType.RELEASE, pairs])
  }

  // TextPeer
  get maxFrameBytes(): number {
    return this.session.config.limits.maxFrameBytes
  }
  get maxBatchLength(): number {
    return this.session.config.limits.maxBatchLength
  }
  failed(err: unknown): void {
    this.session.log('error', '[wirecall] failed to answer a text frame:', err)
  }
  call(method: string, params: unknown[], named?: boolean): Promise<unknown> {
    return this.session.textCall(method, params, named)
  }
  notify(method: string, params: unknown[], named?: boolean): void {
    this.session.textNotification(method, params, named)
  }
  sendText(text: string): void {
    if (!this.session.closed) this.session.transmit(text)
  }
  malformed(): void {
    this.session.malformedCount++
  }
}

/** What a session's `remote`/`notify` proxies call: a class, not closures, to keep sessions small. */
export class SessionInvoker {
  constructor(
    private readonly session: BridgedSession,
    private readonly options: CallOptions | undefined,
    private readonly isNotify: boolean,
  ) {}

  invoke(path: string, args: unknown[]): unknown {
    if (this.isNotify) return this.session.sendNotification(path, args)
    return this.session.call(path, args, this.options)
  }
}
