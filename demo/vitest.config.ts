import { defineConfig } from 'vitest/config'

// Unit tests of the page's pure helpers (chart math); the browser flows live in e2e/.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
})
