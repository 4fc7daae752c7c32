// Browser bundle size: a Vite production build of a tiny page entry (given as source text), into a
// temporary directory that is removed afterwards. Bare imports resolve from bench/node_modules
// (@wirecall/* through its file: links), with the browser export conditions, as a page's bundler would.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'

const benchDir = resolve(dirname(new URL(import.meta.url).pathname), '..')
const rootDir = resolve(benchDir, '..')
const ENTRY = 'virtual:bench-page-entry'

/**
 * The wirecall packages export dist/ (built by `npm run build`). When the browser package has not
 * been built, alias @wirecall/* to their TypeScript sources instead (Vite strips the types).
 */
export function wirecallResolution() {
  const dist = ['browser', 'core'].every((p) => existsSync(join(rootDir, 'packages', p, 'dist', 'index.js')))
  if (dist) return { from: 'dist', alias: [] }
  return {
    from: 'src',
    alias: ['browser', 'core'].map((p) => ({ find: new RegExp(`^@wirecall/${p}$`), replacement: join(rootDir, 'packages', p, 'src', 'index.ts') })),
  }
}

/**
 * Build `source` as the only entry; returns the minified and gzipped (level 9) bytes of all emitted
 * JS, the emitted code itself (`code`, for checking what a page carries), and the largest input
 * modules (rendered bytes before minification, for finding what weighs).
 */
export async function bundleSize(source, { alias = [] } = {}) {
  const { build, version } = await import('vite')
  const outDir = mkdtempSync(join(tmpdir(), 'wirecall-bench-bundle-'))
  try {
    const result = await build({
      root: benchDir,
      configFile: false,
      envDir: false,
      logLevel: 'error',
      mode: 'production',
      resolve: { alias },
      plugins: [{
        name: 'bench-virtual-entry',
        resolveId: (id) => (id === ENTRY ? '\0' + ENTRY : null),
        load: (id) => (id === '\0' + ENTRY ? source : null),
      }],
      build: {
        outDir,
        emptyOutDir: true,
        write: true,
        minify: true,
        sourcemap: false,
        copyPublicDir: false,
        modulePreload: false,
        reportCompressedSize: false,
        rollupOptions: { input: ENTRY, output: { entryFileNames: 'entry.js', chunkFileNames: '[name]-[hash].js' } },
      },
    })
    let minBytes = 0
    let gzBytes = 0
    let code = ''
    const files = []
    for (const f of readdirSync(outDir, { recursive: true })) {
      const p = join(outDir, String(f))
      if (!String(f).endsWith('.js') || !statSync(p).isFile()) continue
      const buf = readFileSync(p)
      const gz = gzipSync(buf, { level: 9 }).length
      minBytes += buf.length
      code += buf.toString('utf8')
      gzBytes += gz
      files.push({ file: String(f), bytes: buf.length, gzBytes: gz })
    }
    if (files.length === 0) throw new Error('the build emitted no JavaScript')
    const outputs = (Array.isArray(result) ? result : [result]).flatMap((r) => r?.output ?? [])
    const modules = new Map()
    for (const chunk of outputs) {
      for (const [id, m] of Object.entries(chunk.modules ?? {})) {
        const name = id.replace(/^\0/, '').replace(rootDir + '/', '')
        modules.set(name, (modules.get(name) ?? 0) + (m.renderedLength ?? 0))
      }
    }
    const largest = [...modules].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([id, bytes]) => ({ id, renderedBytes: bytes }))
    return { minBytes, gzBytes, code, files, largestModules: largest, vite: version }
  } finally {
    rmSync(outDir, { recursive: true, force: true })
  }
}
