/**
 * What is remotely reachable, and how a dotted path finds it.
 *
 * Security rule: a path walks own, explicitly exposed members only. A method
 * is callable when its function was marked (`@expose`, `expose(Class, [...])`,
 * or a function inside `service({...})`); a member holding a sub-service is
 * reachable when it is a member of a `service({...})` object, a field marked
 * `@expose`, or a router entry. Getters are never run while resolving.
 */
import { markCallScoped, markContextual, wantsContext } from './contextual.js'
import type { ServiceMarked } from './proxy.js'
import { checkContract, wrap, type OutputParams, type ParamSchemas } from './validation.js'
import type { StandardSchemaV1 } from '@standard-schema/spec'

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])

/** Functions marked callable by `expose`. */
const exposedFunctions = new WeakSet<Function>()
/** Objects made with `service({...})`: every function and sub-service in them is reachable. */
const serviceObjects = new WeakSet<object>()
/** Instances / prototypes of classes that exposed members (so they cross as service references). */
const exposedOwners = new WeakSet<object>()
/** Field names marked reachable, per instance (decorator) or per prototype (decorator-free form). */
const exposedFields = new WeakMap<object, Set<string>>()
/**
 * The entries of every `Router`, by router. A registry rather than `instanceof Router`, so that
 * resolving paths does not keep the `Router` class in a page bundle that never builds one.
 */
const routerEntries = new WeakMap<object, Map<string, unknown>>()

/** Options of `@expose(...)`. */
export interface ExposeOptions {
  /** The method takes the call context as its first argument (see `withContext`). */
  readonly context?: boolean
  /**
   * The references in the method's arguments are given back when it settles
   * (see `callScoped`). Marks the function itself: with `expose(Class,
   * members, ...)`, an inherited method is marked for the base class too.
   */
  readonly callScoped?: boolean
  /**
   * Schemas of the method's arguments, one per argument (Standard Schema: zod,
   * valibot, arktype...): a call whose arguments fail them gets
   * `ParameterError` and the method does not run (see `validated`). The
   * method receives the schemas' output (transforms and defaults applied).
   */
  readonly params?: ParamSchemas
  /** Schema of the method's result, checked before it is sent (`ResultError` on a mismatch). Needs `params`. */
  readonly result?: StandardSchemaV1
}

/** `@expose({ params })`: the method's parameters must accept what the schemas produce. */
type ValidatedMethodDecorator<P extends ParamSchemas, Contextual> = <This>(
  value: Contextual extends true
    ? (this: This, ctx: never, ...args: OutputParams<P>) => unknown
    : (this: This, ...args: OutputParams<P>) => unknown,
  context: ClassMethodDecoratorContext<This>,
) => void

type MethodDecorator = (value: Function, context: ClassMethodDecoratorContext) => void
// Generic in the field's type: TS checks a field decorator's returned initializer against the
// field (TS1270), and `(initial: unknown) => unknown` would reject every typed `@expose sub = new Sub()`.
type FieldDecorator = <This, V>(value: undefined, context: ClassFieldDecoratorContext<This, V>) => (this: This, initial: V) => V
type AnyDecoratorContext = ClassMethodDecoratorContext | ClassFieldDecoratorContext

/**
 * Mark class members as remotely reachable; nothing else on the class is.
 *
 * - `@expose method() {}`: a standard (TC39) decorator on a method.
 * - `@expose({ context: true }) method(ctx, ...args) {}`: the method gets the call context first.
 * - `@expose sub = new SubService()`: a field holding a sub-service.
 * - `@expose({ params: [z.number(), z.number()] }) add(a, b) {}`: arguments validated first (see `validated`).
 * - `expose(MyClass, ['add', 'sub'], options?)`: the same without decorators, for plain JS
 *   (with `params`, name one method: the schemas are that method's).
 *
 * @example
 * ```ts
 * import { expose, type CallContext } from '@wirecall/core'
 *
 * class Subtraction {
 *   @expose sub(a: number, b: number) { return a - b }
 * }
 *
 * class Calculator {
 *   @expose add(a: number, b: number) { return a + b }
 *   @expose subtraction = new Subtraction()          // remote.subtraction.sub(5, 3)
 *   @expose({ context: true }) whoami(ctx: CallContext) { return ctx.peer?.address }
 *   secret() { return 'never reachable' }            // not exposed: NotFoundError
 * }
 *
 * // Plain JS, without decorators:
 * class Greeter { hello(name) { return `hello ${name}` } }
 * expose(Greeter, ['hello'])
 *
 * await serve({ service: new Calculator() })
 * ```
 */
