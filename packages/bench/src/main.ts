/**
 * `npm run bench` entry: parse flags, run the suite, write docs/benchmarks/. Progress goes to stderr, one line
 * per scenario and transport.
 *
 * @since 0.1.0
 */
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import * as Effect from "effect/Effect"
import { BenchError } from "./BenchError.js"
import * as Loopwire from "./Loopwire.js"
import * as Suite from "./Suite.js"
import { realisticLatency, zeroLatency } from "./Workload.js"

const HELP = `loopwire bench — agent-loop overhead side by side across transports

  --quick                 small matrix, finishes in under two minutes on two cores
  --sizes 5,20,50,200     tool calls per rollout
  --latency zero,realistic  model latency profiles (realistic only for sizes <= --realistic-max)
  --realistic-max 20
  --first-event-ms MS     realistic profile: time to first output event (default 150)
  --inter-event-ms MS     realistic profile: delay before each later delta (default 4)
  --transports a,b        among: ${[...Suite.transportsByName().keys()].join(", ")}
                          (default: ${Suite.defaultTransportNames.join(", ")})
  --iterations N          measured rollouts per transport and scenario
  --warmup N              discarded warm-up rollouts per transport and scenario
  --context-bytes N       instructions + tools size (default 32768)
  --output-bytes N        tool output size (default 4096)
  --rtt MS                WAN variant round-trip time (0 = no WAN variant; default 20)
  --wan-sizes 5,20        sizes of the WAN variant
  --no-tls                WAN variant without TLS
  --stream-events N       events in the streaming throughput test
  --loops 1,100,1000      concurrent agent loops
  --no-throughput         skip throughput
  --server M              child | in-process: where the gateway and the floor server of the rollout and
                          throughput tests run (child, the default: CPU per turn is the server's alone and
                          the client's is reported apart; in-process: client + server together)
  --connections N         connections of the memory-at-scale test (default 10000; quick 200)
  --scale-server M        child | in-process, for the scale test (default child; gateway and floor server)
  --no-scale              skip the memory-at-scale test
  --out DIR               output directory (default docs/benchmarks at the repository root)
  --no-write              write nothing
  --timeout-ms N          bound on each rollout / measurement
`

const list = (value: string | undefined): ReadonlyArray<number> | undefined =>
  value === undefined ? undefined : value.split(",").filter((s) => s.trim() !== "").map((s) => Number(s.trim()))

const int = (value: string | undefined, name: string, min = 0): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new BenchError({ reason: "Config", detail: `--${name} must be an integer >= ${min}` })
  return n
}

/**
 * Parse command-line flags into suite options (throws `BenchError` with reason `Config` on bad flags).
 *
 * @since 0.1.0
 * @category cli
 */
