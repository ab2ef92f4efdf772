import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { fromProducer } from "../src/internal/produce.js"

describe("fromProducer", () => {
  it.effect("emits in order and ends when the producer succeeds; runs the producer once per run, lazily", () =>
    Effect.gen(function*() {
      let runs = 0
      const stream = fromProducer<number, never, never>((emit) =>
        Effect.gen(function*() {
          runs++
          emit(1)
          yield* Effect.yieldNow()
          emit(2)
          emit(3)
        })
      )
      assert.strictEqual(runs, 0)
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(stream)), [1, 2, 3])
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(stream)), [1, 2, 3])
      assert.strictEqual(runs, 2)
    }))

  it.effect("fails with the producer's failure after the elements emitted before it", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      const exit = yield* fromProducer<number, string, never>((emit) =>
        Effect.suspend(() => {
          emit(1)
          return Effect.fail("boom")
        })
      ).pipe(Stream.runForEach((n) => Effect.sync(() => seen.push(n))), Effect.exit)
      assert.deepStrictEqual(seen, [1])
      assert.deepStrictEqual(exit, Exit.fail("boom"))
    }))

  it.effect("a defect keeps its cause", () =>
    Effect.gen(function*() {
      const exit = yield* Stream.runDrain(fromProducer<number, never, never>(() => Effect.die("bug"))).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    }))

  it.effect("a consumer that stops early interrupts the producer, and a race inside it can end", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      const taken = yield* fromProducer<number, never, never>((emit) =>
        Effect.gen(function*() {
          emit(1)
          emit(2)
          // A producer that races (as the session's idle watchdog does) must stay interruptible.
          yield* Effect.raceFirst(Effect.never, Effect.sleep("1 hour"))
        }).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      ).pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(Chunk.toReadonlyArray(taken), [1, 2])
      assert.isTrue(yield* Deferred.isDone(interrupted))
    }))

  it.effect("a producer's race ends normally (its loser is interrupted) and the stream ends", () =>
    Effect.gen(function*() {
      const fiber = yield* fromProducer<number, never, never>((emit) =>
        Effect.raceFirst(Effect.zipRight(Effect.sleep("1 second"), Effect.sync(() => emit(7))), Effect.sleep("1 hour"))
      ).pipe(Stream.runCollect, Effect.fork)
      yield* TestClock.adjust("1 second")
      const out = yield* fiber.await
      assert.isTrue(Exit.isSuccess(out))
      if (Exit.isSuccess(out)) assert.deepStrictEqual(Chunk.toReadonlyArray(out.value), [7])
    }))
})
