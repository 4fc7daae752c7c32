// `--name=N` on the command line of the standalone bench scripts (channels, relay-floor, resume,
// metrics-cost): the number, or `dflt` when absent. run.mjs parses its own options (lib/args.mjs).
export function numberArg(name, dflt) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`))
  return a ? Number(a.split('=')[1]) : dflt
}
