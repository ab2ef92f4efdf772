import { Effect, Fiber, Option, TestClock } from "effect"

/**
 * Runs an effect under the TestClock while real IO (the in-memory server ticks on setImmediate) progresses:
 * alternately lets IO run and advances virtual time by `step`, for at most `maxSteps` steps.
 */
export const drive = <A, E, R>(effect: Effect.Effect<A, E, R>, step: string = "250 millis", maxSteps = 2000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < maxSteps; i++) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return yield* exit.value
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust(step as any)
    }
    yield* Fiber.interrupt(fiber)
    return yield* Effect.dieMessage(`drive: not done after ${maxSteps} steps`)
  })
