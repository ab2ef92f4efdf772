/**
 * One attempt's events folded into its final response, per event in plain code: the accumulator rebuilds the
 * output from the deltas (sparse streams included: it fills an omitted terminal output), each delta in place
 * (`Accumulator.folder`: no copy of the item per event). A server it cannot
 * follow still gets its terminal Response used as is, unless that omits an output the stream had: then the turn
 * fails (`lost`) rather than lose it.
 *
 * @internal
 */
import * as Accumulator from "@loopwire/protocol/Accumulator"
import type * as Response from "@loopwire/protocol/Response"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Option from "effect/Option"
import { terminalResponse } from "../../ResponsesClient.js"
import { ResponsesError } from "../../ResponsesError.js"
import type { TurnEvent } from "../../Session.js"

/** @internal */
export interface Fold {
  /** Takes one event (the multiplexer hands over none once the attempt ended). */
  readonly onEvent: (event: ServerEvent.ServerEvent) => void
  /** Events handed on so far. */
  readonly delivered: () => number
  /** The final response, once the terminal event came. */
  readonly final: () => Response.Response | undefined
  /** The turn failed although the server answered (see above). */
  readonly lost: () => ResponsesError | undefined
}

/** @internal */
export const make = (emit: (event: TurnEvent) => void): Fold => {
  let delivered = 0
  let final: Response.Response | undefined
  let lost: ResponsesError | undefined
  const folder = Accumulator.folder()
  let folding = true
  let foldError: Accumulator.AccumulatorError | undefined
  return {
    onEvent: (event) => {
      delivered++
      if (folding) {
        const error = folder.step(event)
        if (error !== undefined) {
          folding = false
          foldError = error
        }
      }
      const acc = folder.current()
      const done = terminalResponse(event)
      if (Option.isSome(done)) {
        final = folding && acc.final !== undefined ? acc.final : done.value
        if (!folding && done.value.output.length === 0 && acc.output.some((item) => item !== undefined)) {
          lost = new ResponsesError({
            reason: "Protocol",
            message:
              `The response's terminal event omits its output, and the streamed output could not be rebuilt: ${foldError?.message}`
          })
        }
      }
      emit({ _tag: "Event", event })
    },
    delivered: () => delivered,
    final: () => final,
    lost: () => lost
  }
}
