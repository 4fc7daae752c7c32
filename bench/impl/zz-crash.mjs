export const id='zz-crash'; export const label='crash'
export async function startServer(){ setTimeout(()=>process.exit(3),300); const m = await import('./raw.mjs'); return m.startServer() }
export async function createClient(port){ const m = await import('./raw.mjs'); return m.createClient(port) }
