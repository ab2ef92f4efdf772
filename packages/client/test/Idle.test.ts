import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { failWhenIdle } from "../src/internal/idle.js"

describe("failWhenIdle", () => {
  it.effect("keeps running while touched, then fails exactly `timeout` after the last touch", () =>
    Effect.gen(function*() {
      let touch = () => {}
      const fiber = yield* Effect.fork(failWhenIdle((t) => {
        touch = t
        return Effect.never
      }, () => "idle" as const, "30 seconds"))
      // Touched every 20 s for 100 s: never idle for 30 s.
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("20 seconds")
        touch()
      }
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("29 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Effect.flip(Fiber.join(fiber)), "idle")
    }))

  it.effect("returns the consumer's result and failure untouched, and stops its watchdog", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* failWhenIdle(() => Effect.succeed(42), () => "idle", "1 second"), 42)
      assert.strictEqual(yield* Effect.flip(failWhenIdle(() => Effect.fail("boom"), () => "idle", "1 second")), "boom")
      const slow = yield* Effect.fork(failWhenIdle(() => Effect.as(Effect.sleep("2 seconds"), "late"), () => "idle", "1 second"))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Effect.flip(Fiber.join(slow)), "idle")
    }))

  it.effect("a sign of life from `alive` (an answered ping) keeps a silent consumer running", () =>
    Effect.gen(function*() {
      let alive = 0
      const fiber = yield* Effect.fork(failWhenIdle(() => Effect.never, () => "idle" as const, "5 minutes", () => alive))
      // Ten silent minutes, a ping answered every 30 s: never idle.
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust("30 seconds")
        alive = (i + 1) * 30_000
      }
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      // The answers stop: idle 5 minutes after the last one.
      yield* TestClock.adjust("4 minutes")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* Effect.flip(Fiber.join(fiber)), "idle")
    }))
})
