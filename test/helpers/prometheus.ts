/**
 * `GET /metrics` read two ways. `parse` is the Prometheus project's own text-format parser, `prometheus_client.parser`
 * of the official Python client (Debian `python3-prometheus-client`, installed by .ci/run), run on the system Python:
 * the test of the exposition itself uses it (test/gateway-operations.test.ts, in the suite {@link suiteName}, skipped
 * with one reported line where the parser is missing, never under CI). `read` only reads sample values, so that tests
 * which count something through `/metrics` run on any machine with Node alone.
 */
import { spawnSync } from "node:child_process"

/** The suite around the tests that need the official parser (test/helpers/skipReporter.ts reports it). */
export const suiteName = "needs python3-prometheus-client"

const inCi = (): boolean => {
  const ci = process.env["CI"]
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false"
}

/** Whether the official parser is on this machine. */
export const available = (): boolean =>
  spawnSync("/usr/bin/python3", ["-c", "import prometheus_client.parser"], { stdio: "ignore", timeout: 30_000 })
    .status === 0

/** True when the tests that need the official parser cannot run here (never under CI, where they fail instead). */
export const skip = (): boolean => !inCi() && !available()

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

const unescape = (value: string) => value.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c))
const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g
const types = new Set<string>(["counter", "gauge", "histogram", "summary", "untyped"])

/**
 * The families of an exposition by name, read without the official parser (text format 0.0.4: `# HELP`, `# TYPE`,
 * then the family's samples). Named as `parse` names them: a counter family without its `_total`. For reading values
 * only; whether the text is valid is `parse`'s to say.
 */
export const read = (text: string): ReadonlyMap<string, Family> => {
  const families = new Map<string, { name: string; type: Family["type"]; help: string; samples: Array<Sample> }>()
  const helps = new Map<string, string>()
  let current: { name: string; type: Family["type"]; help: string; samples: Array<Sample> } | undefined
  for (const line of text.split("\n")) {
    if (line.startsWith("# HELP ")) {
      const [, name = "", help = ""] = /^# HELP (\S+) ?(.*)$/.exec(line) ?? []
      helps.set(name, help)
    } else if (line.startsWith("# TYPE ")) {
      const [, declared = "", type = "untyped"] = /^# TYPE (\S+) (\S+)$/.exec(line) ?? []
      const name = type === "counter" ? declared.replace(/_total$/, "") : declared
      current = {
        name,
        type: (types.has(type) ? (type === "untyped" ? "unknown" : type) : "unknown") as Family["type"],
        help: helps.get(declared) ?? "",
        samples: []
      }
      families.set(name, current)
    } else if (line !== "" && !line.startsWith("#")) {
      const match = sampleLine.exec(line)
      if (match === null) throw new Error(`not a sample line: ${line}`)
      const [, name = "", labelText = "", value = ""] = match
      const labels: Record<string, string> = {}
      for (const [, key = "", raw = ""] of labelText.matchAll(labelPair)) labels[key] = unescape(raw)
      const sample = { name, labels, value: Number(value) }
      if (current !== undefined && name.startsWith(current.name)) current.samples.push(sample)
      else families.set(name, { name, type: "unknown", help: helps.get(name) ?? "", samples: [sample] })
    }
  }
  return families
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
