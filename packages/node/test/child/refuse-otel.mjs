// `node --import ./refuse-otel.mjs`: install the hook before anything loads.
import { register } from 'node:module'
register('./refuse-otel-hooks.mjs', import.meta.url)
