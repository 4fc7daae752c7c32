/**
 * Validated parameters (and results) through Standard Schema: a handler
 * declares schemas for its arguments, and a call whose arguments fail them
 * is refused with `ParameterError` (the issues in its data) before the
 * handler runs. zod 4, valibot and arktype implement the interface, so
 * wirecall depends on none of them (`@standard-schema/spec` is types only).
 *
 * The check lives in a wrapper function around the handler, not in the
 * dispatch path: a method without schemas costs nothing, and a validated
 * one is checked however it is reached (binary call, JSON-RPC, notification,
 * or a direct local call).
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { CallContext } from './context.js'
import { isCallScoped, markCallScoped, markContextual, wantsContext } from './contextual.js'
import { ParameterError, ResultError, clip } from './errors.js'
import type { Session } from './session.js'

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'

/** The schemas of a method's parameters, one per argument, in order. */
export type ParamSchemas = readonly StandardSchemaV1[]

/** The parameters a caller passes: each schema's input type; trailing parameters whose schema accepts `undefined` may be left out. */
export type InputParams<P extends ParamSchemas> = number extends P['length']
  ? StandardSchemaV1.InferInput<P[number]>[]
  : P extends readonly [infer H extends StandardSchemaV1, ...infer T extends ParamSchemas]
    ? AllAcceptUndefined<P> extends true
      ? [StandardSchemaV1.InferInput<H>?, ...InputParams<T>]
      : [StandardSchemaV1.InferInput<H>, ...InputParams<T>]
    : []

/** The parameters the handler receives: each schema's output type (after transforms and defaults). */
export type OutputParams<P extends ParamSchemas> = { -readonly [K in keyof P]: StandardSchemaV1.InferOutput<P[K]> }

type AllAcceptUndefined<P extends ParamSchemas> = P extends readonly [infer H extends StandardSchemaV1, ...infer T extends ParamSchemas]
  ? undefined extends StandardSchemaV1.InferInput<H> ? AllAcceptUndefined<T> : false
  : true

/** What a validated method returns: the handler's value, or a promise of it when a schema validated asynchronously. */
export type ValidatedResult<S, R> = [S] extends [StandardSchemaV1] ? Promise<StandardSchemaV1.InferOutput<S>> : R | Promise<Awaited<R>>

/** What a handler with a result schema may return: the schema's input, or a promise of it. */
export type ResultInput<S, R> = [S] extends [StandardSchemaV1] ? StandardSchemaV1.InferInput<S> | PromiseLike<StandardSchemaV1.InferInput<S>> : R

/** The schemas of one method (`validated(contract, fn)`, `@expose({ params, result })`). */
export interface Contract<P extends ParamSchemas = ParamSchemas, S extends StandardSchemaV1 | undefined = StandardSchemaV1 | undefined> {
  /** One schema per argument. More arguments than schemas are refused; missing ones are validated as `undefined` (so defaults apply). */
  readonly params: P
  /** Checked on the value the handler returns, before it is sent; a mismatch fails the call with `ResultError`. */
  readonly result?: S
  /** The handler takes the call context first (as with `withContext`); the schemas describe the arguments after it. */
  readonly context?: boolean
}

/** One problem found in a call's arguments, as `ParameterError.data.issues` carries it. */
export interface ParameterIssue {
  /** Where: the argument's index, then keys and indexes into it (`[0, "user", "age"]`). */
  readonly path: readonly (string | number)[]
  /** The schema library's message. */
  readonly message: string
}

/**
 * Issues reported per refused call. Past it the rest are counted
 * (`data.omitted`), not listed: a hostile array of a million bad items must
 * not come back as a million issues.
 * @default 20
 */
export const MAX_REPORTED_ISSUES = 20
/** Longest issue message kept (some libraries quote the offending input in it); longer ones are cut. */
export const MAX_ISSUE_MESSAGE = 200
/** Longest issue path kept, in segments. */
const MAX_ISSUE_PATH = 32

/** A validated method's schemas, by its wrapper function (for reflection and for by-name JSON-RPC params). */
const contracts = new WeakMap<Function, Contract>()

