import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Exclusive from "../src/internal/session/exclusive.js"

// A turn that records its start, then waits for `gate`.
const turn = (log: Array<string>, name: string, gate: Deferred.Deferred<void>) =>
  Effect.zipRight(Effect.sync(() => log.push(`${name} start`)), Deferred.await(gate)).pipe(
    Effect.zipRight(Effect.sync(() => log.push(`${name} end`)))
  )

describe("Session turns, one at a time (internal/session/exclusive)", () => {
  it.effect("a second turn starts only when the first has ended; a failed turn frees the session", () =>
    Effect.gen(function*() {
      const exclusive = Exclusive.make()
      const log: Array<string> = []
      const a = yield* Deferred.make<void>()
      const b = yield* Deferred.make<void>()
      const first = yield* Effect.fork(exclusive.run(turn(log, "a", a)))
      const second = yield* Effect.fork(exclusive.run(turn(log, "b", b)))
      const third = yield* Effect.fork(exclusive.run(Effect.sync(() => log.push("c"))))
      yield* Effect.yieldNow()
      assert.deepStrictEqual(log, ["a start"])
      yield* Deferred.done(a, Exit.void)
      yield* Fiber.join(first)
      yield* Effect.yieldNow()
      assert.deepStrictEqual(log, ["a start", "a end", "b start"])
      yield* Deferred.done(b, Exit.void)
      yield* Fiber.join(second)
      yield* Fiber.join(third)
      assert.deepStrictEqual(log, ["a start", "a end", "b start", "b end", "c"])
      const failed = yield* Effect.exit(exclusive.run(Effect.fail("boom")))
      assert.isTrue(Exit.isFailure(failed))
      assert.strictEqual(yield* exclusive.run(Effect.succeed(1)), 1)
    }))

  it.effect("an interrupted turn, running or queued, lets the next one run", () =>
    Effect.gen(function*() {
      const exclusive = Exclusive.make()
      const log: Array<string> = []
      const never = yield* Deferred.make<void>()
      const running = yield* Effect.fork(exclusive.run(turn(log, "a", never)))
      const queued = yield* Effect.fork(exclusive.run(turn(log, "b", never)))
      const last = yield* Effect.fork(exclusive.run(Effect.sync(() => log.push("c"))))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(queued)
      yield* Fiber.interrupt(running)
      yield* Fiber.join(last)
      assert.deepStrictEqual(log, ["a start", "c"])
    }))
})
