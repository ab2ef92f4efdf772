/**
 * The recovery ladder of protocol.md §6.4 for one turn: after a failed attempt, `Recovery.classify` names the
 * rung (fail, full resend, HTTP fallback, rotate, reconnect, back off) and `step` applies it: it changes the
 * session's anchor and transport as the rung requires, waits the backoff, counts and publishes it, and answers
 * whether to try again.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Recovery from "../../Recovery.js"
import { ResponsesError } from "../../ResponsesError.js"
import type { Context } from "./context.js"

/** Where a turn stands on the ladder. @internal */
export interface Rungs {
  /** The next attempt must send the full history. */
  forceFull: boolean
  fullResendDone: boolean
  retries: number
}

/** @internal */
export const start = (): Rungs => ({ forceFull: false, fullResendDone: false, retries: 0 })

/** The failed attempt: its error, the socket generation it used, and whether it was a delta. @internal */
export interface Failure {
  readonly error: ResponsesError
  readonly generation: number
  readonly wasDelta: boolean
  readonly store: boolean
}

/**
 * Applies one rung: `"retry"` when the turn should be attempted again, `"fail"` when the error is final as it is;
 * fails with `RetriesExhausted` when the rung's budget is spent (after publishing `TurnFailed`).
 *
 * @internal
 */
export const step = (ctx: Context, rungs: Rungs, failure: Failure): Effect.Effect<"retry" | "fail", ResponsesError> =>
  Effect.gen(function*() {
    const { error, generation, store, wasDelta } = failure
    const counts = ctx.counters.counts
    const action = Recovery.classify(error)
    const giveUp = (why: string) => {
      ctx.counters.publish({ _tag: "TurnFailed", error })
      return Effect.fail(
        new ResponsesError({
          reason: "RetriesExhausted",
          message: `${why}: ${error.message}`,
          ...(error.code !== undefined ? { code: error.code } : {}),
          ...(error.status !== undefined ? { status: error.status } : {})
        })
      )
    }
    switch (action) {
      case "Fail":
        return "fail" as const
      case "FullResend": {
        if (rungs.fullResendDone) return yield* giveUp("previous_response_not_found after a full resend")
        rungs.fullResendDone = true
        rungs.forceFull = true
        ctx.anchor = undefined
        counts.fullResends++
        ctx.counters.publish({ _tag: "Recovering", action, error, attempt: 0, delayMillis: 0 })
        return "retry" as const
      }
      case "FallbackHttp": {
        if (!ctx.httpFallback || Option.isNone(ctx.http)) return "fail" as const
        ctx.mode = "http"
        ctx.anchor = undefined
        counts.httpFallback = true
        ctx.counters.publish({ _tag: "FellBackToHttp", error })
        return "retry" as const
      }
      case "Rotate":
      case "Reconnect":
      case "Backoff": {
        if (rungs.retries >= ctx.backoff.maxRetries) return yield* giveUp(`gave up after ${rungs.retries} retries`)
        const delay = action === "Rotate"
          ? 0
          : Recovery.delayMillis(ctx.backoff, rungs.retries, yield* Random.next, error.retryAfterMillis)
        rungs.retries++
        ctx.counters.publish({ _tag: "Recovering", action, error, attempt: rungs.retries, delayMillis: delay })
        if (action === "Rotate") {
          yield* ctx.lease.slot.rotate(generation)
          counts.rotations++
        } else if (action === "Reconnect") {
          // A silent socket is still open: drop it so the reconnect dials a fresh one — unless other responses on
          // it are still flowing (this request was only queued behind them).
          if (error.code === "idle_timeout" && generation >= 0) {
            const mux = ctx.lease.slot.current()
            const now = yield* Clock.currentTimeMillis
            if (mux !== undefined && now - mux.lastInboundMillis() >= Duration.toMillis(ctx.idleTimeout)) {
              yield* ctx.lease.slot.invalidate(generation, error)
            }
          }
          counts.reconnects++
        } else {
          counts.retries++
        }
        // Without `store`, a lost socket or a failed continuation takes the parent with it.
        if (!store && (action !== "Backoff" || wasDelta)) {
          rungs.forceFull = action === "Backoff"
          if (action !== "Backoff") ctx.anchor = undefined
        }
        if (delay > 0) yield* Effect.sleep(delay)
        return "retry" as const
      }
    }
  })
