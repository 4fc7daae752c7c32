/**
 * The command line, parsed: which command, where, and the options. Kept
 * apart from running it so that usage errors are found before any socket
 * opens.
 */
import { parseArgs } from 'node:util'

/**
 * How long a call (and the handshake) may take when `--timeout` is not given.
 * @default 10000: a shell user waits, but not forever.
 */
export const DEFAULT_CLI_TIMEOUT_MS = 10_000

/** A parsed command line. */
export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'ls'; readonly url: string; readonly options: CommandOptions }
  | { readonly kind: 'call'; readonly url: string; readonly method: string; readonly args: readonly unknown[]; readonly options: CommandOptions }

/** Options shared by `ls` and `call`. */
export interface CommandOptions {
  /** Handshake headers (`--header "Name: value"`, repeatable). */
  readonly headers: Readonly<Record<string, string>>
  /** Milliseconds for the handshake and for the call (`--timeout`). */
  readonly timeout: number
  /** Speak JSON-RPC 2.0 in text frames instead of msgpack-rpc (`--json-rpc`). */
  readonly jsonRpc: boolean
  /** `call`: send the one object argument as by-name params (`--named`). */
  readonly named: boolean
  /** `ls`: print the description as JSON instead of one line per method (`--json`). */
  readonly json: boolean
}

/** A command line that cannot be run; the message says why. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** What `wirecall --help` prints. */
export const USAGE = `usage:
  wirecall ls <url> [options]                      list the server's methods (the server needs reflection on)
  wirecall call <url> <method> [arg ...] [options] call a method; each arg is JSON (3, '"text"', '{"a":1}')

options:
  -H, --header "Name: value"  handshake header, repeatable (e.g. authorization)
  -t, --timeout <ms>          handshake and call timeout (default ${DEFAULT_CLI_TIMEOUT_MS})
  --json-rpc                  speak JSON-RPC 2.0 (text frames) instead of msgpack-rpc
  --named                     call: send the one object argument as by-name params
  --json                      ls: print the description as JSON
  -h, --help                  this text

Put -- before arguments that start with a dash: wirecall call ws://host:8080 math.add -- -3 4
The result is printed as JSON on stdout. Exit status: 0 success, 1 the remote method failed
(name, code and message on stderr), 2 usage error, 3 could not connect, 4 timed out.`

/** Parse `argv` (without node and the script). Throws `UsageError`. */
export function parseCommandLine(argv: readonly string[]): Command {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        header: { type: 'string', short: 'H', multiple: true },
        timeout: { type: 'string', short: 't' },
        'json-rpc': { type: 'boolean' },
        named: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help || positionals.length === 0) return { kind: 'help' }
  const [command, url, ...rest] = positionals
  const options: CommandOptions = {
    headers: parseHeaders(values.header ?? []),
    timeout: parseTimeout(values.timeout),
    jsonRpc: values['json-rpc'] ?? false,
    named: values.named ?? false,
    json: values.json ?? false,
  }
  if (command !== 'ls' && command !== 'call') throw new UsageError(`unknown command "${command}" (ls or call)`)
  if (!url) throw new UsageError(`${command}: the server URL is missing (ws://host:port)`)
  checkUrl(url)
  if (command === 'ls') {
    if (rest.length) throw new UsageError(`ls takes only a URL (got ${rest.length} more)`)
    return { kind: 'ls', url, options }
  }
  const [method, ...raw] = rest
  if (!method) throw new UsageError('call: the method is missing (e.g. math.add)')
  const args = raw.map((text, i) => parseJsonArgument(text, i))
  if (options.named && (args.length !== 1 || typeof args[0] !== 'object' || args[0] === null || Array.isArray(args[0]))) {
    throw new UsageError('--named needs exactly one argument, a JSON object')
  }
  return { kind: 'call', url, method, args, options }
}

function parseJsonArgument(text: string, index: number): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new UsageError(`argument ${index + 1} is not JSON: ${text.length > 60 ? `${text.slice(0, 60)}...` : text} (quote strings: '"text"')`)
  }
}

function parseHeaders(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = Object.create(null)
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = colon > 0 ? line.slice(0, colon).trim() : ''
    // An HTTP token: letters, digits and !#$%&'*+-.^_`|~ (anything else would make the handshake throw).
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new UsageError(`--header "${line}": expected "Name: value"`)
    headers[name.toLowerCase()] = line.slice(colon + 1).trim()
  }
  return headers
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CLI_TIMEOUT_MS
  const ms = Number(text)
  if (!Number.isInteger(ms) || ms <= 0) throw new UsageError(`--timeout ${text}: expected a positive number of milliseconds`)
  return ms
}

function checkUrl(url: string): void {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UsageError(`"${url}" is not a URL (ws://host:port)`)
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new UsageError(`"${url}": expected a ws:// or wss:// URL`)
}
