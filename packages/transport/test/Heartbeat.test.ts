import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as WS from "ws"
import * as FaultInjection from "../src/FaultInjection.js"
import * as Heartbeat from "../src/Heartbeat.js"
import * as Memory from "../src/Memory.js"
import { Transport } from "../src/Transport.js"
import * as WebSocket from "../src/WebSocket.js"
import { serve } from "./utils.js"

/** Advances the TestClock in steps, letting real IO run between them, until `done` holds (bounded). */
const advanceUntil = (step: Duration.DurationInput, done: Effect.Effect<boolean>, maxSteps = 50) =>
  Effect.gen(function*() {
    for (let i = 0; i < maxSteps; i++) {
      if (yield* done) return true
      yield* TestClock.adjust(step)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
    return yield* done
  })

describe("Heartbeat", () => {
  it.scoped("records when the peer last answered a ping (lastAnswerMillis)", () =>
    Effect.gen(function*() {
      const [client] = yield* Memory.makePair()
      assert.isUndefined(Heartbeat.lastAnswerMillis(client))
      yield* Effect.fork(Heartbeat.run(client, { interval: "30 seconds", timeout: "10 seconds" }))
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(Heartbeat.lastAnswerMillis(client), 30_000)
      yield* TestClock.adjust("5 minutes")
      assert.strictEqual(Heartbeat.lastAnswerMillis(client), 330_000)
    }))

  it.scoped("keeps a live connection open across many intervals", () =>
    Effect.gen(function*() {
      const [client] = yield* Memory.makePair()
      const fiber = yield* Effect.fork(Heartbeat.run(client, { interval: "30 seconds", timeout: "10 seconds" }))
      for (let i = 0; i < 20; i++) yield* TestClock.adjust("10 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* client.close()
      assert.strictEqual(yield* Fiber.join(fiber), "Closed")
    }))

  it.scoped("cuts a black-holed peer after interval + timeout", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const faulty = FaultInjection.wrapConnection(client, {
        blackHoleAfterFrames: { direction: "inbound", frames: 0 }
      })
      const fiber = yield* Effect.fork(Heartbeat.run(faulty, { interval: "30 seconds", timeout: "10 seconds" }))
      yield* TestClock.adjust("30 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("9 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), "DeadPeer")
      assert.strictEqual((yield* client.closed).code, 1006)
      assert.strictEqual((yield* server.closed).code, 1006)
    }))

  it.scoped("over loopback, the client's heartbeat finds a black-holed server", () =>
    Effect.gen(function*() {
      const { url } = yield* serve({ path: "/hole", handle: (connection) => connection.closed })
      const transport = FaultInjection.wrap(WebSocket.make(), {
        blackHoleAfterFrames: { direction: "inbound", frames: 0 }
      })
      const connection = yield* transport.open(url)
      const fiber = yield* Effect.fork(Heartbeat.run(connection, { interval: "1 second", timeout: "1 second" }))
      const finished = yield* advanceUntil("500 millis", Effect.map(Fiber.poll(fiber), Option.isSome))
      assert.isTrue(finished)
      assert.strictEqual(yield* Fiber.join(fiber), "DeadPeer")
      assert.strictEqual((yield* connection.closed).code, 1006)
    }))

  it.scoped("over loopback, the server's heartbeat finds a client that never answers pings", () =>
    Effect.gen(function*() {
      const result = yield* Deferred.make<Heartbeat.Result>()
      const { url } = yield* serve({
        path: "/hb",
        handle: (connection) =>
          Effect.flatMap(
            Heartbeat.run(connection, { interval: "1 second", timeout: "1 second" }),
            (r) => Deferred.succeed(result, r)
          )
      })
      // A raw ws client with autoPong off: alive at the TCP level, silent at the WebSocket level.
      const silent = new WS.WebSocket(url, { autoPong: false })
      silent.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => silent.terminate()))
      const clientClosed = yield* Deferred.make<number>()
      silent.on("close", (code) => Deferred.unsafeDone(clientClosed, Effect.succeed(code)))
      yield* Effect.async<void>((resume) => {
        silent.once("open", () => resume(Effect.void))
      })
      const finished = yield* advanceUntil("500 millis", Deferred.isDone(result))
      assert.isTrue(finished)
      assert.strictEqual(yield* Deferred.await(result), "DeadPeer")
      assert.strictEqual(yield* Deferred.await(clientClosed), 1006)
    }))

  it.scoped("Heartbeat.layer starts a heartbeat on every opened connection", () =>
    Effect.gen(function*() {
      const transport = yield* Memory.makeServer({ handle: (connection) => connection.closed })
      const wrapped = FaultInjection.wrap(transport, { blackHoleAfterFrames: { direction: "inbound", frames: 0 } })
      const connection = yield* Effect.flatMap(Transport, (t) => t.open("ws://memory/")).pipe(
        Effect.provide(Heartbeat.layer({ interval: "5 seconds", timeout: "5 seconds" })),
        Effect.provideService(Transport, wrapped)
      )
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* connection.closed).code, 1006)
    }))
})
