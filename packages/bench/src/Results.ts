/**
 * The results model (the shape of `docs/benchmarks/results.json`) and the pure summary of raw samples into it.
 *
 * @since 0.1.0
 */
import { median, percentile, ratio, round, slope } from "./Stats.js"
import type { TurnRecord } from "./TransportUnderTest.js"
import { type Scenario, scriptedLatencyMs } from "./Workload.js"

/**
 * One measured (or warm-up) rollout of one transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sample {
  readonly transport: string
  readonly iteration: number
  readonly warmup: boolean
  readonly e2eMs: number
  readonly connectMs: number
  readonly turns: ReadonlyArray<TurnRecord>
  /** CPU spent during the rollout, µs (user + system): the server's when it runs out of process, else this process's. */
  readonly cpuUs: number
  /** CPU of this process during the rollout, µs: the client (plus in-process servers, proxy and TLS terminator). */
  readonly processCpuUs: number
}

/**
 * Where the CPU figure comes from: this process (client and in-process server together) or the server process.
 *
 * @since 0.1.0
 * @category models
 */
export type CpuScope = "process" | "server"

/**
 * The ratios of a transport to the references (`null` when a reference is missing or failed).
 *
 * @since 0.1.0
 * @category models
 */
export interface Ratios {
  readonly e2eVsFloor: number | null
  readonly e2eVsHttpFull: number | null
  readonly perTurnMedianVsFloor: number | null
  readonly perTurnMedianVsHttpFull: number | null
  readonly bytesSentVsHttpFull: number | null
  readonly cpuPerTurnVsFloor: number | null
}

/**
 * The summary of one transport in one scenario. Times in ms, CPU in µs, bytes in bytes.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransportResult {
  readonly transport: string
  readonly description: string
  readonly server: string
  readonly iterations: number
  readonly turns: number
  /** Median end-to-end rollout time (connection set-up included). */
  readonly e2eMs: number | null
  readonly e2eMinMs: number | null
  readonly e2eMaxMs: number | null
  readonly connectMs: number | null
  /** Median time of turn 0 (first full context; for HTTP also the connection set-up; WebSocket's is `connectMs`). */
  readonly firstTurnMs: number | null
  /**
   * Per-turn time (request handed over → terminal event), pooled over the steady-state turns (index ≥ 1) of all
   * measured rollouts. Turn 0 is reported apart as `firstTurnMs` (and included in `e2eMs`).
   */
  readonly perTurnMedianMs: number | null
  readonly perTurnP99Ms: number | null
  /** Per-turn time minus the scripted model latency of that turn (the transport's overhead). */
  readonly perTurnOverheadMedianMs: number | null
  readonly bytesSentPerTurn: number | null
  readonly bytesReceivedPerTurn: number | null
  readonly bytesSentPerRollout: number | null
  readonly cpuPerTurnUs: number | null
  readonly cpuScope: CpuScope
  /**
   * CPU of the benchmark process per turn, µs. With the server in a child process (`cpuScope: "server"`) this is
   * the client's CPU (on the WAN variant plus the delay proxy's and TLS terminator's); in process it equals
   * `cpuPerTurnUs`.
   */
  readonly processCpuPerTurnUs: number | null
  /**
   * Least-squares growth of the per-turn overhead (time minus scripted model latency) with the turn index, over
   * the tool-call turns after the first (ms per turn): ~0 flat, > 0 growing.
   */
  readonly slopeMsPerTurn: number | null
  /** Growth of request size with the turn index (bytes per turn). */
  readonly slopeBytesPerTurn: number | null
  /** Share of turns sent as a delta (`previous_response_id`). */
  readonly deltaRatio: number | null
  /** Median per-turn time at each turn index (for the plots). */
  readonly perTurnByIndexMs: ReadonlyArray<number | null>
  readonly ratios: Ratios
  readonly error?: string | undefined
}

/**
 * One scenario's results.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScenarioResult {
  readonly id: string
  readonly toolCalls: number
  readonly baseContextBytes: number
  readonly toolOutputBytes: number
  readonly latency: { readonly name: string; readonly firstEventMs: number; readonly interEventMs: number }
  readonly network: string
  readonly transports: ReadonlyArray<TransportResult>
}


/**
 * Summarise one transport's samples (warm-ups are dropped here). Ratios are filled by `withRatios`.
 *
 * @since 0.1.0
 * @category summary
 */
