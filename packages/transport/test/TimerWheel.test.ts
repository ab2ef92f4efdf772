import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Memory from "../src/Memory.js"
import * as Heartbeat from "../src/Heartbeat.js"
import * as TimerWheel from "../src/TimerWheel.js"

describe("TimerWheel", () => {
  it.effect("runs deadlines in time order (ties in scheduling order), each once, when the clock reaches them", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      yield* TimerWheel.schedule("3 seconds", () => ran.push("c"))
      yield* TimerWheel.schedule("1 second", () => ran.push("a"))
      yield* TimerWheel.schedule("2 seconds", () => ran.push("b1"))
      yield* TimerWheel.schedule("2 seconds", () => ran.push("b2"))
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual(ran, [])
      yield* TestClock.adjust("1 milli")
      assert.deepStrictEqual(ran, ["a"])
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(ran, ["a", "b1", "b2", "c"])
      assert.strictEqual((yield* TimerWheel.wheel).size(), 0)
    }))

  it.effect("a cancelled deadline never runs; an earlier one scheduled later still runs first", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const late = yield* TimerWheel.schedule("1 minute", () => ran.push("late"))
      const mid = yield* TimerWheel.schedule("30 seconds", () => ran.push("mid"))
      assert.isTrue(mid.pending())
      mid.cancel()
      assert.isFalse(mid.pending())
      yield* TimerWheel.schedule("5 seconds", () => ran.push("early"))
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(ran, ["early"])
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(ran, ["early", "late"])
      assert.isFalse(late.pending())
    }))

  it.effect("a deadline scheduled from a due callback runs at its own time; a throwing callback stops no one", () =>
    Effect.gen(function*() {
      const wheel = yield* TimerWheel.wheel
      const ran: Array<number> = []
      yield* TimerWheel.schedule("1 second", () => {
        ran.push(wheel.clock.unsafeCurrentTimeMillis())
        wheel.unsafeSchedule(wheel.clock.unsafeCurrentTimeMillis() + 1000, () => ran.push(wheel.clock.unsafeCurrentTimeMillis()))
        throw new Error("a bug in one callback")
      })
      yield* TimerWheel.schedule("1 second", () => ran.push(-1))
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(ran, [1000, -1, 2000])
    }))

  it.effect("after: runs the effect once its delay has passed; closing the scope first cancels it", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const kept = yield* Scope.make()
      yield* Scope.extend(TimerWheel.after("10 seconds", Effect.sync(() => ran.push("kept"))), kept)
      const cancelled = yield* Scope.make()
      yield* Scope.extend(TimerWheel.after("10 seconds", Effect.sync(() => ran.push("cancelled"))), cancelled)
      yield* TestClock.adjust("5 seconds")
      yield* Scope.close(cancelled, Exit.void)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(ran, ["kept"])
      yield* Scope.close(kept, Exit.void)
    }))

  it.scoped("a thousand heartbeats share one wheel: two deadlines each at most, none left once their scopes close", () =>
    Effect.gen(function*() {
      const wheel = yield* TimerWheel.wheel
      const scope = yield* Scope.make()
      const pairs = yield* Effect.forEach(Array.from({ length: 1000 }), () => Memory.makePair())
      for (const [client] of pairs) {
        yield* Scope.extend(Heartbeat.start(client, { interval: "30 seconds", timeout: "10 seconds" }), scope)
      }
      assert.strictEqual(wheel.size(), 1000)
      yield* TestClock.adjust("30 seconds")
      // Every ping was answered (in memory, at once): each heartbeat waits for its next ping again.
      assert.strictEqual(wheel.size(), 1000)
      for (const [client] of pairs) assert.strictEqual(Heartbeat.lastAnswerMillis(client), 30_000)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(wheel.size(), 0)
    }))
})
