/**
 * Memory at scale: open many idle WebSocket connections to a server and measure its heap and RSS growth per
 * connection, then make every connection cache one response (one full `response.create` each) and measure the
 * growth per cached lane. The server runs in a child process by default, so the client's own sockets are not
 * counted; the file-descriptor limit is checked first and the connection count lowered (and reported) when
 * there is not enough headroom.
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { WebSocket } from "ws"
import { BenchError } from "./BenchError.js"
import * as ChildServer from "./ChildServer.js"
import * as FloorServer from "./FloorServer.js"
import { openWebSocket, wsExchange } from "./internal/clients.js"
import type { ScaleResult } from "./Results.js"
import { round } from "./Stats.js"
import { type Endpoint, wsUrl } from "./TransportUnderTest.js"
import { createBody, makeScenario, userMessage } from "./Workload.js"

/**
 * A server to measure: its plain endpoint and a way to read its process's memory (after a GC when asked).
 *
 * @since 0.1.0
 * @category models
 */
export interface ScaleTarget {
  readonly name: string
  readonly mode: "in-process" | "child"
  readonly start: Effect.Effect<
    {
      readonly endpoint: Endpoint
      readonly stats: (gc: boolean) => Effect.Effect<
        { readonly memory: FloorServer.MemorySample; readonly connections: number; readonly gc: boolean },
        BenchError
      >
    },
    BenchError,
    Scope.Scope
  >
}

/**
 * The floor server as a scale target (child process by default).
 *
 * @since 0.1.0
 * @category targets
 */
export const floorTarget = (mode: FloorServer.Mode = "child"): ScaleTarget => ({
  name: "floor-server",
  mode,
  start: Effect.map(FloorServer.make({ mode }), (server) => ({
    endpoint: server.endpoint,
    stats: (gc) => server.stats({ gc })
  }))
})

/**
 * Any server entry that calls `ChildServer.serve` (e.g. a gateway entry), forked as a scale target.
 *
 * @since 0.1.0
 * @category targets
 */
export const childTarget = (
  name: string,
  entry: string,
  options?: Parameters<typeof ChildServer.fork>[1]
): ScaleTarget => ({
  name,
  mode: "child",
  start: Effect.map(ChildServer.fork(entry, options), (server) => ({
    endpoint: server.endpoint,
    stats: (gc) => server.stats({ gc })
  }))
})

/**
 * The soft limit on open files of this process (`ulimit -n`), or `null` when it cannot be read.
 *
 * @since 0.1.0
 * @category limits
 */
export const fdLimit = (): number | null => {
  try {
    const out = ChildProcess.execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8", timeout: 5_000 }).trim()
    if (out === "unlimited") return Number.MAX_SAFE_INTEGER
    const n = Number(out)
    return Number.isFinite(n) ? n : null
  } catch {
    return null
  }
}

/**
 * How many connections fit under the descriptor limit (pure): each connection costs one descriptor in this
 * process, two when the server runs in this process too; `reserve` is kept free for everything else.
 *
 * @since 0.1.0
 * @category limits
 */
export const fitConnections = (
  requested: number,
  limit: number | null,
  serverInProcess: boolean,
  reserve = 256
): { readonly connections: number; readonly degraded: string | null } => {
  if (limit === null) return { connections: requested, degraded: null }
  const perConnection = serverInProcess ? 2 : 1
  const fit = Math.max(0, Math.floor((limit - reserve) / perConnection))
  return fit >= requested
    ? { connections: requested, degraded: null }
    : {
      connections: fit,
      degraded: `ulimit -n is ${limit}: ${requested} connections need about ${
        requested * perConnection + reserve
      } descriptors; measured ${fit} instead (raise the limit with \`ulimit -n\` to measure all)`
    }
}

const memoryOf = (m: FloorServer.MemorySample) => ({ heap: m.heapUsed + m.external, rss: m.rss })

/**
 * Run the scale measurement. Connections are opened and used in batches (`batch` at once); everything is
 * bounded by `timeoutMs`.
 *
 * @since 0.1.0
 * @category scale
 */
