/**
 * The gateway's counters as text, for `GET /metrics` (the Prometheus text exposition format). It lists every
 * counter and gauge of the process's Effect metric registry, e.g. `loopwire_model_generations` (model calls),
 * `loopwire_state_cache_hits` / `_misses` (the connection-local fast path) and `loopwire_response_store_reads`
 * (the shared store, read only on a cache miss). Several gateway processes each report their own counters.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"

/**
 * One counter or gauge reading.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sample {
  readonly name: string
  readonly tags: ReadonlyArray<readonly [string, string]>
  readonly kind: "counter" | "gauge"
  readonly value: number
}

/**
 * The counters and gauges among metric pairs (histograms, summaries and frequencies are left out).
 *
 * @since 0.1.0
 * @category decoding
 */
export const samples = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): ReadonlyArray<Sample> => {
  const out: Array<Sample> = []
  for (const pair of pairs) {
    const state = pair.metricState
    const kind = MetricState.isCounterState(state) ? "counter" : MetricState.isGaugeState(state) ? "gauge" : undefined
    if (kind === undefined) continue
    const value = Number(MetricState.isCounterState(state) ? state.count : (state as MetricState.MetricState.Gauge<number>).value)
    out.push({
      name: pair.metricKey.name,
      tags: pair.metricKey.tags.map((label) => [label.key, label.value] as const),
      kind,
      value
    })
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

const metricName = (name: string) => name.replace(/[^A-Za-z0-9_:]/g, "_")
const labelValue = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

/**
 * The Prometheus text format of `samples`: a `# TYPE` line per metric name, then `name{tag="value"} value`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const format = (list: ReadonlyArray<Sample>): string => {
  const lines: Array<string> = []
  let previous: string | undefined
  for (const sample of list) {
    const name = metricName(sample.name)
    if (name !== previous) lines.push(`# TYPE ${name} ${sample.kind}`)
    previous = name
    const labels = sample.tags.map(([k, v]) => `${metricName(k)}="${labelValue(v)}"`).join(",")
    lines.push(`${name}${labels === "" ? "" : `{${labels}}`} ${sample.value}`)
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

/**
 * The process's counters and gauges now, as text.
 *
 * @since 0.1.0
 * @category accessors
 */
export const text: Effect.Effect<string> = Effect.map(Metric.snapshot, (pairs) => format(samples(pairs)))

/**
 * Parses the text of {@link format} back into `name{labels}` → value (for tests and tools reading `/metrics`).
 *
 * @since 0.1.0
 * @category decoding
 */
export const parse = (body: string): ReadonlyMap<string, number> => {
  const values = new Map<string, number>()
  for (const line of body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const space = line.lastIndexOf(" ")
    if (space <= 0) continue
    const value = Number(line.slice(space + 1))
    if (Number.isFinite(value)) values.set(line.slice(0, space), value)
  }
  return values
}
