/**
 * A server under test in its own process, so that its CPU and memory are measured without the client's. The
 * child is any TypeScript entry that calls `serve` (run with `--import tsx`); the parent `fork`s it and reads
 * its port, then its stats (memory after an optional GC, CPU, connection and lane counts) over IPC.
 *
 * The floor server uses it (`FloorServer.make({ mode: "child" })`); a gateway entry can use it the same way to
 * give the suite a `ServerTarget` with server-only CPU (`cpu`) or a `Scale.ScaleTarget`.
 *
 * IPC protocol: child → parent `{ type: "listening", port }` once (or `{ type: "error", detail }`); parent →
 * child `{ type: "stats", id, gc }`, answered by `{ type: "stats", id, memory, cpu, connections, lanes, gc }`.
 * The child exits when the parent disconnects.
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
 * A server process's counters.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerStats {
  readonly connections: number
  readonly lanes: number
  readonly memory: MemorySample
  readonly cpu: CpuSample
  /** Whether a full GC ran before the memory was read. */
  readonly gc: boolean
}

/**
 * What a child entry hands to `serve`: its listening port, optional counters, and how to close.
 *
 * @since 0.1.0
 * @category models
 */
export interface Served {
  readonly port: number
  readonly connections?: (() => number) | undefined
  readonly lanes?: (() => number) | undefined
  readonly close: () => Promise<void>
}

/**
 * Read this process's stats (used by in-process servers too).
 *
 * @since 0.1.0
 * @category stats
 */
export const localStats = (served: Pick<Served, "connections" | "lanes">, gc: boolean): ServerStats => {
  const collected = gc ? collectGarbage() : false
  return {
    connections: served.connections?.() ?? 0,
    lanes: served.lanes?.() ?? 0,
    memory: process.memoryUsage(),
    cpu: process.cpuUsage(),
    gc: collected
  }
}

/**
 * In the child process: start the server, report its port, answer stats requests, close and exit when the
 * parent goes away.
 *
 * @since 0.1.0
 * @category child
 */
export const serve = (start: () => Promise<Served>): void => {
  const send = (message: unknown) => process.send?.(message)
  start().then(
    (served) => {
      send({ type: "listening", port: served.port })
      process.on("message", (message: { type?: string; id?: number; gc?: boolean }) => {
        if (message?.type !== "stats") return
        send({ type: "stats", id: message.id, ...localStats(served, message.gc === true) })
      })
      process.on("disconnect", () => {
        void served.close().finally(() => process.exit(0))
      })
    },
    (error: unknown) => {
      send({ type: "error", detail: String(error) })
      process.exit(1)
    }
  )
}

/**
 * A forked server.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildServer {
  readonly pid: number
  readonly endpoint: Endpoint
  readonly stats: (options?: { readonly gc?: boolean | undefined }) => Effect.Effect<ServerStats, BenchError>
}

/**
 * The path of the module `path` (written without its extension) relative to `base` (an `import.meta.url`), with
 * `base`'s extension: the `.ts` source when the bench runs from its sources, the compiled `.js` from `dist/`.
 *
 * @since 0.1.0
 * @category parent
 */
export const entryBeside = (base: string, path: string): string =>
  fileURLToPath(new URL(`${path}${base.endsWith(".ts") ? ".ts" : ".js"}`, base))

const tsxArgs = ["--conditions=@loopwire/source", "--import", "tsx"]

/**
 * In the parent: fork `entry` (a module calling `serve`; a `.ts` one runs with `--import tsx` and the
 * `@loopwire/source` export condition, so that the `@loopwire/*` imports resolve to their sources, tsx resolvable
 * from the working directory) plus `execArgv`, wait (up to `startTimeoutMs`, default 30 s) until it listens; it is stopped
 * (disconnect, then SIGKILL after 5 s) when the scope closes.
 *
 * @since 0.1.0
 * @category parent
 */
export const fork = (
  entry: string,
  options?: {
    readonly args?: ReadonlyArray<string> | undefined
    readonly execArgv?: ReadonlyArray<string> | undefined
    readonly env?: NodeJS.ProcessEnv | undefined
    readonly startTimeoutMs?: number | undefined
  }
): Effect.Effect<ChildServer, BenchError, Scope.Scope> =>
  Effect.gen(function*() {
    const pending = new Map<number, Deferred.Deferred<ServerStats, BenchError>>()
    let nextId = 0
    const proc = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          ChildProcess.fork(entry, [...(options?.args ?? [])], {
            execArgv: [...(entry.endsWith(".ts") ? tsxArgs : []), ...(options?.execArgv ?? [])],
            stdio: ["ignore", "inherit", "inherit", "ipc"],
            ...(options?.env === undefined ? {} : { env: options.env })
          }),
        catch: fromUnknown("Listen", `fork ${entry}`)
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
      if (message?.type === "listening") Deferred.unsafeDone(listening, Effect.succeed(Number(message.port)))
      else if (message?.type === "error") {
        Deferred.unsafeDone(listening, Effect.fail(new BenchError({ reason: "Listen", detail: String(message.detail) })))
      } else if (message?.type === "stats") {
        const waiting = pending.get(message.id)
        pending.delete(message.id)
        const { id: _id, type: _type, ...stats } = message
        if (waiting !== undefined) Deferred.unsafeDone(waiting, Effect.succeed(stats as ServerStats))
      }
    })
    proc.on("error", () => {})
    proc.on("exit", (code) => {
      const error = new BenchError({ reason: "Closed", detail: `server process ${entry} exited (${code})` })
      Deferred.unsafeDone(listening, Effect.fail(error))
      for (const waiting of pending.values()) Deferred.unsafeDone(waiting, Effect.fail(error))
      pending.clear()
    })
    const timeoutMs = options?.startTimeoutMs ?? 30_000
    const port = yield* Deferred.await(listening).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(timeoutMs),
        onTimeout: () => new BenchError({ reason: "Timeout", detail: `${entry} did not listen within ${timeoutMs} ms` })
      })
    )
    return {
      pid: proc.pid ?? -1,
      endpoint: { host: "127.0.0.1", port, secure: false },
      stats: (statsOptions) =>
        Effect.gen(function*() {
          const id = nextId++
          const answer = yield* Deferred.make<ServerStats, BenchError>()
          pending.set(id, answer)
          if (!proc.connected) {
            pending.delete(id)
            return yield* new BenchError({ reason: "Closed", detail: `server process ${entry} is gone` })
          }
          proc.send({ type: "stats", id, gc: statsOptions?.gc === true })
          return yield* Deferred.await(answer).pipe(
            Effect.timeoutFail({
              duration: Duration.seconds(30),
              onTimeout: () => new BenchError({ reason: "Timeout", detail: `${entry} did not answer a stats request` })
            })
          )
        })
    }
  })
