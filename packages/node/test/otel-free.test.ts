/**
 * "Nothing is loaded when tracing is off": a child process that refuses to
 * resolve any @opentelemetry package runs a server and a client with
 * metrics on; it completes. The same child importing @wirecall/core/otel
 * fails, which proves the refusal works. Runs the built packages (`npm run build`).
 */
import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const child = (importOtel: boolean) => spawnSync(process.execPath, [
  '--import', fileURLToPath(new URL('./child/refuse-otel.mjs', import.meta.url)),
  fileURLToPath(new URL('./child/otel-free.mjs', import.meta.url)),
], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, IMPORT_OTEL: importOtel ? '1' : '0' } })

describe('@opentelemetry/api is an optional peer', () => {
  it('is never imported by @wirecall/core and @wirecall/node, metrics included', () => {
    const run = child(false)
    expect(run.stderr).not.toContain('OTEL_IMPORTED')
    expect(run.stdout.trim()).toBe('OK')
    expect(run.status).toBe(0)
  })

  it('is imported by @wirecall/core/otel (the check can fail)', () => {
    const run = child(true)
    expect(run.stderr).toContain('OTEL_IMPORTED: @opentelemetry/api')
    expect(run.status).not.toBe(0)
  })
})
