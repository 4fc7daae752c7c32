/**
 * Builds the conformance page (e2e/tests/conformance.spec.ts calls Vite's
 * `build()` with this file, in memory). The page bundles `@wirecall/browser`
 * and `@wirecall/core` from their TypeScript sources plus the shared suite.
 */
import { defineConfig } from 'vite'
import { fileURLToPath } from 'node:url'
import { lowerDecorators } from '../../../vitest.shared.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

export default defineConfig({
  root: here('.'),
  logLevel: 'warn',
  plugins: [lowerDecorators()],
  resolve: {
    alias: [
      { find: /^@wirecall\/core$/, replacement: here('../../../packages/core/src/index.ts') },
      { find: /^@wirecall\/browser$/, replacement: here('../../../packages/browser/src/index.ts') },
    ],
  },
  build: {
    target: 'es2022',
    // Readable stacks in failure reports.
    minify: false,
    sourcemap: 'inline',
    outDir: here('./dist'), // only for a manual `vite build`; the spec builds in memory
    emptyOutDir: true,
  },
})
