/**
 * Reflection: a peer may ask what this side's service offers (aiorpc's and
 * quickrpc's introspection, grpcurl's `list`). Off by default
 * (`SessionOptions.reflection`): a public server need not publish its
 * surface. Installed like `textFrames`, as a function the session is given,
 * so a browser bundle that never answers `rpc.describe` does not carry this
 * module. When on, the reserved method `rpc.describe` (JSON-RPC 2.0
 * reserves the `rpc.` prefix for such extensions) answers the tree of
 * exposed paths; hidden members stay hidden because the tree is built from
 * the router's own reachability rule.
 */
import type { StandardJSONSchemaV1, StandardSchemaV1 } from '@standard-schema/spec'
import { reachableMembers, type Handler } from './router.js'
import { contractOf } from './validation.js'
import type { CallOptions } from './options.js'

import { DESCRIBE_METHOD } from './protocol.js'

export { DESCRIBE_METHOD }

/**
 * What answers `rpc.describe` (`SessionOptions.reflection`): `describeService`,
 * or your own. The Node server's `reflection: true` installs `describeService`.
 */
export type ServiceDescriber = (service: object | undefined) => ServiceDescription

/**
 * Methods listed at most in one description; past it the tree is cut and
 * `truncated` is set. A service graph is the server's own, but a generated or
 * cyclic one must not make one call build an unbounded answer.
 * @default 10000
 */
export const MAX_DESCRIBED_METHODS = 10_000
/**
 * Deepest sub-service listed (a service that contains itself is cut at its first repeat anyway).
 * @default 32
 */
export const MAX_DESCRIBED_DEPTH = 32

/** A JSON Schema document, as the schema library produced it. */
export type JsonSchema = Record<string, unknown>

/** A callable member in a `ServiceDescription`. */
export interface MethodDescription {
  /** Tells a method from a sub-service. */
  readonly kind: 'method'
  /** Arguments the caller passes (the call context, if the handler takes one, is not counted). */
  readonly arity: number
  /** Whether the arguments are checked against schemas before the handler runs. */
  readonly validated: boolean
  /**
   * With schemas: the JSON Schema of each argument's accepted input, or null
   * where the schema library offers none (Standard JSON Schema: zod 4 has it,
   * valibot through `toStandardJsonSchema` from `@valibot/to-json-schema`).
   */
  readonly params?: readonly (JsonSchema | null)[]
  /** With a result schema: the JSON Schema of the result (null when the library offers none). */
  readonly result?: JsonSchema | null
}

/** A sub-service (or the root) in a `ServiceDescription`. */
export interface ServiceNodeDescription {
  /** Tells a sub-service from a method. */
  readonly kind: 'service'
  /** Members by name: `members.math.members.add` is callable as `math.add`. */
  readonly members: Readonly<Record<string, MethodDescription | ServiceNodeDescription>>
}

/** What `rpc.describe` answers: the tree of exposed paths. */
export interface ServiceDescription extends ServiceNodeDescription {
  /** Set when `MAX_DESCRIBED_METHODS` or `MAX_DESCRIBED_DEPTH` cut the tree. */
  readonly truncated?: true
}

/** JSON Schemas already produced, per schema object (building one can cost more than the call). */
const jsonSchemas = new WeakMap<object, JsonSchema | null>()

/** What `describeRemote` needs of a session: its `call`. */
export interface Caller {
  /** Call `path` with `args` on the peer. */
  call(path: string, args: unknown[], options?: CallOptions): Promise<unknown>
}

/**
 * Ask the peer what it offers (it must have `reflection: true`; otherwise
 * the call fails with `NotFoundError`).
 *
 * @example
 * ```ts
 * import { describeRemote } from '@wirecall/core'
 * import { connect } from '@wirecall/node'
 *
 * const client = await connect('ws://127.0.0.1:8080')
 * const tree = await describeRemote(client)
 * console.log(Object.keys(tree.members))            // e.g. ['math', 'echo']
 * console.log(tree.members.math)                    // { kind: 'service', members: { add: { kind: 'method', arity: 2, ... } } }
 * ```
 */
export async function describeRemote(session: Caller, options?: CallOptions): Promise<ServiceDescription> {
  return (await session.call(DESCRIBE_METHOD, [], options)) as ServiceDescription
}

/**
 * Describe everything reachable from `root`: the answer of `rpc.describe`.
 * Pass it as `reflection` to a session that is not a Node server
 * (`connect(url, { reflection: describeService })`); the Node server takes `reflection: true`.
 */
export function describeService(root: object | undefined): ServiceDescription {
  const state = { methods: 0, truncated: false }
  const tree = root ? describeNode(root, 0, new Set(), state) : { kind: 'service' as const, members: {} }
  return state.truncated ? { ...tree, truncated: true } : tree
}

function describeNode(node: object, depth: number, ancestors: Set<object>, state: { methods: number; truncated: boolean }): ServiceNodeDescription {
  // Null prototype: member names are the service's, and "__proto__" must stay a plain key.
  const members: Record<string, MethodDescription | ServiceNodeDescription> = Object.create(null)
  ancestors.add(node)
  for (const member of reachableMembers(node)) {
    // A name with a dot cannot be reached by a dotted path, so it is not offered.
    if (member.name.includes('.')) continue
    if (member.handler) {
      if (state.methods >= MAX_DESCRIBED_METHODS) {
        state.truncated = true
        break
      }
      state.methods++
      members[member.name] = describeMethod(member.handler)
    } else if (member.service && !ancestors.has(member.service)) {
      if (depth + 1 >= MAX_DESCRIBED_DEPTH) {
        state.truncated = true
        continue
      }
      const sub = describeNode(member.service, depth + 1, ancestors, state)
      if (Object.keys(sub.members).length) members[member.name] = sub
    }
  }
  ancestors.delete(node)
  return { kind: 'service', members }
}

function describeMethod(handler: Handler): MethodDescription {
  const contract = contractOf(handler.fn)
  if (!contract) {
    // `fn.length` counts parameters before the first default or rest one: a lower bound, the best a plain function tells.
    return { kind: 'method', arity: Math.max(0, handler.fn.length - (handler.contextual ? 1 : 0)), validated: false }
  }
  const described: { -readonly [K in keyof MethodDescription]: MethodDescription[K] } = {
    kind: 'method', arity: contract.params.length, validated: true, params: contract.params.map(jsonSchemaOf),
  }
  if (contract.result) described.result = jsonSchemaOf(contract.result)
  return described
}

/** The schema's input as JSON Schema through Standard JSON Schema, or null when the library has none or cannot express it. */
function jsonSchemaOf(schema: StandardSchemaV1): JsonSchema | null {
  let cached = jsonSchemas.get(schema)
  if (cached !== undefined) return cached
  cached = null
  const props = schema['~standard'] as StandardSchemaV1.Props & Partial<StandardJSONSchemaV1.Props>
  const converter = props.jsonSchema
  if (converter && typeof converter.input === 'function') {
    try {
      cached = converter.input({ target: 'draft-2020-12' })
    } catch {
      // Some inputs have no JSON Schema (zod: custom types, functions); the method is still listed.
      cached = null
    }
  }
  jsonSchemas.set(schema, cached)
  return cached
}
