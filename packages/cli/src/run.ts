/**
 * Running a parsed command: connect (msgpack through `@wirecall/node`, or
 * JSON-RPC through a plain WebSocket), call, print, and choose the exit
 * status.
 */
import { ConnectionClosedError, DESCRIBE_METHOD, TimeoutError, WirecallError, type ServiceDescription } from '@wirecall/core'
import { connect } from '@wirecall/node'
import { USAGE, UsageError, parseCommandLine, type Command, type CommandOptions } from './args.js'
import { formatDescription, formatError, toJson, type ErrorReport } from './format.js'
import { CallTimeoutError, ConnectError, JsonRpcCallError, jsonRpcCall } from './json-rpc-client.js'

/** Exit statuses of the command. */
export const ExitCode = {
  /** The call succeeded; its result is on stdout. */
  OK: 0,
  /** The remote method failed (or does not exist); name, code and message are on stderr. */
  REMOTE_ERROR: 1,
  /** The command line is wrong. */
  USAGE: 2,
  /** The server could not be reached, refused the handshake, or closed the connection. */
  CONNECT: 3,
  /** No answer within `--timeout`. */
  TIMEOUT: 4,
} as const

/** Where the command writes (the process's streams, or a test's buffers). */
export interface CliOutput {
  /** Results. */
  stdout(text: string): void
  /** Errors and usage. */
  stderr(text: string): void
}

/**
 * Run the command line `argv` (without `node` and the script) and resolve
 * with its exit status. Never throws: every failure is printed on `stderr`.
 *
 * @example
 * ```ts
 * import { run } from '@wirecall/cli'
 *
 * const status = await run(['call', 'ws://127.0.0.1:8080', 'math.add', '3', '4'], {
 *   stdout: (text) => process.stdout.write(text),
 *   stderr: (text) => process.stderr.write(text),
 * })
 * process.exitCode = status
 * ```
 */
export async function run(argv: readonly string[], output: CliOutput): Promise<number> {
  let command: Command
  try {
    command = parseCommandLine(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    output.stderr(`wirecall: ${err.message}\n\n${USAGE}\n`)
    return ExitCode.USAGE
  }
  if (command.kind === 'help') {
    output.stdout(`${USAGE}\n`)
    return ExitCode.OK
  }
  try {
    if (command.kind === 'ls') {
      const description = (await callOnce(command.url, DESCRIBE_METHOD, [], command.options)) as ServiceDescription
      output.stdout(`${command.options.json ? toJson(description) : formatDescription(description)}\n`)
    } else {
      const params = command.options.named && command.options.jsonRpc ? (command.args[0] as Record<string, unknown>) : [...command.args]
      output.stdout(`${toJson(await callOnce(command.url, command.method, params, command.options))}\n`)
    }
    return ExitCode.OK
  } catch (err) {
    return report(err, output, command)
  }
}

async function callOnce(url: string, method: string, params: unknown[] | Record<string, unknown>, options: CommandOptions): Promise<unknown> {
  if (options.jsonRpc) return jsonRpcCall(url, method, params, options)
  const session = await connect(url, {
    headers: options.headers,
    timeout: options.timeout,
    // A server that never answers our closing frame must not hold the command past its timeout.
    limits: { handshakeTimeoutMs: options.timeout, closeTimeoutMs: options.timeout },
    // The command prints what matters itself; a library warning would only garble stderr.
    logger: { warn() {}, error() {} },
  })
  try {
    return await session.call(method, Array.isArray(params) ? params : [params])
  } finally {
    await session.close()
  }
}

function report(err: unknown, output: CliOutput, command: Exclude<Command, { kind: 'help' }>): number {
  if (err instanceof TimeoutError || err instanceof CallTimeoutError) {
    output.stderr(`wirecall: timed out after ${command.options.timeout} ms: ${err.message}\n`)
    return ExitCode.TIMEOUT
  }
  if (err instanceof ConnectError || err instanceof ConnectionClosedError) {
    output.stderr(`wirecall: ${err.message}\n`)
    return ExitCode.CONNECT
  }
  if (err instanceof JsonRpcCallError || WirecallError.is(err) || err instanceof Error) {
    const e = err as Error & Partial<ErrorReport>
    output.stderr(`${formatError({ name: e.name, code: typeof e.code === 'string' ? e.code : 'WIRECALL_REMOTE_ERROR', message: e.message, data: e.data })}\n`)
    if (command.kind === 'ls' && e.code === 'WIRECALL_NOT_FOUND') output.stderr('(is reflection on? serve({ reflection: true }))\n')
    return ExitCode.REMOTE_ERROR
  }
  output.stderr(`wirecall: ${String(err)}\n`)
  return ExitCode.REMOTE_ERROR
}
