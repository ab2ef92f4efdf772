/**
 * The floor server as a scoped resource: in this process (default) or alone in a child process (for scale and
 * server-CPU measurements that must not include the client).
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { BenchError, fromUnknown } from "./BenchError.js"
import { collectGarbage } from "./internal/gc.js"
import { startFloorServer } from "./internal/floorServer.js"
import type { CpuSample, Endpoint } from "./TransportUnderTest.js"

/**
 * Memory of a process (as `process.memoryUsage`, bytes).
 *
 * @since 0.1.0
 * @category models
 */
export interface MemorySample {
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
}

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
  readonly stats: (options?: { readonly gc?: boolean | undefined }) => Effect.Effect<
    {
      readonly connections: number
      readonly lanes: number
      readonly memory: MemorySample
      readonly cpu: CpuSample
      readonly gc: boolean
    },
    BenchError
  >
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
      Effect.sync(() => {
        const gc = options?.gc === true ? collectGarbage() : false
        return {
          connections: server.connections(),
          lanes: server.cachedLanes(),
          memory: process.memoryUsage(),
          cpu: process.cpuUsage(),
          gc
        }
      })
  })
)

const child: Effect.Effect<FloorServer, BenchError, Scope.Scope> = Effect.gen(function*() {
  const entry = fileURLToPath(new URL("./internal/floorServerProcess.ts", import.meta.url))
  const pending = new Map<number, Deferred.Deferred<any, BenchError>>()
  let nextId = 0
  const proc = yield* Effect.acquireRelease(
    Effect.try({
      try: () =>
        ChildProcess.fork(entry, [], {
          execArgv: ["--import", "tsx"],
          stdio: ["ignore", "inherit", "inherit", "ipc"]
        }),
      catch: fromUnknown("Listen", "fork floor server")
    }),
    (proc) =>
      Effect.async<void>((resume) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resume(Effect.void)
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000)
        proc.once("exit", () => {
          clearTimeout(timer)
          resume(Effect.void)
        })
        if (proc.connected) proc.disconnect()
        else proc.kill("SIGTERM")
      })
  )
  const listening = yield* Deferred.make<number, BenchError>()
  proc.on("message", (message: any) => {
    if (message?.type === "listening") Deferred.unsafeDone(listening, Effect.succeed(message.port as number))
    else if (message?.type === "error") {
      Deferred.unsafeDone(listening, Effect.fail(new BenchError({ reason: "Listen", detail: String(message.detail) })))
    } else if (message?.type === "stats") {
      const waiting = pending.get(message.id)
      pending.delete(message.id)
      if (waiting !== undefined) Deferred.unsafeDone(waiting, Effect.succeed(message))
    }
  })
  proc.on("exit", (code) => {
    const error = new BenchError({ reason: "Closed", detail: `floor server process exited (${code})` })
    Deferred.unsafeDone(listening, Effect.fail(error))
    for (const waiting of pending.values()) Deferred.unsafeDone(waiting, Effect.fail(error))
    pending.clear()
  })
  const port = yield* Deferred.await(listening).pipe(
    Effect.timeoutFail({
      duration: Duration.seconds(30),
      onTimeout: () => new BenchError({ reason: "Timeout", detail: "floor server process did not start in 30 s" })
    })
  )
  return {
    mode: "child",
    endpoint: { host: "127.0.0.1", port, secure: false },
    stats: (options) =>
      Effect.gen(function*() {
        const id = nextId++
        const answer = yield* Deferred.make<any, BenchError>()
        pending.set(id, answer)
        proc.send({ type: "stats", id, gc: options?.gc === true })
        const message = yield* Deferred.await(answer).pipe(
          Effect.timeoutFail({
            duration: Duration.seconds(30),
            onTimeout: () => new BenchError({ reason: "Timeout", detail: "floor server process did not answer" })
          })
        )
        return {
          connections: message.connections as number,
          lanes: message.lanes as number,
          memory: message.memory as MemorySample,
          cpu: message.cpu as CpuSample,
          gc: message.gc as boolean
        }
      })
  } satisfies FloorServer
})

/**
 * Start a floor server on 127.0.0.1 (ephemeral port), stopped when the scope closes. The child mode needs `tsx`
 * resolvable from the working directory (it is a dev dependency of the workspace).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: { readonly mode?: Mode | undefined }): Effect.Effect<FloorServer, BenchError, Scope.Scope> =>
  options?.mode === "child" ? child : inProcess
