/**
 * Throughput: events per second streamed server → client (one response with many text deltas), and turns per
 * second with many agent loops running at once (each loop a rollout on its own connection). Both run over any
 * prepared `TransportUnderTest`, so the gateway plugs in the same way as for the rollout scenarios.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { BenchError } from "./BenchError.js"
import { type Prepared, roundOrder } from "./Harness.js"
import { collectGarbage } from "./internal/gc.js"
import { fdLimit, fitConnections } from "./Scale.js"
import type { ConcurrencyResult, StreamResult } from "./Results.js"
import * as Rollout from "./Rollout.js"
import { median, percentile, round } from "./Stats.js"
import { makeScenario, type Scenario } from "./Workload.js"

const withTimeout = <A>(self: Effect.Effect<A, BenchError>, ms: number, what: string) =>
  Effect.timeoutFail(self, {
    duration: Duration.millis(ms),
    onTimeout: () => new BenchError({ reason: "Timeout", detail: `${what} exceeded ${ms} ms` })
  })

/**
 * The streaming scenario: one turn, no tool call, `events` text deltas, a small base context.
 *
 * @since 0.1.0
 * @category scenarios
 */
export const streamingScenario = (events: number): Scenario =>
  makeScenario({ toolCalls: 0, textDeltas: events, baseContextBytes: 1024, toolOutputBytes: 1024 })

/**
 * Events per second, per transport: `warmup + iterations` interleaved rounds of one streaming response; the rate
 * is the median over measured rounds of (events received / turn time).
 *
 * @since 0.1.0
 * @category throughput
 */
export const streaming = (
  prepared: ReadonlyArray<Prepared>,
  options: {
    readonly events: number
    readonly iterations: number
    readonly warmup: number
    readonly timeoutMs: number
    readonly progress: (line: string) => void
  }
): Effect.Effect<ReadonlyArray<StreamResult>> =>
  Effect.gen(function*() {
    const scenario = streamingScenario(options.events)
    const rates = new Map<string, Array<{ eps: number; mbps: number; events: number }>>()
    const errors = new Map<string, string>()
    for (const p of prepared) rates.set(p.transport.name, [])
    for (let round = 0; round < options.warmup + options.iterations; round++) {
      for (const p of roundOrder(prepared, round)) {
        if (p.runner === undefined || errors.has(p.transport.name)) continue
        collectGarbage()
        const result = yield* Effect.either(
          withTimeout(p.runner.runRollout(scenario), options.timeoutMs, `${p.transport.name} streaming`)
        )
        if (result._tag === "Left") {
          errors.set(p.transport.name, result.left.message)
          continue
        }
        if (round < options.warmup) continue
        const turn = result.right.turns[0]!
        if (turn.events === 0) {
          // A rate of 0 would read as a measurement; a transport that does not count events has none.
          errors.set(p.transport.name, "the transport does not report event counts")
          continue
        }
        rates.get(p.transport.name)!.push({
          eps: turn.events / (turn.ms / 1000),
          mbps: turn.bytesReceived === 0 ? Number.NaN : turn.bytesReceived / 1e6 / (turn.ms / 1000),
          events: turn.events
        })
      }
    }
    return prepared.map((p): StreamResult => {
      const samples = rates.get(p.transport.name)!
      const error = p.setupError ?? errors.get(p.transport.name)
      const result: StreamResult = {
        transport: p.transport.name,
        server: p.runner?.server ?? "n/a",
        events: samples[0]?.events ?? 0,
        iterations: samples.length,
        eventsPerSecond: round(median(samples.map((s) => s.eps)), 0),
        mbPerSecond: round(median(samples.map((s) => s.mbps).filter(Number.isFinite)), 2),
        ...(error === undefined ? {} : { error })
      }
      options.progress(
        error !== undefined
          ? `stream ${p.transport.name.padEnd(14)} ERROR ${error}`
          : `stream ${p.transport.name.padEnd(14)} ${result.eventsPerSecond} events/s  ${
            result.mbPerSecond ?? "n/a"
          } MB/s (${result.events} events)`
      )
      return result
    })
  })

