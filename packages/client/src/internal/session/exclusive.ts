/**
 * One turn at a time per session, for the price of a flag: a turn that finds the session idle takes it in plain
 * code (one mask and one match, where a `Semaphore` permit cost about 20 Effect operations per turn); only a turn
 * that overlaps another one waits, in a queue, interruptibly.
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** @internal */
export interface Exclusive {
  /** Runs `effect` alone: after every turn before it has ended (succeeded, failed or been interrupted). */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** @internal */
export const make = (): Exclusive => {
  let busy = false
  const waiters: Array<() => void> = []

  // Hands the session to the next waiter (busy stays true), or frees it.
  const release = () => {
    const next = waiters.shift()
    if (next === undefined) busy = false
    else next()
  }

  // Interruptible wait for a hand-over. Interrupted before it: leaves the queue; after it (the hand-over and the
  // interruption crossed): the caller's match releases, as for any interrupted turn.
  const wait: Effect.Effect<void> = Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    waiters.push(wake)
    return Effect.sync(() => {
      const index = waiters.indexOf(wake)
      if (index !== -1) waiters.splice(index, 1)
    })
  })

  const run: Exclusive["run"] = (effect) =>
    Effect.uninterruptibleMask((restore) => {
      const guarded = Effect.matchCauseEffect(restore(effect), {
        onFailure: (cause) => {
          release()
          return Effect.failCause(cause)
        },
        onSuccess: (a) => {
          release()
          return Effect.succeed(a)
        }
      })
      if (!busy) {
        busy = true
        return guarded
      }
      return Effect.matchCauseEffect(restore(wait), {
        // Interrupted while queued: it never held the session.
        onFailure: (cause) => Effect.failCause(cause),
        onSuccess: () => guarded
      })
    })

  return { run }
}
