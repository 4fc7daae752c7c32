/**
 * Vite config for the dashboard page.
 *
 * The page imports `@wirecall/core` and `@wirecall/browser` straight from their
 * TypeScript sources (no package build needed for the page); the server
 * (server.ts) uses the built packages. `npm run dev` serves the page with HMR
 * on :5174 and proxies /rpc to a demo server already running on :5173.
 */
import { defineConfig } from 'vite'
import { fileURLToPath } from 'node:url'
import { lowerDecorators } from '../vitest.shared.ts'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

export default defineConfig({
  root: here('.'),
  plugins: [lowerDecorators()],
  resolve: {
    alias: [
      { find: /^@wirecall\/core$/, replacement: here('../packages/core/src/index.ts') },
      { find: /^@wirecall\/core\/internal$/, replacement: here('../packages/core/src/internal.ts') },
      { find: /^@wirecall\/browser$/, replacement: here('../packages/browser/src/index.ts') },
    ],
  },
  build: {
    // Two pages: the dashboard and the operator panel (operator.html).
    rollupOptions: { input: { main: here('./index.html'), operator: here('./operator.html') } },
    outDir: here('./dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    host: '127.0.0.1',
    port: 5174,
    strictPort: true,
    proxy: {
      '/rpc': { target: `ws://127.0.0.1:${process.env.DEMO_PORT ?? 5173}`, ws: true },
    },
  },
  preview: { host: '127.0.0.1' },
})
