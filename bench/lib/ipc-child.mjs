// Child side of the IPC protocol used by server.mjs and client.mjs: { id, fn, args } -> { id, ok, result | error }.
export function serveIpc(dispatch) {
  process.on('message', async (m) => {
    if (!m || typeof m.id !== 'number') return
    try {
      const result = await dispatch(m.fn, m.args ?? {})
      process.send({ id: m.id, ok: true, result: result ?? null })
    } catch (err) {
      process.send({ id: m.id, ok: false, error: String(err?.stack ?? err) })
    }
  })
  // Parent gone (normal stop, crash or SIGKILL of the parent): never linger.
  process.on('disconnect', () => process.exit(0))
  if (!process.connected) process.exit(0)
}
