/**
 * The session's side doors, kept out of session.ts: the object that the
 * transport, the codec, the reference tables and text protocols call into,
 * and the invoker behind `remote`/`notify` proxies.
 */
import type { RefHost } from './codec.js'
import { ReferenceReleasedError, type ErrorPolicy, type ErrorTable } from './errors.js'
import type { TextPeer } from './json-rpc.js'
import type { CallOptions } from './options.js'
import { MessageType } from './protocol.js'
import type { ReferenceOwner, RefKind } from './references.js'
import type { Session } from './session.js'
import type { TransportReceiver } from './transport.js'

/**
 * Scratch logs of one encode (exported ids) and one receive (imported proxies),
 * shared by all sessions: both run synchronously, and every user works above
 * the mark it took and truncates back to it, so nesting is safe. Shared rather
 * than per session so that an idle connection does not carry two arrays.
 */
export const exportLog: number[] = []
export const importLog: object[] = []

/**
 * The session's side doors, in one small object rather than a closure each
 * (idle connections stay small): transport receiver, codec reference host,
 * and owner of the reference tables. Element access reaches the session's
 * private members without making them public API.
 */
export class SessionBridge implements TransportReceiver, RefHost, ReferenceOwner, TextPeer {
  constructor(private readonly session: Session<unknown>) {}

  message(frame: Uint8Array | string): void {
    this.session['receive'](frame)
  }
  closed(reason?: Error): void {
    this.session['handleClosed'](reason)
  }

  exportRef(value: object, kind: RefKind): number {
    const id = this.session['refs'].export(value, kind)
    exportLog.push(id)
    return id
  }
  importedIdOf(value: object): number | undefined {
    return this.session['refsTable']?.importedIdOf(value)
  }
  importRef(id: number, kind: RefKind): unknown {
    const proxy = this.session['refs'].import(id, kind)
    importLog.push(proxy)
    return proxy
  }
  ownExport(id: number): unknown {
    const entry = this.session['refsTable']?.exported(id)
    if (!entry) throw new ReferenceReleasedError(`reference #${id} handed back after it was released`)
    return entry.value
  }
  get peerLabel(): string | undefined {
    return this.session.peerLabel
  }
  get errorTable(): ErrorTable | undefined {
    return this.session['config'].errorTable
  }
  get errorPolicy(): ErrorPolicy {
    return this.session['config'].errorPolicy
  }

  invoke(path: string, args: unknown[]): unknown {
    return this.session['invokeReference'](path, args)
  }
  sendRelease(pairs: number[]): void {
    this.session['sendControl']([MessageType.RELEASE, pairs])
  }

  get maxFrameBytes(): number {
    return this.session['limits'].maxFrameBytes
  }
  get maxBatchLength(): number {
    return this.session['limits'].maxBatchLength
  }
  failed(err: unknown): void {
    this.session['log']('error', '[wirecall] failed to answer a text frame:', err)
  }
  call(method: string, params: unknown[]): Promise<unknown> {
    return this.session['runTextCall'](method, params)
  }
  notify(method: string, params: unknown[]): void {
    this.session['handleNotification'](method, params)
  }
  sendText(text: string): void {
    if (!this.session.closed) this.session['transport'].send(text)
  }
  malformed(): void {
    this.session['malformed']++
  }
}

/** What a session's `remote`/`notify` proxies call: a class, not closures, to keep sessions small. */
export class SessionInvoker {
  constructor(
    private readonly session: Session<unknown>,
    private readonly options: CallOptions | undefined,
    private readonly isNotify: boolean,
  ) {}

  invoke(path: string, args: unknown[]): unknown {
    if (this.isNotify) return this.session.sendNotification(path, args)
    return this.session.call(path, args, this.options)
  }
}
