/**
 * What the command prints: results as JSON (values beyond JSON made
 * readable), errors as one line of name, code and message, and a
 * description as one line per method.
 */
import type { JsonSchema, MethodDescription, ServiceDescription, ServiceNodeDescription } from '@wirecall/core'

/**
 * A result as JSON: BigInt as a decimal string, Map as an object, Set as an
 * array, binary as base64, callback references as a marker (they cannot be
 * called from a shell).
 */
export function toJson(value: unknown): string {
  const text = JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    // A Buffer (how Node decodes binaries) has its own toJSON, already applied to `v`: look at the holder's value.
    const raw = this[key]
    if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
    if (typeof v === 'bigint') return v.toString()
    if (v instanceof Map) return Object.fromEntries([...v].map(([k, item]) => [String(k), item as unknown]))
    if (v instanceof Set) return [...v]
    if (typeof v === 'function') return '[remote function]'
    return v
  }, 2)
  return text ?? 'null'
}

/** A failed call, as the caller sees it. */
export interface ErrorReport {
  readonly name: string
  readonly code: string
  readonly message: string
  readonly data?: unknown
}

/** `Name [CODE]: message`, then the error's data as JSON when it has any. */
export function formatError(error: ErrorReport): string {
  const head = `${error.name} [${error.code}]: ${error.message}`
  return error.data === undefined || error.data === null ? head : `${head}\ndata: ${toJson(error.data)}`
}

/** One line per method: `math.add(number, number) -> number`, sorted by path. */
export function formatDescription(description: ServiceDescription): string {
  const lines: string[] = []
  walk(description, '', lines)
  lines.sort()
  if (description.truncated) lines.push('(truncated: the server lists at most MAX_DESCRIBED_METHODS methods)')
  return lines.join('\n')
}

function walk(node: ServiceNodeDescription, prefix: string, lines: string[]): void {
  for (const [name, member] of Object.entries(node.members)) {
    const path = prefix ? `${prefix}.${name}` : name
    if (member.kind === 'service') walk(member, path, lines)
    else lines.push(`${path}${signature(member)}`)
  }
}

function signature(method: MethodDescription): string {
  if (!method.params) return `(${method.arity} argument${method.arity === 1 ? '' : 's'})`
  const params = method.params.map((schema) => (schema ? typeOf(schema, 0) : 'unknown')).join(', ')
  const result = method.result !== undefined ? ` -> ${method.result ? typeOf(method.result, 0) : 'unknown'}` : ''
  return `(${params})${result}`
}

/** A JSON Schema as a short TypeScript-like type; deep or exotic schemas read as `unknown` or `object`. */
function typeOf(schema: JsonSchema, depth: number): string {
  if (depth > 3) return '...'
  if ('const' in schema) return JSON.stringify(schema.const)
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ')
  const union = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined
  if (Array.isArray(union)) return union.map((s) => typeOf(s, depth + 1)).join(' | ')
  const type = schema.type
  if (Array.isArray(type)) return type.join(' | ')
  if (type === 'integer') return 'number'
  if (type === 'array') {
    const items = schema.items as JsonSchema | undefined
    return `${items && typeof items === 'object' ? typeOf(items, depth + 1) : 'unknown'}[]`
  }
  if (type === 'object') {
    const properties = schema.properties as Record<string, JsonSchema> | undefined
    if (!properties) return 'object'
    const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : [])
    const fields = Object.entries(properties).map(([key, value]) => `${key}${required.has(key) ? '' : '?'}: ${typeOf(value, depth + 1)}`)
    return `{ ${fields.join(', ')} }`
  }
  return typeof type === 'string' ? type : 'unknown'
}
