/**
 * The upstream-hop benchmark alone (`UpstreamHop`): `npx tsx --conditions=@loopwire/source
 * packages/bench/src/upstreamMain.ts [--turns 20]
 * [--iterations 3] [--warmup 1] [--rtt 20] [--no-tls] [--costs 0,1000] [--out DIR | --no-write]`. Writes
 * upstream-hop.json, upstream-hop.md and three SVG plots into docs/benchmarks/ (default).
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import * as Effect from "effect/Effect"
import * as UpstreamHop from "./UpstreamHop.js"

const { values } = parseArgs({
  options: {
    turns: { type: "string" },
    iterations: { type: "string" },
    warmup: { type: "string" },
    rtt: { type: "string" },
    costs: { type: "string" },
    "no-tls": { type: "boolean" },
    out: { type: "string" },
    "no-write": { type: "boolean" }
  }
})
const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value))
const options: UpstreamHop.Options = {
  ...UpstreamHop.defaults,
  turns: number(values.turns, UpstreamHop.defaults.turns),
  iterations: number(values.iterations, UpstreamHop.defaults.iterations),
  warmup: number(values.warmup, UpstreamHop.defaults.warmup),
  rttMs: number(values.rtt, UpstreamHop.defaults.rttMs),
  tls: values["no-tls"] === true ? false : "auto",
  inputCosts: values.costs === undefined ? UpstreamHop.defaults.inputCosts : values.costs.split(",").map(Number),
  progress: (line) => console.error(line)
}
const outDir = values.out ?? fileURLToPath(new URL("../../../docs/benchmarks", import.meta.url))

Effect.runPromise(Effect.scoped(UpstreamHop.run(options))).then(
  async (results) => {
    const table = UpstreamHop.markdown(results)
    console.log(table)
    if (values["no-write"] === true) return
    await Fs.mkdir(outDir, { recursive: true })
    await Fs.writeFile(Path.join(outDir, "upstream-hop.json"), JSON.stringify(results, null, 2) + "\n")
    await Fs.writeFile(Path.join(outDir, "upstream-hop.md"), table + "\n")
    for (const [name, svg] of Object.entries(UpstreamHop.plots(results))) await Fs.writeFile(Path.join(outDir, name), svg)
    // The child processes and sockets are closed with the scope; the process may still hold timers.
    process.exit(0)
  },
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
