import { assert, describe, it } from "@effect/vitest"
import * as Drain from "@loopwire/server/Drain"
import { Deferred, Effect, Fiber, TestClock } from "effect"

describe("Drain", () => {
  it.effect("stops accepting, then waits for the running responses; reports what finished", () =>
    Effect.gen(function*() {
      let stopped = 0
      const drain = yield* Drain.make({ stopAccepting: Effect.sync(() => void stopped++) })
      const gate = yield* Deferred.make<void>()
      const running = yield* Effect.fork(drain.track(Deferred.await(gate)))
      yield* Effect.yieldNow()
      assert.strictEqual(drain.inFlight(), 1)
      assert.isFalse(drain.draining())
      const draining = yield* Effect.fork(drain.drain("10 seconds"))
      yield* Effect.yieldNow()
      assert.isTrue(drain.draining())
      assert.strictEqual(stopped, 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(running)
      const report = yield* Fiber.join(draining)
      assert.deepStrictEqual(
        { idle: report.idle, inFlightAtStart: report.inFlightAtStart, drained: report.drained, cut: report.cut },
        { idle: true, inFlightAtStart: 1, drained: 1, cut: 0 }
      )
    }))

  it.effect("at the deadline it reports what is still running, even from an uninterruptible finalizer", () =>
    Effect.gen(function*() {
      const drain = yield* Drain.make({ stopAccepting: Effect.void })
      yield* Effect.fork(drain.track(Effect.never))
      yield* Effect.yieldNow()
      const draining = yield* Effect.fork(Effect.uninterruptible(drain.drain("5 seconds")))
      yield* TestClock.adjust("5 seconds")
      const report = yield* Fiber.join(draining)
      assert.isFalse(report.idle)
      assert.strictEqual(report.cut, 1)
      assert.strictEqual(report.drained, 0)
    }))

  it.effect("with nothing running the drain ends at once", () =>
    Effect.gen(function*() {
      const drain = yield* Drain.make({ stopAccepting: Effect.void })
      const report = yield* drain.drain("1 hour")
      assert.isTrue(report.idle)
      assert.strictEqual(report.inFlightAtStart, 0)
    }))
})
