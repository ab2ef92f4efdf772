/**
 * A real `redis-server` for tests: started on a free loopback port (no persistence), awaited with PING, stopped
 * with the scope. `LOOPWIRE_TEST_REDIS_URL` names an already running server instead (tests then use unique key
 * prefixes; a test that restarts Redis always starts its own).
 *
 * Tests that need Redis are declared with `layer` / `describe` below (or their `Private` forms, for tests that
 * start and stop their own server). On a machine with neither `redis-server` on the PATH nor
 * `LOOPWIRE_TEST_REDIS_URL` they are skipped, and the `skipReporter` prints one line naming them; under
 * `CI=true` they are never skipped, so a missing `redis-server` fails them.
 */
import { layer as effectLayer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { describe as vitestDescribe } from "vitest"
import { skip, skipPrivate, suiteName } from "./redisSuite.js"

export { skip, skipPrivate }

const wrap = (skipped: boolean) => (body: () => void): void => {
  vitestDescribe.skipIf(skipped)(suiteName, body)
}

/** `describe` for tests that need a Redis (shared or their own). */
export const describe = (name: string, body: () => void): void =>
  wrap(skip)(() => {
    vitestDescribe(name, body)
  })

/** `@effect/vitest`'s `layer` for tests that need a Redis (shared or their own). */
export const layer: typeof effectLayer = (layer_, options) => ((...args: [any, any?]) =>
  wrap(skip)(() => (effectLayer(layer_, options) as any)(...args))) as any

/** `@effect/vitest`'s `layer` for tests that start (and stop) their own `redis-server`. */
export const layerPrivate: typeof effectLayer = (layer_, options) => ((...args: [any, any?]) =>
  wrap(skipPrivate)(() => (effectLayer(layer_, options) as any)(...args))) as any

export interface RedisServer {
  readonly url: string
  /** Stops the server (SIGTERM, then waits for the exit). Only for a server this helper started. */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port. */
  readonly start: Effect.Effect<void, Error>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const ping = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let answer = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("error", () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (data) => {
      answer += data.toString("utf8")
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"))
    })
  })

const waitForPing = async (port: number, child: ChildProcess, spawnError: () => Error | undefined) => {
  // Bounded: 100 attempts, 50 ms apart (at most ~5 s plus the ping timeouts).
  for (let attempt = 0; attempt < 100; attempt++) {
    const error = spawnError()
    if (error !== undefined) throw new Error(`cannot start redis-server (is it installed?): ${error.message}`)
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`)
    if (await ping(port)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`redis-server did not answer PING on port ${port}`)
}

const spawnServer = (port: number) => {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
    { stdio: "ignore" }
  )
  return child
}

const stopChild = (child: ChildProcess | undefined) =>
  new Promise<void>((resolve) => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
    setTimeout(() => child.kill("SIGKILL"), 2_000).unref()
  })

/** Starts a private redis-server (always, ignoring `LOOPWIRE_TEST_REDIS_URL`): for tests that stop it. */
export const startPrivate: Effect.Effect<RedisServer, Error, Scope.Scope> = Effect.gen(function*() {
  const port = yield* Effect.promise(freePort)
  let child: ChildProcess | undefined
  const start = Effect.tryPromise({
    try: async () => {
      const spawned = spawnServer(port)
      child = spawned
      let spawnError: Error | undefined
      spawned.once("error", (e) => {
        spawnError = e
      })
      await waitForPing(port, spawned, () => spawnError)
    },
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  })
  yield* Effect.acquireRelease(start, () => Effect.promise(() => stopChild(child)))
  return { url: `redis://127.0.0.1:${port}`, stop: Effect.promise(() => stopChild(child)), start }
})

/** A server to use: `LOOPWIRE_TEST_REDIS_URL` when set, else a private one. */
export const start: Effect.Effect<RedisServer, Error, Scope.Scope> = Effect.suspend(() => {
  const url = process.env["LOOPWIRE_TEST_REDIS_URL"]
  if (url === undefined || url === "") return startPrivate
  return Effect.succeed<RedisServer>({
    url,
    stop: Effect.dieMessage("cannot stop the shared LOOPWIRE_TEST_REDIS_URL server"),
    start: Effect.void
  })
})

/** A key prefix unique to this test run, so tests sharing one server never see each other's keys. */
export const uniquePrefix = (name: string) => `lwtest-${name}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`
