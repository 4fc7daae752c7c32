/**
 * vitest for the e2e workspace: the Node-side conformance runners
 * (conformance/*.test.ts). Playwright specs in tests/ are not vitest's.
 * @wirecall/* resolve to their sources, like every package's tests.
 */
import { defineConfig } from 'vitest/config'
import { fileURLToPath } from 'node:url'
import { lowerDecorators, sourceAliases } from '../../vitest.shared.js'

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  plugins: [lowerDecorators()],
  resolve: { alias: sourceAliases },
  test: {
    include: ['conformance/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
})
