// Plain-text table: one row per implementation, each column "value ratio", ratio = impl ÷ floor.

const fmtNum = (v, digits) =>
  v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

export function fmtRatio(r) {
  if (r === undefined || !Number.isFinite(r)) return '–'
  const d = Math.abs(r) >= 100 ? 0 : Math.abs(r) >= 10 ? 1 : 2
  return `${r.toFixed(d)}x`
}

export function ratio(value, floor) {
  if (typeof value !== 'number' || typeof floor !== 'number' || !(floor > 0) || !Number.isFinite(value)) return undefined
  return value / floor
}

/**
 * @param {{ columns: {key, header, better, digits}[], rows: {label, skipped?, cells: Record<key, {value?, ratio?, text?}>}[] }} t
 */
export function renderTable({ columns, rows }) {
  const heads = columns.map((c) => `${c.header} ${c.better === 'lower' ? '↓' : '↑'}`)
  const cellParts = rows.map((r) => columns.map((c) => {
    const cell = r.cells?.[c.id ?? c.key]
    if (!cell) return { text: '' }
    if (cell.text) return { text: cell.text }
    return { v: fmtNum(cell.value, c.digits), r: fmtRatio(cell.ratio) }
  }))
  const wv = columns.map((_, i) => Math.max(0, ...cellParts.map((row) => row[i].v?.length ?? 0)))
  const wr = columns.map((_, i) => Math.max(0, ...cellParts.map((row) => row[i].r?.length ?? 0)))
  const width = columns.map((_, i) => Math.max(
    heads[i].length,
    wv[i] + 1 + wr[i],
    ...cellParts.map((row) => row[i].text?.length ?? 0),
  ))
  const labelW = Math.max(4, ...rows.map((r) => r.label.length))
  const gap = '   '
  const lines = []
  lines.push(['impl'.padEnd(labelW), ...heads.map((h, i) => h.padStart(width[i]))].join(gap))
  const totalW = lines[0].length
  lines.push('-'.repeat(totalW))
  rows.forEach((r, ri) => {
    if (r.skipped) {
      const msg = `skipped: ${r.skipped}`
      lines.push(`${r.label.padEnd(labelW)}${gap}${msg}`) // may run past the table's width: never cut the reason
      return
    }
    const cells = cellParts[ri].map((p, i) => {
      if (p.text !== undefined) return p.text.padStart(width[i])
      return `${p.v.padStart(wv[i])} ${p.r.padStart(wr[i])}`.padStart(width[i])
    })
    lines.push([r.label.padEnd(labelW), ...cells].join(gap))
  })
  return lines.join('\n')
}