/** The schemas declared for a handler, if it is a validated method. */
export function contractOf(fn: Function): Contract | undefined {
  return contracts.get(fn)
}

/**
 * May a JSON-RPC request with by-name params (an object) call this handler?
 * Only when its parameters are one schema: the object is then that argument.
 */
export function acceptsNamedParams(fn: Function): boolean {
  return contracts.get(fn)?.params.length === 1
}

/**
 * Give a handler schemas: its arguments are checked (and transformed, and
 * defaulted) before it runs, and `Remote<T>` infers the caller's parameter
 * types from them. Works wherever a function can stand in a service:
 * `service({...})` members, `@expose` fields, `Router.add`.
 *
 * A call whose arguments fail gets `ParameterError` whose `data.issues` lists
 * `{ path, message }` (path starts with the argument index); JSON-RPC callers
 * get it as error `-32602`. The handler never runs then. More arguments than
 * schemas are refused too.
 *
 * Named arguments: a method whose parameters are one object schema takes
 * JSON-RPC by-name params (`"params": {"a": 1}`) as that object, and the same
 * object from wirecall clients (`remote.add({ a: 1, b: 2 })`).
 *
 * @example
 * ```ts
 * import { service, validated } from '@wirecall/core'
 * import * as z from 'zod'
 *
 * const api = service({
 *   add: validated([z.number(), z.number()], (a, b) => a + b),          // remote.add(3, 4)
 *   greet: validated([z.object({ name: z.string(), loud: z.boolean().default(false) })],
 *     ({ name, loud }) => (loud ? `HELLO ${name.toUpperCase()}` : `hello ${name}`)),
 *   total: validated({ params: [z.array(z.number())], result: z.number().int() },
 *     (xs) => xs.reduce((s, x) => s + x, 0)),
 *   whoami: validated({ params: [z.string()], context: true }, (ctx, prefix) => `${prefix} ${String(ctx.identity)}`),
 * })
 * ```
 */
export function validated<const P extends ParamSchemas, R>(
  params: P,
  handler: (...args: OutputParams<P>) => R,
): (...args: InputParams<P>) => ValidatedResult<undefined, R>
export function validated<const P extends ParamSchemas, R, S extends StandardSchemaV1 | undefined = undefined, C = Session>(
  contract: Contract<P, S> & { readonly context: true },
  handler: (ctx: CallContext<C>, ...args: OutputParams<P>) => ResultInput<S, R>,
): (ctx: CallContext<C>, ...args: InputParams<P>) => ValidatedResult<S, R>
export function validated<const P extends ParamSchemas, R, S extends StandardSchemaV1 | undefined = undefined>(
  contract: Contract<P, S> & { readonly context?: false },
  handler: (...args: OutputParams<P>) => ResultInput<S, R>,
): (...args: InputParams<P>) => ValidatedResult<S, R>
export function validated(spec: ParamSchemas | Contract, handler: Function): Function {
  if (typeof handler !== 'function') throw new TypeError('validated expects a handler function')
  const contract: Contract = isSchemaList(spec) ? { params: spec } : spec
  checkContract(contract)
  const wrapper = wrap(contract, handler)
  if (contract.context || wantsContext(handler)) markContextual(wrapper)
  if (isCallScoped(handler)) markCallScoped(wrapper)
  return wrapper
}

/**
 * The validating wrapper of `handler` (`validated`, and `@expose({ params })`
 * on a class method). Registered so reflection can describe it.
 */
export function wrap(contract: Contract, handler: Function): Function {
  const { params, result } = contract
  // Anonymous arrows (the usual `validated([...], (a, b) => ...)`) have no name to put in messages.
  const name = handler.name
  const wrapper = function (this: unknown, ...all: unknown[]): unknown {
    // The wrapper, not the inner handler, is what the router marks contextual.
    const offset = wantsContext(wrapper) ? 1 : 0
    const given = all.length - offset
    if (given > params.length) {
      throw new ParameterError(`${name || 'the method'} takes at most ${params.length} argument${params.length === 1 ? '' : 's'}, got ${given}`)
    }
    const outcomes: (StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>)[] = new Array(params.length)
    let async = false
    for (let i = 0; i < params.length; i++) {
      const outcome = params[i]!['~standard'].validate(all[offset + i])
      if (isThenable(outcome)) async = true
      outcomes[i] = outcome
    }
    const run = (settled: readonly StandardSchemaV1.Result<unknown>[]): unknown => {
      const args = checked(name, settled)
      if (offset) args.unshift(all[0])
      const value: unknown = handler.apply(this, args)
      return result ? Promise.resolve(value).then((v) => checkResult(name, result, v)) : value
    }
    if (async) return Promise.all(outcomes).then(run)
    return run(outcomes as StandardSchemaV1.Result<unknown>[])
  }
  if (name) Object.defineProperty(wrapper, 'name', { value: name })
  contracts.set(wrapper, contract)
  return wrapper
}