export function expose(value: Function, context: ClassMethodDecoratorContext): void
export function expose<This, V>(value: undefined, context: ClassFieldDecoratorContext<This, V>): (this: This, initial: V) => V
export function expose<const P extends ParamSchemas>(options: ExposeOptions & { readonly params: P; readonly context: true }): ValidatedMethodDecorator<P, true>
export function expose<const P extends ParamSchemas>(options: ExposeOptions & { readonly params: P }): ValidatedMethodDecorator<P, false>
export function expose(options: ExposeOptions): MethodDecorator & FieldDecorator
export function expose(target: abstract new (...args: never[]) => unknown, members: readonly string[], options?: ExposeOptions): void
export function expose(a: unknown, b?: unknown, c?: ExposeOptions): unknown {
  if (typeof b === 'object' && b !== null && 'kind' in b) {
    return decorate(a, b as AnyDecoratorContext, {})
  }
  if (typeof a === 'function' && Array.isArray(b)) {
    exposeMembers(a as Function, b as readonly string[], c ?? {})
    return undefined
  }
  if (a === undefined || (typeof a === 'object' && a !== null)) {
    const options = (a ?? {}) as ExposeOptions
    return (value: unknown, context: AnyDecoratorContext) => decorate(value, context, options)
  }
  throw new TypeError('expose: use @expose on a method or field, or expose(Class, ["method", ...])')
}

function decorate(value: unknown, context: AnyDecoratorContext, options: ExposeOptions): unknown {
  if (options.params && context.kind !== 'method') throw new TypeError(`expose: params apply to methods; give a field validated(...) instead (${String(context.name)})`)
  if (typeof context.name !== 'string' || context.private || context.static) {
    throw new TypeError(`expose: only public, non-static, string-named members can be exposed (${String(context.name)})`)
  }
  const name = context.name
  if (context.kind === 'method') {
    // With schemas the class gets the validating wrapper in place of the method (a decorator's return value replaces it).
    const method = options.params ? validatingWrapper(value as Function, options) : (value as Function)
    exposedFunctions.add(method)
    if (options.context) markContextual(method)
    if (options.callScoped) markCallScoped(method)
    context.addInitializer(function (this: unknown) {
      exposedOwners.add(this as object)
    })
    return method === value ? undefined : method
  }
  if (context.kind === 'field') {
    return function (this: object, initial: unknown) {
      if (options.context && typeof initial === 'function') markContextual(initial)
      if (options.callScoped) {
        if (typeof initial !== 'function') throw new TypeError(`expose: callScoped applies to functions; ${name} holds a ${initial === null ? 'null' : typeof initial}`)
        markCallScoped(initial)
      }
      exposedOwners.add(this)
      let names = exposedFields.get(this)
      if (!names) exposedFields.set(this, (names = new Set()))
      names.add(name)
      return initial
    }
  }
  throw new TypeError(`expose: cannot decorate a ${(context as { kind: string }).kind}`)
}

function validatingWrapper(method: Function, options: ExposeOptions): Function {
  const contract = { params: options.params!, result: options.result, context: options.context }
  checkContract(contract)
  return wrap(contract, method)
}

