// Callbacks for one call (README, "Callbacks for one call"). Run: npm install && npm run build && node examples/progress.mjs
import { callScoped, service } from '@wirecall/core'
import { serve, connect } from '@wirecall/node'

const jobs = service({
  // The progress callback is needed only while the job runs: callScoped gives it back when the call settles.
  run: callScoped(async (job, onProgress) => {
    for (const pct of [0, 50, 100]) await onProgress(pct)
    return `${job} done`
  }),
})
const server = await serve({ host: '127.0.0.1', port: 0, service: jobs })
const client = await connect(`ws://127.0.0.1:${server.port}`)

console.log(await client.remote.run('report', (pct) => console.log(`report ${pct}%`)))

// A fresh callback per call, 256 calls at a time: without callScoped, only the server's garbage
// collector would give these references back, and past maxExportedRefs (16384) calls are refused.
let next = 0
let refused = 0
async function worker() {
  while (next < 50_000) {
    next++
    await client.remote.run('batch', () => {}).catch(() => refused++)
  }
}
await Promise.all(Array.from({ length: 256 }, worker))
console.log(`50000 calls, ${refused} refused`)

await client.close()
await server.close()
