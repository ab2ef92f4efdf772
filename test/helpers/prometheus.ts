/**
 * `GET /metrics` read with a Prometheus text parser (`parse-prometheus-text-format`, prom2json's output shape).
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format"

/** One sample of a family: a value, or (histograms) buckets, count and sum. */
export interface Sample {
  readonly labels?: Readonly<Record<string, string>>
  readonly value?: string
  readonly buckets?: Readonly<Record<string, string>>
  readonly count?: string
  readonly sum?: string
}

/** One metric family as the parser gives it. */
export interface Family {
  readonly name: string
  readonly help: string
  readonly type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED"
  readonly metrics: ReadonlyArray<Sample>
}

/** The families of an exposition by name. */
export const parse = (text: string): ReadonlyMap<string, Family> =>
  new Map((parsePrometheusTextFormat(text) as ReadonlyArray<Family>).map((family) => [family.name, family]))

const matches = (sample: Sample, labels: Readonly<Record<string, string>>) =>
  Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value)

/** The sum of a counter or gauge family's samples whose labels include `labels` (0 when there is none). */
export const value = (
  families: ReadonlyMap<string, Family>,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number =>
  (families.get(name)?.metrics ?? []).filter((sample) => matches(sample, labels)).reduce(
    (total, sample) => total + Number(sample.value ?? 0),
    0
  )

/** The total observation count of a histogram family's samples whose labels include `labels`. */
export const count = (
  families: ReadonlyMap<string, Family>,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number =>
  (families.get(name)?.metrics ?? []).filter((sample) => matches(sample, labels)).reduce(
    (total, sample) => total + Number(sample.count ?? 0),
    0
  )
