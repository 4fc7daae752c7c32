import { defineConfig } from 'vitest/config'
import { lowerDecorators, sourceAliases } from '../../vitest.shared.js'

export default defineConfig({
  plugins: [lowerDecorators()],
  resolve: { alias: sourceAliases },
  test: { include: ['test/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 20_000 },
})
