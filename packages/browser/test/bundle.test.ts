/**
 * Streams and resumable sessions cost nothing in a page that does not pass
 * `streams` or `resume`: a Vite production build of a calls-and-callbacks
 * page (from the sources, in memory) must hold none of their code, and the
 * same page passing the option must hold all of it (so the check cannot
 * pass by searching for strings that no longer exist). Sizes are measured
 * by the bench's `bundle-size` scenario, not here: this only guards what is
 * bundled.
 */
import { describe, expect, test } from 'vitest'
import { build, type Rolldown } from 'vite'
import { sourceAliases } from '../../../vitest.shared.js'

/** Strings found only in the stream code: the producer, the consumer, the table and its message checks. */
const STREAM_ONLY = [
  'stream item could not be encoded',
  'beyond the credit it was given',
  'the consumer stopped reading stream',
  'stream credit must be',
]

/**
 * Strings found only in the resume code: the client's handshake and parked
 * session (client-resume.ts) and the resume layer (resume.ts: replay buffer,
 * control frames).
 */
const RESUME_ONLY = [
  'no answer to the resume handshake',
  'the session could not be resumed',
  'replay buffer full',
  'resume protocol violation',
]

const ENTRY = 'virtual:page'

async function bundle(source: string): Promise<string> {
  const result = await build({
    configFile: false,
    logLevel: 'silent',
    mode: 'production',
    resolve: { alias: sourceAliases },
    plugins: [{
      name: 'page-entry',
      resolveId: (id) => (id === ENTRY ? '\0' + ENTRY : null),
      load: (id) => (id === '\0' + ENTRY ? source : null),
    }],
    build: { write: false, minify: true, modulePreload: false, copyPublicDir: false, rollupOptions: { input: ENTRY } },
  })
  const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[]
  return outputs.flatMap((r) => r.output).map((o) => (o.type === 'chunk' ? o.code : '')).join('\n')
}

const PAGE = `
import { connect, service } from '@wirecall/browser'
const client = await connect('ws://127.0.0.1:8080/', { service: service({ tick: (i) => console.log('tick', i) }) })
console.log(await client.remote.add(1, 2))
await client.remote.subscribe((n) => n + 1)
`

describe('what a page bundles', () => {
  test('calls and callbacks only: no stream code; with `streams`: all of it', async () => {
    const calls = await bundle(PAGE)
    expect(calls).toContain('WIRECALL_STREAMS_NOT_ENABLED')
    expect(STREAM_ONLY.filter((marker) => calls.includes(marker))).toEqual([])
    const withStreams = await bundle(PAGE
      .replace("import { connect, service } from '@wirecall/browser'", "import { connect, service, streams } from '@wirecall/browser'")
      .replace("service: service({ tick: (i) => console.log('tick', i) }) }", "service: service({ tick: (i) => console.log('tick', i) }), streams }"))
    expect(STREAM_ONLY.filter((marker) => !withStreams.includes(marker))).toEqual([])
  }, 60_000)

  test('calls and callbacks only: no resume code; with `resume`: all of it', async () => {
    const calls = await bundle(PAGE)
    expect(RESUME_ONLY.filter((marker) => calls.includes(marker))).toEqual([])
    const withResume = await bundle(PAGE
      .replace("import { connect, service } from '@wirecall/browser'", "import { connect, resume, service } from '@wirecall/browser'")
      .replace("service: service({ tick: (i) => console.log('tick', i) }) }", "service: service({ tick: (i) => console.log('tick', i) }), resume }"))
    expect(withResume).toContain('wirecall.resume.v1')
    expect(RESUME_ONLY.filter((marker) => !withResume.includes(marker))).toEqual([])
    expect(STREAM_ONLY.filter((marker) => withResume.includes(marker))).toEqual([])
  }, 60_000)
})
