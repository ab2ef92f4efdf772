/**
 * Hand-rolled SVG charts (no plotting dependency): a line chart for per-turn cost against the turn index, and a
 * grouped bar chart for ratios. Pure string builders.
 *
 * @since 0.1.0
 */

/**
 * One line of a line chart; `null` y values leave a gap.
 *
 * @since 0.1.0
 * @category models
 */
export interface Series {
  readonly name: string
  readonly points: ReadonlyArray<readonly [number, number | null]>
}

/**
 * One group of bars (e.g. a scenario), one bar per series name; `null` values are drawn as "n/a".
 *
 * @since 0.1.0
 * @category models
 */
export interface BarGroup {
  readonly label: string
  readonly bars: ReadonlyArray<{ readonly name: string; readonly value: number | null }>
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

/**
 * A stable colour per name (the same transport has the same colour in every chart).
 *
 * @since 0.1.0
 * @category rendering
 */
export const colorOf = (name: string, names: ReadonlyArray<string>): string => {
  const index = names.indexOf(name)
  return PALETTE[(index < 0 ? 0 : index) % PALETTE.length]!
}

/**
 * Escape text for SVG.
 *
 * @since 0.1.0
 * @category rendering
 */
export const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/**
 * "Nice" axis ticks covering [0, max] (1, 2, 5 × 10^k steps).
 *
 * @since 0.1.0
 * @category rendering
 */
export const ticks = (max: number, count = 5): ReadonlyArray<number> => {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1]
  const raw = max / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude
  const out: Array<number> = []
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  if (out[out.length - 1]! < max) out.push(Number((out[out.length - 1]! + step).toPrecision(12)))
  return out
}

const label = (v: number): string =>
  Math.abs(v) >= 1000 ? `${Number((v / 1000).toPrecision(3))}k` : String(Number(v.toPrecision(3)))

const W = 820
const H = 440
const M = { top: 48, right: 190, bottom: 56, left: 70 }

const frame = (title: string, body: string): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">\n` +
  `<rect width="${W}" height="${H}" fill="white"/>\n` +
  `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>\n` +
  body +
  `</svg>\n`

const legend = (names: ReadonlyArray<string>, all: ReadonlyArray<string>): string =>
  names.map((name, i) => {
    const y = M.top + 10 + i * 20
    return `<rect x="${W - M.right + 16}" y="${y - 9}" width="14" height="10" fill="${colorOf(name, all)}"/>` +
      `<text x="${W - M.right + 36}" y="${y}">${escape(name)}</text>\n`
  }).join("")

/**
 * A line chart (y axis from 0).
 *
 * @since 0.1.0
 * @category rendering
 */
export const lineChart = (options: {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: ReadonlyArray<Series>
  readonly names?: ReadonlyArray<string> | undefined
}): string => {
  const names = options.names ?? options.series.map((s) => s.name)
  const xs = options.series.flatMap((s) => s.points.map(([x]) => x))
  const ys = options.series.flatMap((s) => s.points.flatMap(([, y]) => (y === null ? [] : [y])))
  const xMax = Math.max(1, ...xs)
  const yTicks = ticks(Math.max(0, ...ys))
  const yMax = yTicks[yTicks.length - 1]!
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const px = (x: number) => M.left + (x / xMax) * pw
  const py = (y: number) => M.top + ph - (y / yMax) * ph
  let body = ""
  for (const t of yTicks) {
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#e5e5e5"/>` +
      `<text x="${M.left - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${label(t)}</text>\n`
  }
  for (const t of ticks(xMax)) {
    if (t > xMax) continue
    body += `<text x="${px(t).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle">${label(t)}</text>\n`
  }
  body += `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" stroke="#333"/>` +
    `<line x1="${M.left}" x2="${M.left + pw}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#333"/>\n`
  body += `<text x="${M.left + pw / 2}" y="${H - 16}" text-anchor="middle">${escape(options.xLabel)}</text>\n`
  body += `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${
    escape(options.yLabel)
  }</text>\n`
  for (const s of options.series) {
    const color = colorOf(s.name, names)
    let d = ""
    let pen = false
    for (const [x, y] of s.points) {
      if (y === null) {
        pen = false
        continue
      }
      d += `${pen ? "L" : "M"}${px(x).toFixed(1)} ${py(y).toFixed(1)} `
      pen = true
    }
    if (d !== "") body += `<path d="${d.trim()}" fill="none" stroke="${color}" stroke-width="1.8"/>\n`
    if (s.points.length <= 60) {
      for (const [x, y] of s.points) {
        if (y !== null) body += `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${color}"/>\n`
      }
    }
  }
  body += legend(options.series.map((s) => s.name), names)
  return frame(options.title, body)
}

