/**
 * Pure statistics for benchmark samples: percentiles, least-squares slope, ratios.
 *
 * @since 0.1.0
 */

/**
 * The `p`-th percentile (0..100) of the samples by the nearest-rank method: the smallest sample such that at
 * least `p`% of the samples are less than or equal to it. Nearest rank never invents a value that was not
 * measured, which matters for p99 over few samples (it is then simply the maximum). `NaN` for no samples.
 *
 * @since 0.1.0
 * @category statistics
 */
export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const clamped = Math.min(100, Math.max(0, p))
  const rank = Math.max(1, Math.ceil((clamped / 100) * sorted.length))
  return sorted[rank - 1]!
}

/**
 * The median: the mean of the two middle samples for an even count. `NaN` for no samples.
 *
 * @since 0.1.0
 * @category statistics
 */
export const median = (samples: ReadonlyArray<number>): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The arithmetic mean. `NaN` for no samples.
 *
 * @since 0.1.0
 * @category statistics
 */
export const mean = (samples: ReadonlyArray<number>): number =>
  samples.length === 0 ? Number.NaN : samples.reduce((sum, x) => sum + x, 0) / samples.length

/**
 * Least-squares slope of `ys` against `xs` (how much y grows per unit of x). 0 when x does not vary, `NaN` when
 * there are fewer than two points or the lengths differ.
 *
 * @since 0.1.0
 * @category statistics
 */
export const slope = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>): number => {
  if (xs.length !== ys.length || xs.length < 2) return Number.NaN
  const mx = mean(xs)
  const my = mean(ys)
  let num = 0
  let den = 0
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

/**
 * `value / reference`, or `null` when either is missing or the reference is not positive (a ratio against
 * nothing is reported as absent, never as 0 or Infinity).
 *
 * @since 0.1.0
 * @category statistics
 */
export const ratio = (value: number | undefined, reference: number | undefined): number | null =>
  value === undefined || reference === undefined || !Number.isFinite(value) || !Number.isFinite(reference) ||
    reference <= 0
    ? null
    : value / reference

/**
 * A distribution summary.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly count: number
  readonly min: number
  readonly median: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/**
 * Summarise samples (all fields `NaN` when empty, count 0).
 *
 * @since 0.1.0
 * @category statistics
 */
export const summarize = (samples: ReadonlyArray<number>): Summary => ({
  count: samples.length,
  min: samples.reduce((m, x) => Math.min(m, x), samples.length === 0 ? Number.NaN : Infinity),
  median: median(samples),
  p90: percentile(samples, 90),
  p99: percentile(samples, 99),
  max: samples.reduce((m, x) => Math.max(m, x), samples.length === 0 ? Number.NaN : -Infinity),
  mean: mean(samples)
})

/**
 * Round to a fixed number of decimals for reporting (keeps `NaN`/`null` out of JSON by mapping them to `null`).
 *
 * @since 0.1.0
 * @category statistics
 */
export const round = (value: number | null, decimals = 3): number | null => {
  if (value === null || !Number.isFinite(value)) return null
  const f = 10 ** decimals
  return Math.round(value * f) / f
}
