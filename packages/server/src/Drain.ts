/**
 * Graceful drain of one gateway: it counts the responses running (both modes) and, when asked to drain, stops
 * accepting (the listener closes, idle keep-alive connections close, new WebSocket upgrades get 503), lets the
 * running responses finish up to a deadline, and reports what finished and what is left. Closing what is left
 * (WebSocket close 1001, so a resume-capable client reconnects elsewhere and resumes) is the gateway layer's
 * release, which follows.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * What a drain did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  /** Responses running when the drain began. */
  readonly inFlightAtStart: number
  /** Responses that finished during the drain. */
  readonly drained: number
  /** Responses still running at the deadline (they are cut when the gateway closes). */
  readonly cut: number
  /** Whether every response finished before the deadline. */
  readonly idle: boolean
  readonly elapsed: Duration.Duration
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** Whether a drain has begun. */
  readonly draining: () => boolean
  /** Responses running now. */
  readonly inFlight: () => number
  /** Runs `self` counted as one running response. */
  readonly track: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Stops accepting, then waits up to `timeout` for the running responses to finish. */
  readonly drain: (timeout: Duration.DurationInput) => Effect.Effect<Report>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Drain extends Context.Tag("@loopwire/server/Drain")<Drain, Shape>() {}

/**
 * A drain whose `stopAccepting` closes the gateway's listener.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly stopAccepting: Effect.Effect<void> }): Effect.Effect<Shape> =>
  Effect.sync(() => {
    let inFlight = 0
    let draining = false
    let finishedWhileDraining = 0
    const waiters = new Set<() => void>()
    const idle = Effect.async<void>((resume) => {
      if (inFlight === 0) return resume(Effect.void)
      const waiter = () => resume(Effect.void)
      waiters.add(waiter)
      return Effect.sync(() => waiters.delete(waiter))
    })
    const done = Effect.sync(() => {
      inFlight--
      if (draining) finishedWhileDraining++
      if (inFlight === 0) {
        for (const waiter of waiters) waiter()
        waiters.clear()
      }
    })
    return {
      draining: () => draining,
      inFlight: () => inFlight,
      track: (self) =>
        Effect.suspend(() => {
          inFlight++
          return Effect.ensuring(self, done)
        }),
      drain: (timeout) =>
        Effect.gen(function*() {
          const started = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          draining = true
          finishedWhileDraining = 0
          const inFlightAtStart = inFlight
          yield* options.stopAccepting
          // Interruptible: a drain usually runs in a finalizer, where the deadline could not interrupt the wait.
          const waited = yield* Effect.timeoutOption(Effect.interruptible(idle), timeout)
          const ended = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          return {
            inFlightAtStart,
            drained: finishedWhileDraining,
            cut: inFlight,
            idle: Option.isSome(waited),
            elapsed: Duration.millis(ended - started)
          }
        })
    }
  })

/**
 * The context's drain, if any (gateways composed without `Gateway.layer` have none).
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Shape | undefined> = Effect.map(Effect.serviceOption(Drain), Option.getOrUndefined)