/**
 * Turns per second with `concurrency` loops at once, per transport and level (one warm-up rollout per transport
 * first). Each loop runs one rollout of `scenario` on its own connection; the rate is total turns / wall time.
 *
 * @since 0.1.0
 * @category throughput
 */
export const concurrency = (
  prepared: ReadonlyArray<Prepared>,
  options: {
    readonly levels: ReadonlyArray<number>
    readonly scenario: Scenario
    readonly timeoutMs: number
    readonly progress: (line: string) => void
    /** Open-file limit to fit the levels under (each loop holds a client and, in-process, a server socket). */
    readonly fdLimit?: number | null | undefined
  }
): Effect.Effect<ReadonlyArray<ConcurrencyResult>> =>
  Effect.gen(function*() {
    const limit = options.fdLimit === undefined ? fdLimit() : options.fdLimit
    const results: Array<ConcurrencyResult> = []
    const failed = new Map<string, string>()
    for (const p of prepared) {
      if (p.runner === undefined) failed.set(p.transport.name, `set-up failed: ${p.setupError}`)
      else {
        const warm = yield* Effect.either(
          withTimeout(p.runner.runRollout(options.scenario), options.timeoutMs, `${p.transport.name} warm-up`)
        )
        if (warm._tag === "Left") failed.set(p.transport.name, warm.left.message)
      }
    }
    for (const [index, requested] of options.levels.entries()) {
      const fit = fitConnections(requested, limit, true)
      const level = Math.max(1, fit.connections)
      if (fit.degraded !== null) options.progress(`loops ×${requested}: ${fit.degraded}`)
      for (const p of roundOrder(prepared, index)) {
        const base = {
          transport: p.transport.name,
          server: p.runner?.server ?? "n/a",
          concurrency: level,
          requestedConcurrency: requested,
          degraded: fit.degraded
        }
        const error = failed.get(p.transport.name)
        if (p.runner === undefined || error !== undefined) {
          results.push({
            ...base,
            rollouts: 0,
            turns: 0,
            wallMs: null,
            turnsPerSecond: null,
            perTurnMedianMs: null,
            perTurnP99Ms: null,
            error: error ?? "not set up"
          })
          continue
        }
        const runner = p.runner
        collectGarbage()
        const start = yield* Rollout.nowMs
        const outcome = yield* Effect.either(withTimeout(
          Effect.forEach(Array.from({ length: level }), () => runner.runRollout(options.scenario), {
            concurrency: "unbounded"
          }),
          options.timeoutMs,
          `${p.transport.name} × ${level}`
        ))
        const wall = (yield* Rollout.nowMs) - start
        if (outcome._tag === "Left") {
          results.push({
            ...base,
            rollouts: 0,
            turns: 0,
            wallMs: null,
            turnsPerSecond: null,
            perTurnMedianMs: null,
            perTurnP99Ms: null,
            error: outcome.left.message
          })
          options.progress(`loops ×${level} ${p.transport.name.padEnd(14)} ERROR ${outcome.left.message}`)
          continue
        }
        const turns = outcome.right.flatMap((r) => r.turns)
        // As in the rollout scenarios, per-turn figures are steady-state (turn 0 carries the HTTP connect, which
        // all loops do at once); the rate counts every turn.
        const steady = turns.filter((t) => t.index > 0)
        const pool = steady.length > 0 ? steady : turns
        const result: ConcurrencyResult = {
          ...base,
          rollouts: outcome.right.length,
          turns: turns.length,
          wallMs: round(wall),
          turnsPerSecond: round(turns.length / (wall / 1000), 1),
          perTurnMedianMs: round(median(pool.map((t) => t.ms)), 3),
          perTurnP99Ms: round(percentile(pool.map((t) => t.ms), 99), 3)
        }
        results.push(result)
        options.progress(
          `loops ×${String(level).padEnd(5)} ${p.transport.name.padEnd(14)} ${result.turnsPerSecond} turns/s  turn p50 ${result.perTurnMedianMs} p99 ${result.perTurnP99Ms} ms`
        )
      }
    }
    return results
  })
