import { defineConfig } from '@playwright/test'

/** Debian's Chromium (see e2e/ensure-chromium.sh); Playwright's own browsers are never downloaded. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export default defineConfig({
  testDir: './tests',
  // One tsconfig for every file the specs import: its `paths` map @wirecall/* to the package
  // sources, so the conformance spec's Node server runs the same code as the page bundle and the
  // vitest runners (and needs no package build).
  tsconfig: './tsconfig.json',
  outputDir: './test-results',
  globalSetup: './global-setup.ts',
  // Every test starts its own demo server on a free port, so tests are independent; one worker keeps
  // CPU-sensitive timing (500 ms pushes, reconnect backoff) calm on small CI machines.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  globalTimeout: 8 * 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
    viewport: { width: 1360, height: 900 },
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
})