export const run = (
  target: ScaleTarget,
  options: {
    readonly connections: number
    readonly laneContextBytes: number
    readonly batch?: number | undefined
    readonly timeoutMs: number
    readonly progress: (line: string) => void
  }
): Effect.Effect<ScaleResult> => {
  const limit = fdLimit()
  const fit = fitConnections(options.connections, limit, target.mode === "in-process")
  const base = {
    server: target.name,
    serverMode: target.mode,
    requestedConnections: options.connections,
    fdLimit: limit,
    degraded: fit.degraded,
    laneContextBytes: options.laneContextBytes
  }
  if (fit.degraded !== null) options.progress(`scale: ${fit.degraded}`)
  const batch = Math.max(1, options.batch ?? 200)
  const scenario = makeScenario({ toolCalls: 1, baseContextBytes: options.laneContextBytes })
  const program = Effect.scoped(Effect.gen(function*() {
    const server = yield* target.start
    const url = wsUrl(server.endpoint, "/v1/responses")
    const body = {
      type: "response.create",
      ...createBody(scenario, { input: [userMessage], store: false })
    }
    // Warm the server's code paths (JIT, pools) with a few short-lived connections before the baseline.
    yield* Effect.forEach(Array.from({ length: Math.min(50, fit.connections) }), () =>
      Effect.scoped(Effect.flatMap(openWebSocket(url, server.endpoint), (ws) => wsExchange(ws)(body))), {
      concurrency: 10
    })
    for (let attempt = 0; attempt < 100; attempt++) {
      if ((yield* server.stats(false)).connections === 0) break
      yield* Effect.sleep(Duration.millis(20))
    }
    const before = yield* server.stats(true)
    const sockets: Array<WebSocket> = []
    for (let i = 0; i < fit.connections; i += batch) {
      const opened = yield* Effect.forEach(
        Array.from({ length: Math.min(batch, fit.connections - i) }),
        () => openWebSocket(url, server.endpoint),
        { concurrency: "unbounded" }
      )
      sockets.push(...opened)
      if ((i / batch) % 10 === 0) options.progress(`scale: ${sockets.length}/${fit.connections} connections open`)
    }
    // The server may not have processed every upgrade yet: wait (bounded) until it counts them all.
    for (let attempt = 0; attempt < 100; attempt++) {
      if ((yield* server.stats(false)).connections >= sockets.length) break
      yield* Effect.sleep(Duration.millis(50))
    }
    const idle = yield* server.stats(true)
    options.progress(`scale: ${sockets.length} idle connections measured; caching one response per connection`)
    for (let i = 0; i < sockets.length; i += batch) {
      yield* Effect.forEach(sockets.slice(i, i + batch), (ws) => wsExchange(ws)(body), { concurrency: "unbounded" })
    }
    const lanes = yield* server.stats(true)
    const n = sockets.length
    const idleDelta = { heap: memoryOf(idle.memory).heap - memoryOf(before.memory).heap, rss: idle.memory.rss - before.memory.rss }
    const laneDelta = { heap: memoryOf(lanes.memory).heap - memoryOf(idle.memory).heap, rss: lanes.memory.rss - idle.memory.rss }
    const result: ScaleResult = {
      ...base,
      connections: n,
      lanes: n,
      gc: lanes.gc,
      idleHeapBytesPerConnection: n === 0 ? null : round(idleDelta.heap / n, 0),
      idleRssBytesPerConnection: n === 0 ? null : round(idleDelta.rss / n, 0),
      laneHeapBytesPerLane: n === 0 ? null : round(laneDelta.heap / n, 0),
      laneRssBytesPerLane: n === 0 ? null : round(laneDelta.rss / n, 0)
    }
    options.progress(
      `scale: ${n} connections: idle ${result.idleHeapBytesPerConnection} B heap / ${result.idleRssBytesPerConnection} B rss per connection; cached lane ${result.laneHeapBytesPerLane} B heap / ${result.laneRssBytesPerLane} B rss per lane`
    )
    return result
  }))
  return program.pipe(
    Effect.timeoutFail({
      duration: Duration.millis(options.timeoutMs),
      onTimeout: () => new BenchError({ reason: "Timeout", detail: `scale run exceeded ${options.timeoutMs} ms` })
    }),
    Effect.catchAll((error) =>
      Effect.sync((): ScaleResult => {
        options.progress(`scale: ERROR ${error.message}`)
        return {
          ...base,
          connections: 0,
          lanes: 0,
          gc: false,
          idleHeapBytesPerConnection: null,
          idleRssBytesPerConnection: null,
          laneHeapBytesPerLane: null,
          laneRssBytesPerLane: null,
          error: error.message
        }
      })
    )
  )
}