/**
 * A grouped bar chart (y axis from 0), with an optional dashed reference line (e.g. ratio 1).
 *
 * @since 0.1.0
 * @category rendering
 */
export const barChart = (options: {
  readonly title: string
  readonly yLabel: string
  readonly groups: ReadonlyArray<BarGroup>
  readonly reference?: number | undefined
  readonly names?: ReadonlyArray<string> | undefined
}): string => {
  const seriesNames = [...new Set(options.groups.flatMap((g) => g.bars.map((b) => b.name)))]
  const names = options.names ?? seriesNames
  const values = options.groups.flatMap((g) => g.bars.flatMap((b) => (b.value === null ? [] : [b.value])))
  const yTicks = ticks(Math.max(options.reference ?? 0, ...values))
  const yMax = yTicks[yTicks.length - 1]!
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const py = (y: number) => M.top + ph - (y / yMax) * ph
  const groupWidth = pw / Math.max(1, options.groups.length)
  const barWidth = Math.max(2, (groupWidth * 0.8) / Math.max(1, seriesNames.length))
  let body = ""
  for (const t of yTicks) {
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#e5e5e5"/>` +
      `<text x="${M.left - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${label(t)}</text>\n`
  }
  options.groups.forEach((group, gi) => {
    const gx = M.left + gi * groupWidth + groupWidth * 0.1
    group.bars.forEach((bar) => {
      const bi = seriesNames.indexOf(bar.name)
      const x = gx + bi * barWidth
      if (bar.value === null) {
        body += `<text x="${(x + barWidth / 2).toFixed(1)}" y="${M.top + ph - 4}" text-anchor="middle" font-size="9" fill="#999">n/a</text>\n`
        return
      }
      const y = py(bar.value)
      body += `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth - 1).toFixed(1)}" height="${
        (M.top + ph - y).toFixed(1)
      }" fill="${colorOf(bar.name, names)}"><title>${escape(`${group.label} ${bar.name}: ${bar.value}`)}</title></rect>\n`
    })
    // Labels may be long ("20 calls realistic wan-20ms-tls"): first word pair on one line, the rest below.
    const words = group.label.split(" ")
    const cx = (gx + groupWidth * 0.4).toFixed(1)
    body += `<text x="${cx}" y="${M.top + ph + 15}" text-anchor="middle" font-size="10">` +
      `<tspan x="${cx}">${escape(words.slice(0, 2).join(" "))}</tspan>` +
      (words.length > 2 ? `<tspan x="${cx}" dy="12" font-size="8">${escape(words.slice(2).join(" "))}</tspan>` : "") +
      `</text>\n`
  })
  if (options.reference !== undefined) {
    const y = py(options.reference).toFixed(1)
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#333" stroke-dasharray="5 4"/>\n`
  }
  body += `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" stroke="#333"/>` +
    `<line x1="${M.left}" x2="${M.left + pw}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#333"/>\n`
  body += `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${
    escape(options.yLabel)
  }</text>\n`
  body += legend(seriesNames, names)
  return frame(options.title, body)
}