/** The validated values in order, or `ParameterError` with every issue (up to the cap). */
function checked(name: string, outcomes: readonly StandardSchemaV1.Result<unknown>[]): unknown[] {
  const values: unknown[] = new Array(outcomes.length)
  let issues: ParameterIssue[] | undefined
  let omitted = 0
  for (let i = 0; i < outcomes.length; i++) {
    const outcome = outcomes[i]!
    if (!outcome.issues) {
      values[i] = outcome.value
      continue
    }
    for (const issue of outcome.issues) {
      if ((issues ??= []).length >= MAX_REPORTED_ISSUES) omitted++
      else issues.push(toIssue(i, issue))
    }
  }
  if (!issues) return values
  throw parameterError(name, issues, omitted)
}

function parameterError(name: string, issues: ParameterIssue[], omitted: number): ParameterError {
  const total = issues.length + omitted
  const first = issues[0]!
  const err = new ParameterError(
    `invalid arguments${name ? ` to ${name}` : ''}: ${formatPath(first.path)}: ${first.message}${total > 1 ? ` (and ${total - 1} more)` : ''}`,
  )
  // Own enumerable fields travel as the error's `data` (see `toWireError`).
  const fields = err as ParameterError & { issues?: ParameterIssue[]; omitted?: number }
  fields.issues = issues
  if (omitted) fields.omitted = omitted
  return err
}

async function checkResult(name: string, schema: StandardSchemaV1, value: unknown): Promise<unknown> {
  const outcome = await schema['~standard'].validate(value)
  if (!outcome.issues) return outcome.value
  const issues = outcome.issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => toIssue(undefined, issue))
  const err = new ResultError(`result of ${name || 'the method'} does not match its schema: ${formatPath(issues[0]?.path ?? [])}: ${issues[0]?.message ?? 'invalid'}`)
  ;(err as ResultError & { issues?: ParameterIssue[] }).issues = issues
  throw err
}

function toIssue(argument: number | undefined, issue: StandardSchemaV1.Issue): ParameterIssue {
  const path: (string | number)[] = argument === undefined ? [] : [argument]
  for (const segment of issue.path ?? []) {
    if (path.length >= MAX_ISSUE_PATH) break
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment
    path.push(typeof key === 'number' ? key : typeof key === 'string' ? clip(key) : String(key))
  }
  const message = typeof issue.message === 'string' ? issue.message : 'invalid'
  return { path, message: message.length > MAX_ISSUE_MESSAGE ? `${message.slice(0, MAX_ISSUE_MESSAGE)}...` : message }
}

/** `[0, "user", "age"]` as `[0].user.age`. */
function formatPath(path: readonly (string | number)[]): string {
  if (!path.length) return 'value'
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('')
}

function isSchemaList(spec: ParamSchemas | Contract): spec is ParamSchemas {
  return Array.isArray(spec)
}

function isSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false
  const props = (value as { '~standard'?: { validate?: unknown } })['~standard']
  return typeof props === 'object' && props !== null && typeof props.validate === 'function'
}

/** Fail at definition time, not on the first call, when a schema is not a Standard Schema. */
export function checkContract(contract: Contract): void {
  if (!Array.isArray(contract.params) || !contract.params.every(isSchema)) {
    throw new TypeError('validated: params must be an array of Standard Schemas (zod, valibot, arktype...)')
  }
  if (contract.result !== undefined && !isSchema(contract.result)) {
    throw new TypeError('validated: result must be a Standard Schema')
  }
}
