/**
 * Node's switch for wirecall's debug areas: the `DEBUG` environment variable,
 * read once when the adapter loads (`DEBUG=wirecall:* node app.js`), with
 * lines written to stderr like the `debug` package writes them.
 */
import { formatWithOptions } from 'node:util'
import { enableDebug, setDebugSink } from '@wirecall/core'

if (process.env.DEBUG) {
  enableDebug(process.env.DEBUG)
  setDebugSink((area, message, details) => {
    const colors = process.stderr.isTTY === true
    process.stderr.write(`${new Date().toISOString()} ${area} ${formatWithOptions({ colors }, message, ...details)}\n`)
  })
}
