/** Fail fast, with a useful message, when a prerequisite is missing. */
import { existsSync } from 'node:fs'
import { CHROMIUM } from './playwright.config.js'
import { SERVER_JS, demoBuilt } from './support/demo-server.js'

export default function globalSetup(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: run e2e/ensure-chromium.sh (apt-get install -y chromium)`)
  }
  if (!demoBuilt()) {
    throw new Error(
      `The demo is not built (${SERVER_JS} missing). Run \`npm run build --workspace=@wirecall/demo\`, ` +
        'or `npm test` at the root, where turbo builds it first.',
    )
  }
}