export const parse = (argv: ReadonlyArray<string>): Suite.SuiteOptions | "help" => {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      quick: { type: "boolean" },
      sizes: { type: "string" },
      latency: { type: "string" },
      "realistic-max": { type: "string" },
      "first-event-ms": { type: "string" },
      "inter-event-ms": { type: "string" },
      transports: { type: "string" },
      iterations: { type: "string" },
      warmup: { type: "string" },
      "context-bytes": { type: "string" },
      "output-bytes": { type: "string" },
      rtt: { type: "string" },
      "wan-sizes": { type: "string" },
      "no-tls": { type: "boolean" },
      "stream-events": { type: "string" },
      loops: { type: "string" },
      "no-throughput": { type: "boolean" },
      connections: { type: "string" },
      server: { type: "string" },
      "scale-server": { type: "string" },
      "no-scale": { type: "boolean" },
      out: { type: "string" },
      "no-write": { type: "boolean" },
      "timeout-ms": { type: "string" }
    }
  })
  if (values.help === true) return "help"
  const base = Suite.defaults(values.quick === true)
  const mode = values["scale-server"]
  if (mode !== undefined && mode !== "child" && mode !== "in-process") {
    throw new BenchError({ reason: "Config", detail: "--scale-server must be child or in-process" })
  }
  const serverMode = values.server
  if (serverMode !== undefined && serverMode !== "child" && serverMode !== "in-process") {
    throw new BenchError({ reason: "Config", detail: "--server must be child or in-process" })
  }
  const registry = Suite.transportsByName(
    Loopwire.gatewayTarget(serverMode ?? "child"),
    serverMode ?? "child"
  )
  const names = values.transports?.split(",").map((s) => s.trim()).filter((s) => s !== "")
  const transports = names === undefined ? Suite.defaultTransports(registry) : names.map((name) => {
    const t = registry.get(name)
    if (t === undefined) {
      throw new BenchError({
        reason: "Config",
        detail: `unknown transport '${name}' (available: ${[...registry.keys()].join(", ")})`
      })
    }
    return t
  })
  const latencyNames = values.latency ?? base.latencies.map((l) => l.name).join(",")
  const latencies = latencyNames.split(",").map((name) => {
    if (name === "zero") return zeroLatency
    if (name === "realistic") {
      return {
        name: "realistic",
        firstEventMs: int(values["first-event-ms"], "first-event-ms") ?? realisticLatency.firstEventMs,
        interEventMs: int(values["inter-event-ms"], "inter-event-ms") ?? realisticLatency.interEventMs
      }
    }
    throw new BenchError({ reason: "Config", detail: `unknown latency '${name}' (zero, realistic)` })
  })
  const sizes = list(values.sizes) ?? base.sizes
  if (sizes.some((n) => !Number.isInteger(n) || n < 0 || n > 10_000)) {
    throw new BenchError({ reason: "Config", detail: "--sizes must be integers within 0..10000" })
  }
  const rtt = int(values.rtt, "rtt")
  if (rtt !== undefined && rtt > 10_000) throw new BenchError({ reason: "Config", detail: "--rtt must be <= 10000" })
  const wan = rtt === 0 || base.wan === null ? null : {
    ...base.wan,
    rttMs: rtt ?? base.wan.rttMs,
    tls: values["no-tls"] === true ? false : base.wan.tls,
    sizes: list(values["wan-sizes"]) ?? base.wan.sizes
  }
  const repoDocs = fileURLToPath(new URL("../../../docs/benchmarks", import.meta.url))
  return {
    ...base,
    transports,
    sizes,
    latencies,
    realisticMaxToolCalls: int(values["realistic-max"], "realistic-max") ?? base.realisticMaxToolCalls,
    iterations: int(values.iterations, "iterations", 1) ?? base.iterations,
    warmup: int(values.warmup, "warmup") ?? base.warmup,
    baseContextBytes: int(values["context-bytes"], "context-bytes", 256) ?? base.baseContextBytes,
    toolOutputBytes: int(values["output-bytes"], "output-bytes", 1) ?? base.toolOutputBytes,
    timeoutMs: int(values["timeout-ms"], "timeout-ms", 1) ?? base.timeoutMs,
    wan,
    throughput: values["no-throughput"] === true || base.throughput === null ? null : {
      ...base.throughput,
      streamEvents: int(values["stream-events"], "stream-events", 1) ?? base.throughput.streamEvents,
      levels: list(values.loops) ?? base.throughput.levels
    },
    scale: values["no-scale"] === true || base.scale === null ? null : {
      ...base.scale,
      connections: int(values.connections, "connections", 1) ?? base.scale.connections,
      mode: mode ?? base.scale.mode
    },
    outDir: values["no-write"] === true ? null : values.out ?? repoDocs,
    pending: []
  }
}

/**
 * Run the command line (`loopwire bench` can call this): parse `argv`, print help or a flag error (exit code 2),
 * run the suite (exit code 1 when it fails, 0 otherwise). Progress goes to stderr.
 *
 * @since 0.1.0
 * @category cli
 */
export const runCli = async (argv: ReadonlyArray<string>): Promise<number> => {
  let options: Suite.SuiteOptions | "help"
  try {
    options = parse(argv)
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`)
    return 2
  }
  if (options === "help") {
    process.stdout.write(HELP)
    return 0
  }
  const started = Date.now()
  try {
    await Effect.runPromise(Suite.run(options))
    process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
    return 0
  } catch (error) {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]

if (isMain) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
