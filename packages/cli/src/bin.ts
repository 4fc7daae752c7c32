#!/usr/bin/env node
/** The `wirecall` command: `wirecall --help`. */
import { run } from './run.js'

process.exitCode = await run(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
})
