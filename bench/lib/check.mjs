// `--check`: compare this run's ratios (impl ÷ floor, the figures that survive a noisy machine)
// with the ratios committed in bench/baseline.json, and name every figure more than
// CHECK_TOLERANCE worse. `--write-baseline` records this run's ratios as the new baseline.
// Not part of `npm test`: a bench run takes minutes and needs quiet CPUs.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'

/** A figure is a regression when its ratio is more than this fraction worse than the baseline's. */
export const CHECK_TOLERANCE = 0.1

/**
 * This run's ratios, as `{ "<scenario>.<column>": { "<impl>": ratio } }`, for every cell that
 * has one (the floor itself, errors and n/a are left out).
 * @param {{ id: string, results: Record<string, { ratio?: Record<string, number> }> }[]} impls
 * @param {{ scenario: string, key: string, better: 'higher' | 'lower' }[]} columns
 * @param {(impl, column) => number | undefined} ratioOf
 */
export function ratiosOf(impls, columns, ratioOf) {
  const out = {}
  for (const c of columns) {
    for (const impl of impls) {
      const r = ratioOf(impl, c)
      if (typeof r !== 'number' || !Number.isFinite(r)) continue
      ;(out[`${c.scenario}.${c.key}`] ??= {})[impl.id] = r
    }
  }
  return out
}

/**
 * Compare `current` with the baseline file. Returns lines to print and whether any figure fell
 * more than CHECK_TOLERANCE (in the column's own direction: ↑ lower ratio, ↓ higher ratio).
 * Figures absent from either side are listed as not compared, never as failures.
 */
export function checkAgainst(path, current, columns) {
  if (!existsSync(path)) return { lines: [`--check: no baseline at ${path} (record one with --write-baseline)`], failed: true }
  const baseline = JSON.parse(readFileSync(path, 'utf8')).ratios ?? {}
  const better = new Map(columns.map((c) => [`${c.scenario}.${c.key}`, c.better]))
  const worse = []
  const compared = []
  const missing = []
  for (const [figure, byImpl] of Object.entries(baseline)) {
    for (const [impl, base] of Object.entries(byImpl)) {
      const now = current[figure]?.[impl]
      const dir = better.get(figure)
      if (typeof now !== 'number' || !dir) { missing.push(`${impl} ${figure}`); continue }
      // Worse by more than the tolerance, in the column's direction.
      const fell = dir === 'higher' ? now < base * (1 - CHECK_TOLERANCE) : now > base * (1 + CHECK_TOLERANCE)
      const line = `${impl} ${figure}: ${now.toFixed(2)}x (baseline ${base.toFixed(2)}x, ${dir} is better)`
      ;(fell ? worse : compared).push(line)
    }
  }
  const lines = [`--check against ${path} (a figure fails when its ratio is more than ${CHECK_TOLERANCE * 100}% worse):`]
  for (const l of worse) lines.push(`  WORSE  ${l}`)
  for (const l of compared) lines.push(`  ok     ${l}`)
  if (missing.length) lines.push(`  not measured in this run: ${missing.join(', ')}`)
  lines.push(worse.length ? `--check: ${worse.length} figure(s) more than ${CHECK_TOLERANCE * 100}% worse` : '--check: no figure more than 10% worse')
  return { lines, failed: worse.length > 0 }
}

/** Write `current` as the baseline, keeping figures of the old one that this run did not measure. */
export function writeBaseline(path, current, meta) {
  const old = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')).ratios ?? {} : {}
  const ratios = { ...old }
  for (const [figure, byImpl] of Object.entries(current)) ratios[figure] = { ...(old[figure] ?? {}), ...byImpl }
  writeFileSync(path, JSON.stringify({ about: 'ratios impl ÷ floor per figure (scenario.column), checked by `npm run bench -- --check`', updated: meta, ratios }, null, 2) + '\n')
}
