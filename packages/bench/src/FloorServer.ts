/**
 * The floor server as a scoped resource: in this process (default) or alone in a child process (for scale and
 * server-CPU measurements that must not include the client).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { fromUnknown } from "./BenchError.js"
import type { BenchError } from "./BenchError.js"
import * as ChildServer from "./ChildServer.js"
import { startFloorServer } from "./internal/floorServer.js"
import type { Endpoint } from "./TransportUnderTest.js"

/**
 * Memory of a process (as `process.memoryUsage`, bytes).
 *
 * @since 0.1.0
 * @category models
 */
export type MemorySample = ChildServer.MemorySample

/**
 * Where the floor server runs.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "in-process" | "child"

/**
 * A running floor server.
 *
 * @since 0.1.0
 * @category models
 */
export interface FloorServer {
  readonly mode: Mode
  readonly endpoint: Endpoint
  /** Open WebSocket connections and cached lanes, plus the server process's memory and CPU (after a GC if asked). */
  readonly stats: (options?: { readonly gc?: boolean | undefined }) => Effect.Effect<ChildServer.ServerStats, BenchError>
}

const inProcess: Effect.Effect<FloorServer, BenchError, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => startFloorServer({ port: 0 }), catch: fromUnknown("Listen", "floor server") }),
    (server) => Effect.promise(() => server.close())
  ),
  (server): FloorServer => ({
    mode: "in-process",
    endpoint: { host: server.host, port: server.port, secure: false },
    stats: (options) =>
      Effect.sync(() =>
        ChildServer.localStats({ connections: server.connections, lanes: server.cachedLanes }, options?.gc === true)
      )
  })
)

const child: Effect.Effect<FloorServer, BenchError, Scope.Scope> = Effect.map(
  ChildServer.fork(ChildServer.entryBeside(import.meta.url, "./internal/floorServerProcess"), {
    // Room for 10,000 cached lanes of a Codex-sized context.
    execArgv: ["--max-old-space-size=8192"]
  }),
  (server): FloorServer => ({ mode: "child", endpoint: server.endpoint, stats: server.stats })
)

/**
 * Start a floor server on 127.0.0.1 (ephemeral port), stopped when the scope closes. The child mode needs `tsx`
 * resolvable from the working directory (it is a dev dependency of the workspace).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: { readonly mode?: Mode | undefined }): Effect.Effect<FloorServer, BenchError, Scope.Scope> =>
  options?.mode === "child" ? child : inProcess
