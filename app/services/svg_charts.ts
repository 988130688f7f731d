/*
 * Server-side SVG charts for the admin UI: no script, readable by screen readers (<title>,
 * <desc>, a <title> per bar) and drawn with text labels. Pages show the numbers as a table too.
 */

export interface BarChartInput {
  /** Unique within the page; used for the title/desc ids. */
  id: string
  title: string
  /** One sentence summarising the data, for assistive technology. */
  description: string
  /** One label per bar (e.g. "Nov 3"). */
  labels: string[]
  values: number[]
  /** Long label per bar for its tooltip, e.g. "3 certificates issued on 2026-11-03". */
  barTitles?: string[]
  /** Show every n-th label under the axis (default: about 8 labels). */
  labelEvery?: number
  width?: number
  height?: number
  color?: string
}

export function escapeXml(text: string) {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

/** A round axis maximum at or above `max` (1, 2, 5 × 10^n). */
export function niceMax(max: number) {
  if (max <= 0) return 1
  const exp = 10 ** Math.floor(Math.log10(max))
  for (const m of [1, 2, 5, 10]) if (m * exp >= max) return m * exp
  return 10 * exp
}

export function barChart(input: BarChartInput): string {
  const width = input.width ?? 640
  const height = input.height ?? 220
  const left = 44
  const right = 10
  const top = 12
  const bottom = 34
  const plotW = width - left - right
  const plotH = height - top - bottom
  const n = Math.max(1, input.values.length)
  const max = niceMax(Math.max(0, ...input.values))
  const slot = plotW / n
  const barW = Math.max(1, slot * 0.72)
  const every = input.labelEvery ?? Math.max(1, Math.ceil(n / 8))
  const color = input.color ?? '#1f5fbf'
  const titleId = `${input.id}-title`
  const descId = `${input.id}-desc`
  const parts: string[] = []
  parts.push(
    `<svg class="chart" id="${escapeXml(input.id)}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${titleId} ${descId}" xmlns="http://www.w3.org/2000/svg">`,
    `<title id="${titleId}">${escapeXml(input.title)}</title>`,
    `<desc id="${descId}">${escapeXml(input.description)}</desc>`
  )
  // Horizontal grid lines with their values: 0, half, max.
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plotH - fraction * plotH
    const value = max * fraction
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#dde3ea" stroke-width="1"/>`
    )
    // Counts are whole numbers: no "0.5" on the axis.
    if (Number.isInteger(value))
      parts.push(
        `<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${value}</text>`
      )
  }
  input.values.forEach((value, i) => {
    const h = (value / max) * plotH
    const x = left + i * slot + (slot - barW) / 2
    const y = top + plotH - h
    const label = input.barTitles?.[i] ?? `${input.labels[i]}: ${value}`
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0, h).toFixed(1)}" fill="${color}" rx="1.5"><title>${escapeXml(label)}</title></rect>`
    )
    if (i % every === 0 || i === n - 1) {
      parts.push(
        `<text x="${(left + i * slot + slot / 2).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${escapeXml(input.labels[i] ?? '')}</text>`
      )
    }
  })
  if (input.values.every((v) => v === 0)) {
    parts.push(
      `<text x="${left + plotW / 2}" y="${top + plotH / 2}" text-anchor="middle">Nothing in this period</text>`
    )
  }
  parts.push('</svg>')
  return parts.join('')
}
