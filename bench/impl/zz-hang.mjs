export const id='zz-hang'; export const label='hang'
export async function startServer(){ const m = await import('./raw.mjs'); return m.startServer() }
export async function createClient(port){ const m = await import('./raw.mjs'); const c = await m.createClient(port); return { ...c, call: () => new Promise(()=>{}) } }