function exposeMembers(cls: Function, members: readonly string[], options: ExposeOptions): void {
  const proto = cls.prototype as Record<string, unknown>
  exposedOwners.add(proto)
  if (options.params && members.length !== 1) {
    throw new TypeError('expose(Class, members, { params }): name exactly one method; its schemas cannot apply to several')
  }
  for (const name of members) {
    if (FORBIDDEN.has(name) || !name) throw new TypeError(`expose: "${name}" cannot be exposed`)
    // Inherited methods count too (expose(Child, ['baseMethod'])); Object.prototype's never do.
    let member: unknown
    for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      const d = Object.getOwnPropertyDescriptor(p, name)
      if (d) {
        member = d.value
        break
      }
    }
    if (typeof member === 'function') {
      if (options.params) {
        // The class's own prototype gets the wrapper (shadowing an inherited method, never editing the base class).
        member = validatingWrapper(member, options)
        Object.defineProperty(proto, name, { value: member, writable: true, configurable: true, enumerable: false })
      }
      exposedFunctions.add(member as Function)
      if (options.context) markContextual(member as Function)
      if (options.callScoped) markCallScoped(member as Function)
    } else {
      let names = exposedFields.get(proto)
      if (!names) exposedFields.set(proto, (names = new Set()))
      names.add(name)
    }
  }
}

/**
 * Make a plain object a service: every function in it is callable and every
 * nested object (plain, `service`, exposed class instance or `Router`) is a
 * sub-service. Returns the same object, typed as it was plus a type-only
 * mark (`ServiceMarked`) so a returned service is typed as a `Remote`.
 * A service passed as an argument or returned from a call crosses by
 * reference: the receiver gets a `Remote` of it.
 *
 * @example
 * ```ts
 * import { service } from '@wirecall/core'
 * import { serve } from '@wirecall/node'
 *
 * const api = service({
 *   addition: { add: (a: number, b: number) => a + b },     // remote.addition.add(3, 4)
 *   subtraction: service({ sub: (a: number, b: number) => a - b }),
 *   room: (name: string) => service({ say: (text: string) => `${name}: ${text}` }), // returned by reference
 * })
 * const server = await serve({ port: 8080, service: api })
 * // A client typed with `connect<typeof api>(url)`:
 * //   const room = await client.remote.room('lobby'); await room.say('hi')   // 'lobby: hi'
 * ```
 */
export function service<T extends object>(members: T): T & ServiceMarked {
  if (typeof members !== 'object' || members === null) throw new TypeError('service() expects an object')
  serviceObjects.add(members)
  return members as T & ServiceMarked
}

/** Is this object something that crosses the wire as a service reference? */
export function isService(value: object): boolean {
  if (serviceObjects.has(value) || routerEntries.has(value) || exposedOwners.has(value)) return true
  for (let p = Object.getPrototypeOf(value); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (exposedOwners.has(p)) return true
  }
  return false
}

/**
 * A routing table composed at run time: `add` a function or service under a
 * name, `mount` another router. Usable anywhere a service is; entries can
 * be added and removed while connections are open.
 *
 * @example
 * ```ts
 * import { Router, service } from '@wirecall/core'
 *
 * const admin = new Router().add('stats', () => ({ connections: server.connections.size }))
 * const root = new Router()
 *   .add('addition', service({ add: (a: number, b: number) => a + b }))  // remote.addition.add(3, 4)
 *   .add('ping', () => 'pong')                                            // remote.ping()
 *   .mount('admin', admin)                                                // remote.admin.stats()
 * const server = await serve({ port: 8080, service: root })
 *
 * root.remove('ping')   // later calls to ping get NotFoundError
 * ```
 */
export class Router {
  private readonly entries = new Map<string, unknown>()

  /** An empty table; `add` and `mount` fill it. */
  constructor() {
    routerEntries.set(this, this.entries)
  }

  /** Reach `target` (a function, a service, or another router) under `name`. */
  add(name: string, target: object): this {
    checkSegment(name)
    if (typeof target !== 'function' && (typeof target !== 'object' || target === null)) {
      throw new TypeError(`Router.add("${name}"): expected a function or a service`)
    }
    this.entries.set(name, target)
    return this
  }

  /** Same as `add`, for sub-routers; reads better at the call site. */
  mount(name: string, router: Router): this {
    return this.add(name, router)
  }

  /** Remove an entry; later calls to it get `NotFoundError`. */
  remove(name: string): boolean {
    return this.entries.delete(name)
  }

  /** The names reachable at this level (for reflection and debugging). */
  names(): string[] {
    return [...this.entries.keys()]
  }
}

