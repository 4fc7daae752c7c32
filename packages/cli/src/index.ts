/**
 * @wirecall/cli: the `wirecall` command (`wirecall ls`, `wirecall call`),
 * and the same as a function for scripts and tests.
 */
export { run, ExitCode, type CliOutput } from './run.js'
export { USAGE, DEFAULT_CLI_TIMEOUT_MS } from './args.js'
