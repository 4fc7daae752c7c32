export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return undefined
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/** Percentile (0..1) of a numeric array-like, nearest-rank on a sorted copy. */
export function percentile(values, p) {
  if (values.length === 0) return undefined
  const v = Float64Array.from(values).sort()
  const i = Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))
  return v[i]
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
