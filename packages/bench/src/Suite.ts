/**
 * The whole benchmark suite: rollout scenarios on loopback (interleaved transports), the WAN variant, throughput
 * and memory at scale, then results JSON + SVG + Markdown. `main.ts` parses flags into `SuiteOptions`; the
 * integrator (or `loopwire bench`) can call `run` with its own transports.
 *
 * @since 0.1.0
 */
import * as Os from "node:os"
import * as Effect from "effect/Effect"
import type { BenchError } from "./BenchError.js"
import * as FloorServer from "./FloorServer.js"
import * as Harness from "./Harness.js"
import * as Loopwire from "./Loopwire.js"
import * as Network from "./Network.js"
import * as Report from "./Report.js"
import type { Results, ScaleResult, ScenarioResult } from "./Results.js"
import * as Scale from "./Scale.js"
import * as Throughput from "./Throughput.js"
import type * as TUT from "./TransportUnderTest.js"
import type { TransportUnderTest } from "./TransportUnderTest.js"
import * as Transports from "./Transports.js"
import { type LatencyProfile, makeScenario, realisticLatency, type Scenario, zeroLatency } from "./Workload.js"

/**
 * Everything a run does. Sizes are tool calls per rollout.
 *
 * @since 0.1.0
 * @category models
 */
export interface SuiteOptions {
  readonly quick: boolean
  readonly transports: ReadonlyArray<TransportUnderTest>
  readonly sizes: ReadonlyArray<number>
  /** Latency profiles: `zero` runs every size, `realistic` only sizes up to `realisticMaxToolCalls`. */
  readonly latencies: ReadonlyArray<LatencyProfile>
  readonly realisticMaxToolCalls: number
  readonly baseContextBytes: number
  readonly toolOutputBytes: number
  readonly iterations: number
  readonly warmup: number
  /** Per-rollout (and per-measurement) time bound. */
  readonly timeoutMs: number
  readonly wan: {
    readonly rttMs: number
    readonly tls: boolean | "auto"
    readonly sizes: ReadonlyArray<number>
    readonly iterations: number
    readonly warmup: number
  } | null
  readonly throughput: {
    readonly streamEvents: number
    readonly iterations: number
    readonly warmup: number
    readonly levels: ReadonlyArray<number>
    readonly loopToolCalls: number
  } | null
  readonly scale: {
    readonly connections: number
    readonly laneContextBytes: number
    readonly mode: FloorServer.Mode
    /** Servers to measure, in order (default: the gateway, then the floor server, both in `mode`). */
    readonly targets?: ReadonlyArray<Scale.ScaleTarget> | undefined
  } | null
  /** Directory for results.json, results.md and plots; `null` writes nothing. */
  readonly outDir: string | null
  /** Comparisons not in this run, and why (reported in the results). */
  readonly pending: ReadonlyArray<string>
  readonly progress: (line: string) => void
}

/**
 * The transports run by default, in their numbered order.
 *
 * @since 0.1.0
 * @category transports
 */
export const defaultTransportNames: ReadonlyArray<string> = [
  "http-full",
  "http-prev",
  "loopwire-ws",
  "openai-sdk-ws",
  "floor"
]

/**
 * Every transport by name: the five of the default run — `http-full`, `http-prev`, `loopwire-ws` and
 * `openai-sdk-ws` against one shared `target` per scenario (default: the Loopwire gateway in a child process), and
 * `floor` against its own floor server (default: in a child process too, so both servers are placed alike) — and
 * `loopwire-ws-stream`, run only when named with `--transports`: Loopwire's client following each turn as a
 * `Stream` (`Session.send`) instead of `loopwire-ws`'s callback (`Session.turnWith`), against the same target.
 *
 * @since 0.1.0
 * @category transports
 */
