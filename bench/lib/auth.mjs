// The handshakes scenario's authentication, the same check for every implementation that takes
// part: the handshake must carry `authorization: Bearer <TOKEN>`; the identity is a small object.
// Servers turn it on only in that scenario (BENCH_SCENARIO=handshakes), so that other scenarios
// keep measuring what they measured.

export const TOKEN = 'bench-7f3c9a'
export const AUTH_HEADER = `Bearer ${TOKEN}`

export const authOn = () => process.env.BENCH_SCENARIO === 'handshakes'

/** The identity for a request with the right header, undefined otherwise. */
export function identityOf(req) {
  return req.headers.authorization === AUTH_HEADER ? { user: 'bench' } : undefined
}
