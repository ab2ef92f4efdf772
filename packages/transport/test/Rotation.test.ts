import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Memory from "../src/Memory.js"
import * as Rotation from "../src/Rotation.js"
import { Transport } from "../src/Transport.js"

describe("Rotation", () => {
  it.scoped("the max-age deadline comes at 55 minutes by default, not before", () =>
    Effect.gen(function*() {
      const [client] = yield* Memory.makePair()
      const watched = yield* Rotation.watch(client)
      const deadline = yield* Effect.fork(watched.deadline)
      yield* TestClock.adjust("54 minutes")
      assert.isTrue(Option.isNone(yield* Fiber.poll(deadline)))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* Fiber.join(deadline), "MaxAge")
    }))

  it.scoped("the idle timer restarts with every frame in either direction", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const watched = yield* Rotation.watch(client, { idleTimeout: "1 minute", maxAge: "1 hour" })
      const deadline = yield* Effect.fork(watched.deadline)
      yield* Effect.fork(Stream.runDrain(watched.connection.frames))
      yield* TestClock.adjust("50 seconds")
      yield* watched.connection.send("out")
      yield* TestClock.adjust("50 seconds")
      yield* server.send("in")
      yield* Effect.yieldNow()
      yield* TestClock.adjust("50 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(deadline)))
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Fiber.join(deadline), "Idle")
    }))

  it.scoped("a closed connection never comes due", () =>
    Effect.gen(function*() {
      const [client] = yield* Memory.makePair()
      const watched = yield* Rotation.watch(client, { maxAge: "1 minute" })
      yield* client.close()
      const deadline = yield* Effect.fork(watched.deadline)
      yield* TestClock.adjust("2 minutes")
      assert.isTrue(Option.isNone(yield* Fiber.poll(deadline)))
    }))

  it.scoped("Rotation.layer closes connections with 1000 and a rotate reason when due", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.makeServer({ handle: (connection) => connection.closed })
      const connection = yield* Effect.flatMap(Transport, (t) => t.open("ws://memory/")).pipe(
        Effect.provide(Rotation.layer({ maxAge: "10 minutes" })),
        Effect.provideService(Transport, memory)
      )
      yield* TestClock.adjust("10 minutes")
      const info = yield* connection.closed
      assert.strictEqual(info.code, 1000)
      assert.strictEqual(info.reason, Rotation.CloseReasons.MaxAge)
    }))
})
