/**
 * A session's turn loop: one turn through the recovery ladder, from the first attempt to the final response (or
 * the error the ladder gives up with). Per attempt: the attempt (`attempt.ts`), its events folded as they arrive
 * (`fold.ts`), and on a failure the ladder's next rung (`ladder.ts`); on success the history and the warm anchor
 * move on.
 *
 * @internal
 */
import type * as ClientEvent from "@loopwire/protocol/ClientEvent"
import type * as Items from "@loopwire/protocol/Items"
import type * as Response from "@loopwire/protocol/Response"
import * as Effect from "effect/Effect"
import { ResponsesError } from "../../ResponsesError.js"
import type { Settings, TurnEvent } from "../../Session.js"
import * as Attempt from "./attempt.js"
import type { Context } from "./context.js"
import * as Fold from "./fold.js"
import * as Ladder from "./ladder.js"

/**
 * `runTurn(settings, generate, emit)`: runs one turn; `emit` receives its events as they arrive.
 *
 * @internal
 */
export const make = (ctx: Context) => {
  const { counters, history } = ctx
  // The turn's outcome once an attempt succeeded: the history and anchor move on, the turn is counted.
  const complete = (settings: Settings, response: Response.Response, generation: number): Response.Response => {
    if (response.status === "failed") {
      ctx.anchor = undefined
    } else {
      const contextEnd = history.length()
      for (const item of response.output) history.append(item as Items.InputItem)
      ctx.anchor = ctx.mode === "http" || generation < 0
        ? undefined
        : {
          response,
          request: { ...settings, type: "response.create", input: [] } as ClientEvent.ResponseCreate,
          contextEnd,
          generation
        }
    }
    counters.counts.turns++
    counters.publish({
      _tag: "TurnCompleted",
      responseId: response.id,
      status: response.status,
      usage: response.usage ?? undefined
    })
    return response
  }

  const failed = (error: ResponsesError) => {
    counters.publish({ _tag: "TurnFailed", error })
    return Effect.fail(error)
  }

  // Runs one turn through the recovery ladder. `emit` receives events as they arrive.
  const runTurn = (
    settings: Settings,
    generate: boolean,
    emit: (event: TurnEvent) => void
  ): Effect.Effect<Response.Response, ResponsesError> => {
    const settingsJson = ctx.frames.settingsJson(settings)
    const store = settings.store === true
    const rungs = Ladder.start()
    const attemptOnce: Effect.Effect<Response.Response, ResponsesError> = Effect.suspend(() => {
      const fold = Fold.make(emit)
      let generation = -1
      let wasDelta = false
      const attempt = ctx.mode === "http"
        ? Attempt.http(ctx, settingsJson)
        : Attempt.webSocket(ctx, settings, settingsJson, rungs.forceFull, generate)
      const retry = (error: ResponsesError, discard: boolean): Effect.Effect<Response.Response, ResponsesError> => {
        if (discard && fold.delivered() > 0) emit({ _tag: "Discard", reason: error.message })
        return Effect.flatMap(
          Ladder.step(ctx, rungs, { error, generation, wasDelta, store }),
          (next) => next === "retry" ? attemptOnce : discard ? failed(error) : Effect.fail(error)
        )
      }
      return attempt.pipe(
        Effect.flatMap((a) => {
          generation = a.generation
          wasDelta = a.wasDelta
          // Events run synchronously in the delivering fiber; once this attempt ends (or is interrupted), the
          // multiplexer hands over no more events of its request.
          return a.run(fold.onEvent)
        }),
        Effect.matchEffect({
          onFailure: (error) => retry(error, true),
          onSuccess: () => {
            const lost = fold.lost()
            // Not retried: the server answered, and a retry would generate the turn again.
            if (lost !== undefined) return failed(lost)
            const final = fold.final()
            // The stream ended without a terminal event: treat like a drop.
            if (final === undefined) {
              return retry(
                new ResponsesError({ reason: "ConnectionLost", message: "The response ended without a terminal event." }),
                false
              )
            }
            return Effect.succeed(complete(settings, final, generation))
          }
        })
      )
    })
    return attemptOnce
  }
  return runTurn
}