function checkSegment(name: string): void {
  if (typeof name !== 'string' || !name || name.includes('.') || name.startsWith('#') || FORBIDDEN.has(name)) {
    throw new TypeError(`wirecall: "${String(name)}" is not a valid member name`)
  }
}

/** A resolved callable: the function, its `this`, and whether it takes the context. */
export interface Handler {
  readonly fn: Function
  readonly self: unknown
  readonly contextual: boolean
}

/** Resolve a dotted path under `root`, or `undefined` when it is not exposed. Never runs user code. */
export function resolvePath(root: unknown, path: string): Handler | undefined {
  if (path.indexOf('.') === -1) return resolveMember(root, path, true)
  const segments = path.split('.')
  let node: unknown = root
  const last = segments.length - 1
  for (let i = 0; i < last; i++) {
    node = resolveMember(node, segments[i]!, false)?.self
    if (node === undefined) return undefined
  }
  return resolveMember(node, segments[last]!, true)
}

/** One reachable member of a service: a method (`handler`) or a sub-service (`service`). */
export interface ReachableMember {
  readonly name: string
  readonly handler?: Handler
  readonly service?: object
}

/**
 * The members of `node` that a path can reach, by the same rule as
 * `resolvePath` (each candidate name is resolved, never listed on trust), so
 * what reflection shows is exactly what a caller can call. Never runs getters.
 */
export function reachableMembers(node: unknown): ReachableMember[] {
  if (typeof node !== 'object' || node === null) return []
  const names = new Set<string>()
  const entries = routerEntries.get(node)
  if (entries) for (const name of entries.keys()) names.add(name)
  else {
    for (let p: object | null = node; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const name of Object.getOwnPropertyNames(p)) names.add(name)
    }
  }
  const members: ReachableMember[] = []
  for (const name of names) {
    const method = resolveMember(node, name, true)
    if (method) members.push({ name, handler: method })
    else {
      const sub = resolveMember(node, name, false)
      if (sub) members.push({ name, service: sub.self as object })
    }
  }
  return members
}

/**
 * One step of a path. With `wantMethod`, returns the exposed function at
 * `name`; otherwise returns the sub-service there (in `self`).
 */
function resolveMember(node: unknown, name: string, wantMethod: boolean): Handler | undefined {
  if (!name || FORBIDDEN.has(name) || typeof node !== 'object' || node === null) return undefined
  let value: unknown
  let reachable = false
  const entries = routerEntries.get(node)
  if (entries) {
    value = entries.get(name)
    reachable = value !== undefined
  } else {
    // A service({...}) object (or a plain object inside one) opens every member it has.
    const open = serviceObjects.has(node) || isPlainObject(node)
    const own = Object.getOwnPropertyDescriptor(node, name)
    if (own) {
      if (!('value' in own)) return undefined
      value = own.value
      if (open) reachable = true
      // An own function is a method marked with expose, or a field marked with expose (`@expose add = (a, b) => ...`).
      else if (typeof value === 'function') reachable = exposedFunctions.has(value) || fieldExposed(node, name)
      else reachable = fieldExposed(node, name)
    } else {
      // Methods live on the prototype chain; Object.prototype's are never reachable.
      for (let p = Object.getPrototypeOf(node); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
        const d = Object.getOwnPropertyDescriptor(p, name)
        if (!d) continue
        if (!('value' in d)) return undefined
        value = d.value
        if (typeof value === 'function') reachable = open || exposedFunctions.has(value)
        break
      }
    }
  }
  if (!reachable) return undefined
  if (wantMethod) {
    if (typeof value !== 'function') return undefined
    return { fn: value, self: node, contextual: wantsContext(value) }
  }
  if (typeof value !== 'object' || value === null) return undefined
  return { fn: noop, self: value, contextual: false }
}

function fieldExposed(node: object, name: string): boolean {
  if (exposedFields.get(node)?.has(name)) return true
  for (let p = Object.getPrototypeOf(node); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (exposedFields.get(p)?.has(name)) return true
  }
  return false
}

/** Plain objects nested inside a service are sub-services (the user put them there). */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === null || proto === Object.prototype
}

function noop(): void {}
