/**
 * `GET /metrics` read with the Prometheus project's own text-format parser: `prometheus_client.parser` of the official
 * Python client (Debian `python3-prometheus-client`, installed by .ci/run), run on the system Python.
 */
import { spawnSync } from "node:child_process"

/** One sample of a family: its full name (e.g. `x_bucket`, `x_total`), labels and value. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** One metric family as the parser gives it (counter families are named without `_total`). */
export interface Family {
  readonly name: string
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "unknown" | "info" | "stateset" | "gaugehistogram"
  readonly help: string
  readonly samples: ReadonlyArray<Sample>
}

const program = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": family.name, "type": family.type, "help": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)}
                    for s in family.samples]})
print(json.dumps(families))
`

/** The families of an exposition by name; throws what the parser says when the text is not valid. */
export const parse = (text: string): ReadonlyMap<string, Family> => {
  const run = spawnSync("/usr/bin/python3", ["-c", program], { input: text, encoding: "utf8", timeout: 30_000 })
  if (run.status !== 0) throw new Error(`the Prometheus parser rejected the exposition: ${run.stderr || run.error}`)
  const families = JSON.parse(run.stdout) as ReadonlyArray<Family>
  return new Map(families.map((family) => [family.name, family]))
}

const matches = (sample: Sample, labels: Readonly<Record<string, string>>) =>
  Object.entries(labels).every(([key, value]) => sample.labels[key] === value)

/** The sum of the samples named `sample` (in the family `family`) whose labels include `labels`; 0 when none. */
export const value = (
  families: ReadonlyMap<string, Family>,
  family: string,
  sample: string,
  labels: Readonly<Record<string, string>> = {}
): number =>
  (families.get(family)?.samples ?? []).filter((s) => s.name === sample && matches(s, labels)).reduce(
    (total, s) => total + Number(s.value),
    0
  )

/** A counter's value (its `<name>_total` samples). */
export const counter = (families: ReadonlyMap<string, Family>, name: string, labels: Readonly<Record<string, string>> = {}) =>
  value(families, name, `${name}_total`, labels)

/** A gauge's value. */
export const gauge = (families: ReadonlyMap<string, Family>, name: string, labels: Readonly<Record<string, string>> = {}) =>
  value(families, name, name, labels)

/** A histogram's observation count (its `<name>_count` samples). */
export const count = (families: ReadonlyMap<string, Family>, name: string, labels: Readonly<Record<string, string>> = {}) =>
  value(families, name, `${name}_count`, labels)
