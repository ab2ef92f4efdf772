/**
 * The measurement core: every transport is set up once, then each scenario runs `warmup + iterations` rounds;
 * in each round every transport runs one rollout, in an order rotated per round (ABC, BCA, CAB, ...), so slow
 * drifts of the machine (other processes, thermal, GC pressure) fall on every transport alike instead of on
 * whichever ran last. Warm-up rounds are run and discarded. End-to-end time and CPU are measured around each
 * rollout by the harness, per-turn figures by the shared rollout loop.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { BenchError } from "./BenchError.js"
import { collectGarbage } from "./internal/gc.js"
import { type CpuScope, type Sample, type ScenarioResult, summarizeTransport, withRatios } from "./Results.js"
import * as Rollout from "./Rollout.js"
import type { BenchContext, RolloutRunner, TransportUnderTest } from "./TransportUnderTest.js"
import type { Scenario } from "./Workload.js"

/**
 * A set-up transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface Prepared {
  readonly transport: TransportUnderTest
  readonly runner: RolloutRunner | undefined
  /** Why set-up failed (the transport is then reported with this error in every scenario). */
  readonly setupError: string | undefined
}

/**
 * The order of transports in round `round`: the list rotated by `round` places (pure).
 *
 * @since 0.1.0
 * @category scheduling
 */
export const roundOrder = <A>(items: ReadonlyArray<A>, round: number): ReadonlyArray<A> => {
  if (items.length === 0) return items
  const k = ((round % items.length) + items.length) % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

/**
 * Set up every transport in the scope. A transport whose set-up fails is kept, with its error, so the report
 * shows it instead of silently dropping it.
 *
 * @since 0.1.0
 * @category harness
 */
export const prepare = (
  transports: ReadonlyArray<TransportUnderTest>,
  ctx: BenchContext,
  progress: (line: string) => void
): Effect.Effect<ReadonlyArray<Prepared>, never, Scope.Scope> =>
  Effect.forEach(transports, (transport) =>
    transport.setup(ctx).pipe(
      Effect.map((runner): Prepared => ({ transport, runner, setupError: undefined })),
      Effect.catchAll((error) =>
        Effect.sync((): Prepared => {
          progress(`  ${transport.name}: set-up failed: ${error.message}`)
          return { transport, runner: undefined, setupError: error.message }
        })
      )
    ))

const processCpuUs = (): number => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

const cpuNowUs = (runner: RolloutRunner): Effect.Effect<number, BenchError> =>
  runner.serverCpu === undefined
    ? Effect.sync(processCpuUs)
    : Effect.map(runner.serverCpu, (usage) => usage.user + usage.system)

/**
 * One measured rollout: end-to-end time and CPU around `runRollout`, bounded by `timeoutMs`, after a full GC of
 * this process (unless `collectGarbage: false`).
 *
 * @since 0.1.0
 * @category harness
 */
export const measureRollout = (
  runner: RolloutRunner,
  scenario: Scenario,
  meta: {
    readonly transport: string
    readonly iteration: number
    readonly warmup: boolean
    readonly timeoutMs: number
    readonly collectGarbage?: boolean | undefined
  }
): Effect.Effect<Sample, BenchError> =>
  Effect.gen(function*() {
    // Start every rollout from a collected heap, outside the timed region, so one transport's garbage is not
    // collected on another's clock.
    if (meta.collectGarbage !== false) collectGarbage()
    const cpu0 = yield* cpuNowUs(runner)
    const own0 = processCpuUs()
    const start = yield* Rollout.nowMs
    const result = yield* runner.runRollout(scenario).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(meta.timeoutMs),
        onTimeout: () =>
          new BenchError({ reason: "Timeout", detail: `${meta.transport} rollout exceeded ${meta.timeoutMs} ms` })
      })
    )
    const end = yield* Rollout.nowMs
    const own1 = processCpuUs()
    const cpu1 = yield* cpuNowUs(runner)
    return {
      transport: meta.transport,
      iteration: meta.iteration,
      warmup: meta.warmup,
      e2eMs: end - start,
      connectMs: result.connectMs,
      turns: result.turns,
      cpuUs: cpu1 - cpu0,
      processCpuUs: own1 - own0
    }
  })

/**
 * Run one scenario across the prepared transports, interleaved, and summarise it. A transport whose rollout
 * fails is dropped from the remaining rounds of this scenario and reported with its error.
 *
 * @since 0.1.0
 * @category harness
 */
export const runScenario = (
  prepared: ReadonlyArray<Prepared>,
  scenario: Scenario,
  options: {
    readonly iterations: number
    readonly warmup: number
    readonly network: string
    readonly timeoutMs: number
    readonly progress: (line: string) => void
  }
): Effect.Effect<ScenarioResult> =>
  Effect.gen(function*() {
    const samples = new Map<string, Array<Sample>>()
    const errors = new Map<string, string>()
    for (const p of prepared) {
      samples.set(p.transport.name, [])
      if (p.setupError !== undefined) errors.set(p.transport.name, `set-up failed: ${p.setupError}`)
    }
    const rounds = options.warmup + options.iterations
    for (let round = 0; round < rounds; round++) {
      const warmup = round < options.warmup
      for (const p of roundOrder(prepared, round)) {
        if (p.runner === undefined || errors.has(p.transport.name)) continue
        const sample = yield* measureRollout(p.runner, scenario, {
          transport: p.transport.name,
          iteration: round,
          warmup,
          timeoutMs: options.timeoutMs
        }).pipe(Effect.either)
        if (sample._tag === "Left") {
          errors.set(p.transport.name, sample.left.message)
          options.progress(`  ${scenario.id} ${p.transport.name}: failed: ${sample.left.message}`)
        } else {
          samples.get(p.transport.name)!.push(sample.right)
        }
      }
    }
    const transports = withRatios(prepared.map((p) =>
      summarizeTransport(
        scenario,
        {
          transport: p.transport.name,
          description: p.transport.description,
          server: p.runner?.server ?? "n/a",
          cpuScope: (p.runner?.serverCpu === undefined ? "process" : "server") satisfies CpuScope
        },
        samples.get(p.transport.name)!,
        errors.get(p.transport.name)
      )
    ))
    for (const t of transports) {
      options.progress(
        t.error !== undefined
          ? `${scenario.id} [${options.network}] ${t.transport.padEnd(14)} ERROR ${t.error}`
          : `${scenario.id} [${options.network}] ${t.transport.padEnd(14)} e2e ${fmt(t.e2eMs)} ms  turn p50 ${
            fmt(t.perTurnMedianMs)
          } p99 ${fmt(t.perTurnP99Ms)} ms  sent/turn ${fmt(t.bytesSentPerTurn, 0)} B  cpu/turn ${
            fmt(t.cpuPerTurnUs, 0)
          } µs${t.cpuScope === "server" ? ` (client ${fmt(t.processCpuPerTurnUs, 0)} µs)` : ""}  slope ${fmt(t.slopeMsPerTurn, 4)} ms/turn  vs floor ${fmt(t.ratios.e2eVsFloor)}×  vs http-full ${
            fmt(t.ratios.e2eVsHttpFull)
          }×`
      )
    }
    return {
      id: scenario.id,
      toolCalls: scenario.toolCalls,
      baseContextBytes: scenario.baseContextBytes,
      toolOutputBytes: scenario.toolOutputBytes,
      latency: scenario.latency,
      network: options.network,
      transports
    }
  })

const fmt = (value: number | null, digits = 2): string => (value === null ? "n/a" : value.toFixed(digits))
