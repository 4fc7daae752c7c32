/**
 * Builds the tracing page (e2e/tests/tracing.spec.ts calls Vite's `build()`
 * with this file, in memory): `@wirecall/browser` and `@wirecall/core/otel`
 * from their TypeScript sources, the OpenTelemetry web SDK from npm.
 */
import { defineConfig } from 'vite'
import { fileURLToPath } from 'node:url'
import { lowerDecorators } from '../../vitest.shared.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

export default defineConfig({
  root: here('.'),
  logLevel: 'warn',
  plugins: [lowerDecorators()],
  resolve: {
    alias: [
      { find: /^@wirecall\/core\/otel$/, replacement: here('../../packages/core/src/otel.ts') },
      { find: /^@wirecall\/core$/, replacement: here('../../packages/core/src/index.ts') },
      { find: /^@wirecall\/browser$/, replacement: here('../../packages/browser/src/index.ts') },
    ],
  },
  build: { target: 'es2022', minify: false, outDir: here('./dist'), emptyOutDir: true },
})