export const summarizeTransport = (
  scenario: Scenario,
  info: { readonly transport: string; readonly description: string; readonly server: string; readonly cpuScope: CpuScope },
  samples: ReadonlyArray<Sample>,
  error?: string | undefined
): TransportResult => {
  const measured = samples.filter((s) => !s.warmup)
  const allTurns = measured.flatMap((s) => s.turns)
  // Steady state: turn 0 carries connection set-up (HTTP) and the first full context, so it is reported apart.
  const steady = allTurns.filter((t) => t.index > 0)
  const turns = steady.length > 0 ? steady : allTurns
  const turnCount = scenario.toolCalls + 1
  const byIndex: Array<number | null> = []
  // Growth is fitted on the tool-call turns after the first (1 .. N-1): turn 0 carries set-up and the final turn
  // is a text answer with its own event count, either of which would tilt a fit over so few points.
  const fitFrom = turnCount > 3 ? 1 : 0
  const fitTo = turnCount > 3 ? scenario.toolCalls - 1 : turnCount - 1
  const indexXs: Array<number> = []
  const indexMs: Array<number> = []
  const indexBytes: Array<number> = []
  for (let i = 0; i < turnCount; i++) {
    const at = allTurns.filter((t) => t.index === i)
    if (at.length === 0) {
      byIndex.push(null)
      continue
    }
    byIndex.push(round(median(at.map((t) => t.ms)), 4))
    if (i < fitFrom || i > fitTo) continue
    indexXs.push(i)
    indexMs.push(median(at.map((t) => t.ms - scriptedLatencyMs(scenario, i))))
    indexBytes.push(median(at.map((t) => t.bytesSent)))
  }
  const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
  const none = allTurns.length === 0
  return {
    transport: info.transport,
    description: info.description,
    server: info.server,
    iterations: measured.length,
    turns: turnCount,
    e2eMs: round(median(measured.map((s) => s.e2eMs))),
    e2eMinMs: round(percentile(measured.map((s) => s.e2eMs), 0)),
    e2eMaxMs: round(percentile(measured.map((s) => s.e2eMs), 100)),
    connectMs: round(median(measured.map((s) => s.connectMs))),
    firstTurnMs: round(median(allTurns.filter((t) => t.index === 0).map((t) => t.ms)), 4),
    perTurnMedianMs: round(median(turns.map((t) => t.ms)), 4),
    perTurnP99Ms: round(percentile(turns.map((t) => t.ms), 99), 4),
    perTurnOverheadMedianMs: round(median(turns.map((t) => t.ms - scriptedLatencyMs(scenario, t.index))), 4),
    bytesSentPerTurn: none ? null : round(sum(allTurns.map((t) => t.bytesSent)) / allTurns.length, 1),
    bytesReceivedPerTurn: none ? null : round(sum(allTurns.map((t) => t.bytesReceived)) / allTurns.length, 1),
    bytesSentPerRollout: measured.length === 0
      ? null
      : round(sum(allTurns.map((t) => t.bytesSent)) / measured.length, 0),
    cpuPerTurnUs: none ? null : round(sum(measured.map((s) => s.cpuUs)) / allTurns.length, 1),
    cpuScope: info.cpuScope,
    processCpuPerTurnUs: none ? null : round(sum(measured.map((s) => s.processCpuUs)) / allTurns.length, 1),
    slopeMsPerTurn: round(slope(indexXs, indexMs), 5),
    slopeBytesPerTurn: round(slope(indexXs, indexBytes), 1),
    deltaRatio: none ? null : round(allTurns.filter((t) => t.delta).length / allTurns.length, 4),
    perTurnByIndexMs: byIndex,
    ratios: {
      e2eVsFloor: null,
      e2eVsHttpFull: null,
      perTurnMedianVsFloor: null,
      perTurnMedianVsHttpFull: null,
      bytesSentVsHttpFull: null,
      cpuPerTurnVsFloor: null
    },
    ...(error === undefined ? {} : { error })
  }
}

