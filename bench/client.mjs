// Benchmark client process: forked by run.mjs as `client.mjs <impl> <scenario>`.
// Runs the client half of a scenario (scenario.client.<fn>) on request over IPC.
import { loadImpl } from './impl/index.mjs'
import { loadScenario } from './scenarios/index.mjs'
import { serveIpc } from './lib/ipc-child.mjs'

const [implId, scenarioId] = process.argv.slice(2)
const impl = await loadImpl(implId)
const scenario = await loadScenario(scenarioId)
let state

serveIpc(async (fn, args) => {
  if (fn === 'ping') return 'pong'
  const f = scenario.client?.[fn]
  if (typeof f !== 'function') throw new Error(`scenario ${scenarioId} has no client function ${fn}`)
  if (fn === 'setup') {
    state = await f(impl, args)
    return null
  }
  return f(state, args)
})
