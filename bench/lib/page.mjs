// Parent side of the `page` scenario: bundle page/entry.js with Vite, start
// page/server.mjs (raw + wirecall servers in one Node process, and the page), and open the page in
// Debian's Chromium through playwright-core (no Playwright browser download, no network
// instrumentation: a plain page.evaluate per timed run). With --pin=split the server is pinned to
// CPU 0 and every Chromium process to CPU 1, like the Node client processes.
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { Child, pinPid } from './proc.mjs'
import { wirecallResolution } from './bundle.mjs'

const benchDir = resolve(dirname(new URL(import.meta.url).pathname), '..')

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** The e2e suite's flags: no background traffic or updates competing with the measured loop. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]
/** For the heap figure: `gc()` in the page, and `performance.memory` not rounded to 100 KB steps. */
const PAGE_HEAP_ARGS = ['--js-flags=--expose-gc', '--enable-precise-memory-info']

/** Bundle page/entry.js (production, minified) into a new temporary directory; returns it and how @wirecall/* was resolved. */
async function buildPage() {
  const { build } = await import('vite')
  const outDir = mkdtempSync(join(tmpdir(), 'wirecall-bench-page-'))
  const resolution = wirecallResolution()
  await build({
    root: join(benchDir, 'page'),
    configFile: false,
    envDir: false,
    logLevel: 'error',
    mode: 'production',
    resolve: { alias: resolution.alias },
    build: {
      outDir,
      emptyOutDir: true,
      minify: true,
      sourcemap: false,
      copyPublicDir: false,
      modulePreload: false,
      reportCompressedSize: false,
      target: 'es2022',
      rollupOptions: { input: join(benchDir, 'page', 'entry.js'), output: { entryFileNames: 'entry.js' } },
    },
  })
  if (readdirSync(outDir).length !== 1) throw new Error(`page build: expected one entry.js in ${outDir}`)
  return { dir: outDir, from: resolution.from }
}

/** Every descendant of pid (Chromium's renderer, GPU and utility processes), from /proc. */
function descendants(pid) {
  const children = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (!children.has(ppid)) children.set(ppid, [])
      children.get(ppid).push(Number(name))
    } catch {}
  }
  const out = []
  const queue = [pid]
  while (queue.length) for (const c of children.get(queue.shift()) ?? []) { out.push(c); queue.push(c) }
  return out
}

/**
 * Start the server, build and open the page. Resolves to
 * { setup(impl), measure(impl, {warmup, duration, inflight}), close(), from, chromium }.
 */
export async function openPageSession({ verbose = false } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)
  const { chromium } = await import('playwright-core')
  const built = await buildPage()
  let server
  let browser
  const close = async () => {
    await browser?.close().catch(() => {})
    if (server && !server.exited) {
      try { await server.call('close', {}, 5000) } catch {}
      await server.stop()
    }
    rmSync(built.dir, { recursive: true, force: true })
  }
  try {
    server = new Child('page/server.mjs', [built.dir], { label: 'page server', verbose })
    const ports = JSON.parse((await server.waitStdout(/^PORTS (\{.*\})$/m, 20_000))[1])
    pinPid(server.cp.pid, 'server')
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...PAGE_HEAP_ARGS] })
    const page = await browser.newPage()
    const pageErrors = []
    page.on('pageerror', (err) => pageErrors.push(String(err)))
    await page.goto(`http://127.0.0.1:${ports.page}/`)
    await page.waitForFunction(() => typeof window.bench === 'object', null, { timeout: 15_000 })
    if (pageErrors.length) throw new Error(`page error: ${pageErrors[0]}`)
    const browserPid = browser.process?.()?.pid
    if (browserPid) for (const pid of [browserPid, ...descendants(browserPid)]) pinPid(pid, 'client')
    return {
      from: built.from,
      chromium: browser.version(),
      setup: (impl) => page.evaluate(([i, url]) => window.bench.setup(i, url), [impl, `ws://127.0.0.1:${ports[impl.replace(/-nobatch$/, '')]}/`]),
      measure: (impl, what, args) => page.evaluate(([i, w, a]) => window.bench.measure(i, w, a), [impl, what, args]),
      tickCount: (impl) => page.evaluate((i) => window.bench.tickCount(i), impl),
      ticksReached: (impl, target, maxMs) => page.evaluate(([i, n, ms]) => window.bench.ticksReached(i, n, ms), [impl, target, maxMs]),
      heapAfter: (impl, calls) => page.evaluate(([i, n]) => window.bench.heapAfter(i, n), [impl, calls]),
      /** A command of the page's server process (page/server.mjs). */
      server: (fn, args, timeoutMs) => server.call(fn, args, timeoutMs),
      closeClient: (impl) => page.evaluate((i) => window.bench.close(i), impl),
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