export const transportsByName = (
  target: Transports.ServerTarget = Loopwire.gatewayTarget("child"),
  floorMode: FloorServer.Mode = "child"
): ReadonlyMap<string, TransportUnderTest> => {
  const server = Transports.shared(target)
  const list = [
    Transports.httpFull(server),
    Transports.httpPrevious(server),
    Loopwire.loopwireWs(server),
    Transports.openAiSdkWs(server),
    Transports.floor({ mode: floorMode }),
    Loopwire.loopwireWs(server, "stream")
  ]
  return new Map(list.map((t) => [t.name, t]))
}

/**
 * The default run's transports (`defaultTransportNames`) out of a registry.
 *
 * @since 0.1.0
 * @category transports
 */
export const defaultTransports = (
  registry: ReadonlyMap<string, TransportUnderTest> = transportsByName()
): ReadonlyArray<TransportUnderTest> => defaultTransportNames.flatMap((name) => registry.get(name) ?? [])

/**
 * Default options: the full matrix, or the `--quick` one (under two minutes on two cores).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults = (quick: boolean, progress: (line: string) => void = (line) => process.stderr.write(line + "\n")): SuiteOptions =>
  quick
    ? {
      quick,
      transports: defaultTransports(),
      sizes: [5, 20],
      latencies: [zeroLatency],
      realisticMaxToolCalls: 5,
      baseContextBytes: 32 * 1024,
      toolOutputBytes: 4 * 1024,
      iterations: 6,
      warmup: 2,
      timeoutMs: 60_000,
      wan: { rttMs: 20, tls: "auto", sizes: [5], iterations: 3, warmup: 1 },
      throughput: { streamEvents: 5_000, iterations: 5, warmup: 1, levels: [1, 10, 50], loopToolCalls: 3 },
      scale: { connections: 200, laneContextBytes: 32 * 1024, mode: "child" },
      outDir: null,
      pending: [],
      progress
    }
    : {
      quick,
      transports: defaultTransports(),
      sizes: [5, 20, 50, 200],
      latencies: [zeroLatency, realisticLatency],
      realisticMaxToolCalls: 20,
      baseContextBytes: 32 * 1024,
      toolOutputBytes: 4 * 1024,
      iterations: 10,
      warmup: 2,
      timeoutMs: 300_000,
      wan: { rttMs: 20, tls: "auto", sizes: [5, 20], iterations: 5, warmup: 1 },
      throughput: { streamEvents: 50_000, iterations: 5, warmup: 1, levels: [1, 100, 1000], loopToolCalls: 5 },
      scale: { connections: 10_000, laneContextBytes: 32 * 1024, mode: "child" },
      outDir: null,
      pending: [],
      progress
    }

/**
 * The scenarios of a run (pure): every size with zero latency, sizes up to the cap with each other profile.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scenarios = (options: Pick<
  SuiteOptions,
  "sizes" | "latencies" | "realisticMaxToolCalls" | "baseContextBytes" | "toolOutputBytes"
>): ReadonlyArray<Scenario> =>
  options.latencies.flatMap((latency) =>
    options.sizes
      .filter((n) => latency.firstEventMs === 0 && latency.interEventMs === 0 ? true : n <= options.realisticMaxToolCalls)
      .map((toolCalls) =>
        makeScenario({
          toolCalls,
          latency,
          baseContextBytes: options.baseContextBytes,
          toolOutputBytes: options.toolOutputBytes
        })
      )
  )

/**
 * Run the suite and (when `outDir` is set) write its files.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (options: SuiteOptions): Effect.Effect<
  { readonly results: Results; readonly files: ReadonlyArray<string> },
  BenchError
> =>
  Effect.gen(function*() {
    const progress = options.progress
    const loadAverage = Os.loadavg()
    const results: Array<ScenarioResult> = []
    let streaming: Results["throughput"] = null

    progress(`loopwire bench${options.quick ? " --quick" : ""}: ${options.transports.map((t) => t.name).join(", ")}`)
    // Transports are set up afresh for every scenario (a scripted server may be configured per scenario) and torn
    // down after it; within a scenario every transport keeps its server for all rounds.
    const runOn = (network: TUT.Network, scenario: Scenario, rounds: { iterations: number; warmup: number }) =>
      Effect.scoped(Effect.gen(function*() {
        progress(`scenario ${scenario.id} (${network.name}): ${rounds.warmup} warm-up + ${rounds.iterations} interleaved rounds`)
        const prepared = yield* Harness.prepare(options.transports, { network, scenario }, progress)
        results.push(yield* Harness.runScenario(prepared, scenario, {
          ...rounds,
          network: network.name,
          timeoutMs: options.timeoutMs,
          progress
        }))
      }))

    for (const scenario of scenarios(options)) {
      yield* runOn(Network.loopback, scenario, options)
    }

    if (options.throughput !== null) {
      const t = options.throughput
      progress(`throughput: ${t.streamEvents} streamed events; loops ${t.levels.join("/")}`)
      const streamScenario = Throughput.streamingScenario(t.streamEvents)
      const stream = yield* Effect.scoped(Effect.gen(function*() {
        const prepared = yield* Harness.prepare(
          options.transports,
          { network: Network.loopback, scenario: streamScenario },
          progress
        )
        return yield* Throughput.streaming(prepared, {
          events: t.streamEvents,
          iterations: t.iterations,
          warmup: t.warmup,
          timeoutMs: options.timeoutMs,
          progress
        })
      }))
      const loopScenario = makeScenario({
        toolCalls: t.loopToolCalls,
        baseContextBytes: options.baseContextBytes,
        toolOutputBytes: options.toolOutputBytes
      })
      const loops = yield* Effect.scoped(Effect.gen(function*() {
        const prepared = yield* Harness.prepare(
          options.transports,
          { network: Network.loopback, scenario: loopScenario },
          progress
        )
        return yield* Throughput.concurrency(prepared, {
          levels: t.levels,
          scenario: loopScenario,
          timeoutMs: options.timeoutMs,
          progress
        })
      }))
      streaming = { streaming: stream, concurrency: loops }
    }

    if (options.wan !== null) {
      const w = options.wan
      const network = yield* Network.wan({ rttMs: w.rttMs, tls: w.tls, onDegrade: (reason) => progress(`wan: ${reason}`) })
      for (const scenario of scenarios({ ...options, sizes: w.sizes, latencies: [zeroLatency] })) {
        yield* runOn(network, scenario, w)
      }
    }

    let scale: Array<ScaleResult> | null = null
    if (options.scale !== null) {
      const s = options.scale
      scale = []
      for (const target of s.targets ?? [Loopwire.gatewayScaleTarget(s.mode), Scale.floorTarget(s.mode)]) {
        progress(`scale: ${s.connections} connections to ${target.name}, server ${target.mode}`)
        scale.push(yield* Scale.run(target, {
          connections: s.connections,
          laneContextBytes: s.laneContextBytes,
          timeoutMs: options.timeoutMs,
          progress
        }))
      }
    }

    const cpus = Os.cpus()
    const final: Results = {
      schema: "loopwire-bench/1",
      generatedAt: new Date().toISOString(),
      quick: options.quick,
      environment: {
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        cpuModel: cpus[0]?.model ?? "unknown",
        cores: cpus.length,
        loadAverage: loadAverage.map((x) => Math.round(x * 100) / 100)
      },
      method: {
        iterations: options.iterations,
        warmup: options.warmup,
        interleaving: "transports rotated per round (ABC, BCA, CAB, ...), warm-up rounds discarded",
        network: options.wan === null
          ? "loopback"
          : `loopback; WAN variant: ${options.wan.rttMs} ms RTT delay proxy${options.wan.tls === false ? "" : " + TLS"}`
      },
      pending: options.pending,
      scenarios: results,
      throughput: streaming,
      scale
    }
    const files = options.outDir === null ? [] : yield* Report.write(options.outDir, final)
    for (const file of files) progress(`wrote ${file}`)
    return { results: final, files }
  })
