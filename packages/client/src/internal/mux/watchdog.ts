/**
 * The idle timeouts of every request on one socket: one watchdog fiber, which sleeps until the earliest deadline
 * and parks while nothing is watched. A turn costs it nothing in the usual case (its deadline is later than the
 * one the watchdog already sleeps towards): no race, fork or timer per request or event. A deadline runs from
 * the later of the request's submission and the socket's last sign of life (an inbound frame or an answered
 * heartbeat ping).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import type { Pending } from "./pending.js"

/** @internal */
export interface Watchdog {
  /** Watches a request that has an idle timeout (until it settles); an effect only when the watchdog must (re)start. */
  readonly watch: (p: Pending) => Effect.Effect<void> | undefined
  readonly unwatch: (p: Pending) => void
  readonly clear: () => void
}

/** @internal */
export const make = (options: {
  readonly clock: Clock.Clock
  readonly scope: Scope.Scope
  /** The socket's last sign of life. */
  readonly lastAlive: () => number
  /** The watchdog stops once this is true. */
  readonly isDead: () => boolean
  /** Fails a request that timed out (and unwatches it). */
  readonly expire: (p: Pending) => void
}): Watchdog => {
  const watched = new Set<Pending>()
  let wakeAt = Infinity // when the sleeping watchdog wakes up (Infinity: parked, or not started)
  let wake: Deferred.Deferred<void> | undefined
  let fiber: Fiber.RuntimeFiber<void> | undefined

  const loop: Effect.Effect<void> = Effect.suspend(() => {
    if (options.isDead()) return Effect.void
    const now = options.clock.unsafeCurrentTimeMillis()
    const alive = options.lastAlive()
    let next = Infinity
    for (const p of watched) {
      const at = Math.max(p.submittedAt, alive) + p.idle!.millis
      if (at <= now) options.expire(p)
      else if (at < next) next = at
    }
    wakeAt = next
    if (next === Infinity) {
      wake = Deferred.unsafeMake<void>(FiberId.none)
      return Effect.zipRight(Deferred.await(wake), loop)
    }
    return Effect.zipRight(Effect.sleep(next - now), loop)
  })

  const watch = (p: Pending): Effect.Effect<void> | undefined => {
    watched.add(p)
    const at = p.submittedAt + p.idle!.millis
    if (fiber !== undefined && at >= wakeAt) return undefined
    if (fiber !== undefined && wake !== undefined && wakeAt === Infinity) {
      const parked = wake
      wake = undefined
      Deferred.unsafeDone(parked, Exit.void)
      return undefined
    }
    // Not started yet, or this deadline comes before the one the watchdog sleeps towards (a shorter timeout than
    // the others on the socket): start it again.
    const previous = fiber
    wakeAt = at
    return Effect.zipRight(
      previous === undefined ? Effect.void : Fiber.interruptFork(previous),
      Effect.map(Effect.forkIn(loop, options.scope), (started) => {
        fiber = started
      })
    )
  }

  return {
    watch,
    unwatch: (p) => {
      watched.delete(p)
    },
    clear: () => watched.clear()
  }
}