/**
 * Name of the floor transport (ratio reference).
 *
 * @since 0.1.0
 * @category summary
 */
export const FLOOR = "floor"

/**
 * Name of the stateless HTTP transport (ratio reference).
 *
 * @since 0.1.0
 * @category summary
 */
export const HTTP_FULL = "http-full"

/**
 * Fill every transport's ratios against the floor and the stateless HTTP client of the same scenario.
 *
 * @since 0.1.0
 * @category summary
 */
export const withRatios = (results: ReadonlyArray<TransportResult>): ReadonlyArray<TransportResult> => {
  const ok = (r: TransportResult | undefined) => (r?.error === undefined ? r : undefined)
  const floor = ok(results.find((r) => r.transport === FLOOR))
  const full = ok(results.find((r) => r.transport === HTTP_FULL))
  const v = (x: number | null | undefined) => (x === null ? undefined : x)
  const r = (a: number | null, b: number | null | undefined) => round(ratio(v(a), v(b)), 4)
  return results.map((result) =>
    result.error !== undefined ? result : {
      ...result,
      ratios: {
        e2eVsFloor: r(result.e2eMs, floor?.e2eMs),
        e2eVsHttpFull: r(result.e2eMs, full?.e2eMs),
        perTurnMedianVsFloor: r(result.perTurnMedianMs, floor?.perTurnMedianMs),
        perTurnMedianVsHttpFull: r(result.perTurnMedianMs, full?.perTurnMedianMs),
        bytesSentVsHttpFull: r(result.bytesSentPerTurn, full?.bytesSentPerTurn),
        cpuPerTurnVsFloor: result.cpuScope === floor?.cpuScope ? r(result.cpuPerTurnUs, floor?.cpuPerTurnUs) : null
      }
    }
  )
}

/**
 * Events per second streamed server → client by one transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamResult {
  readonly transport: string
  readonly server: string
  readonly events: number
  readonly iterations: number
  readonly eventsPerSecond: number | null
  readonly mbPerSecond: number | null
  readonly error?: string | undefined
}

/**
 * Turns per second with `concurrency` agent loops running at once (each on its own connection).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConcurrencyResult {
  readonly transport: string
  readonly server: string
  /** Loops actually run (lower than requested only when the descriptor limit leaves no room; see `degraded`). */
  readonly concurrency: number
  readonly requestedConcurrency: number
  readonly degraded: string | null
  readonly rollouts: number
  readonly turns: number
  readonly wallMs: number | null
  readonly turnsPerSecond: number | null
  /** Steady-state turns (index ≥ 1) of all loops. */
  readonly perTurnMedianMs: number | null
  readonly perTurnP99Ms: number | null
  readonly error?: string | undefined
}

/**
 * Memory of idle connections and cached lanes, measured in the server process.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScaleResult {
  readonly server: string
  readonly serverMode: string
  readonly requestedConnections: number
  readonly connections: number
  readonly lanes: number
  readonly fdLimit: number | null
  readonly degraded: string | null
  readonly gc: boolean
  readonly idleHeapBytesPerConnection: number | null
  readonly idleRssBytesPerConnection: number | null
  readonly laneHeapBytesPerLane: number | null
  readonly laneRssBytesPerLane: number | null
  readonly laneContextBytes: number
  readonly error?: string | undefined
}

/**
 * The whole results file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Results {
  readonly schema: "loopwire-bench/1"
  readonly generatedAt: string
  readonly quick: boolean
  readonly environment: {
    readonly node: string
    readonly platform: string
    readonly cpuModel: string
    readonly cores: number
    readonly loadAverage: ReadonlyArray<number>
  }
  readonly method: {
    readonly iterations: number
    readonly warmup: number
    readonly interleaving: string
    readonly network: string
  }
  /** Comparisons not in this run yet and why (e.g. the Loopwire client before it is wired). */
  readonly pending: ReadonlyArray<string>
  readonly scenarios: ReadonlyArray<ScenarioResult>
  readonly throughput: {
    readonly streaming: ReadonlyArray<StreamResult>
    readonly concurrency: ReadonlyArray<ConcurrencyResult>
  } | null
  /** One entry per measured server (the gateway, then the floor server). */
  readonly scale: ReadonlyArray<ScaleResult> | null
}
