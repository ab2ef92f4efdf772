/**
 * Running accepted requests on their lanes: a job runs one create and the automatic successors of its steers;
 * when it ends, the lane's next job (or another lane's, for the freed slot) starts.
 *
 * @internal
 */
import type { OutputItem } from "@loopwire/protocol/Items"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Chain from "../chain.js"
import * as Protocol from "../protocol.js"
import * as Turn from "../turn.js"
import * as Lanes from "../../Lanes.js"
import { type Output, type SessionState } from "./state.js"
import { beginOutput, deliver, endOutput, record, sinkFor, steerEvent } from "./output.js"
import { type Turnstile } from "./laneOrder.js"

export interface RunResult {
  readonly outcome: Turn.Outcome
  readonly started: Turn.Running | undefined
}

export const isToolCall = (
  item: OutputItem
): item is OutputItem & { readonly type: string; readonly call_id: string; readonly name: string } =>
  (item.type === "function_call" || item.type === "custom_tool_call") && typeof item["call_id"] === "string"




// When a job ends, its lane's next job (or another lane's, for the freed slot) starts. Not from a finalizer:
// fibers forked there would inherit its uninterruptibility. An interrupted job needs no successor (the session is
// going away).
export const start = (state: SessionState, started: ReadonlyArray<Lanes.Started<Effect.Effect<void>>>): Effect.Effect<void> => {
  const fork = ({ job, lane }: Lanes.Started<Effect.Effect<void>>) =>
    FiberSet.run(state.jobs, Effect.zipRight(job, Effect.suspend(() => start(state, state.scheduler.complete(lane)))))
  // Usually none or one (a job ended, its lane's next starts): no traversal for those.
  return started.length === 0
    ? Effect.void
    : started.length === 1
    ? Effect.asVoid(fork(started[0]!))
    : Effect.forEach(started, fork, { discard: true })
}

export const runOne = (
  state: SessionState,
  request: Protocol.ResponseCreate,
  lane: string,
  streamId: string | undefined,
  output: Output
): Effect.Effect<RunResult> =>
  Effect.gen(function*() {
    let started = undefined as Turn.Running | undefined
    const outcome = yield* Turn.run(state.env, request, {
      lane,
      streamId,
      responseId: output.responseId,
      lock: output.lock,
      sink: sinkFor(state, output),
      onStart: (r) => {
        started = r
        state.running.set(r.id, r)
      },
      onEnd: (r) => state.running.delete(r.id)
    })
    // (A failed continuation has already evicted its same-lane parent.) Nothing of the response was sent, so the
    // error frame takes the first number in its log.
    if (outcome._tag === "Rejected") {
      const text = JSON.stringify(outcome.error)
      yield* record(output, 0, text)
      yield* deliver(state, output, text)
    }
    yield* endOutput(state, output)
    return { outcome, started }
  })

export const job = (
  state: SessionState,
  first: Protocol.ResponseCreate,
  lane: string,
  streamId: string | undefined,
  firstOutput: Output,
  turnstile: Turnstile | undefined
): Effect.Effect<void> =>
  Effect.gen(function*() {
    // A resume served before this request on its lane finishes writing first.
    if (turnstile?.previous !== undefined) yield* Deferred.await(turnstile.previous)
    let request: Protocol.ResponseCreate | undefined = first
    let output = firstOutput
    const held = state.heldSteers.get(lane)
    if (held !== undefined) {
      state.heldSteers.delete(lane)
      if (first.previous_response_id === held.parent.id) {
        // The steer input goes first, then the client's tool outputs.
        const items = held.steers.flatMap((steer) => steer.items)
        request = { ...first, input: [...items, ...Chain.inputItems(first.input)] }
      } else {
        // The lane moved on without continuing the steered response: its steers will never apply.
        for (const steer of held.steers) {
          yield* steerEvent(
            state,
            held.parent,
            Protocol.steerFailedFor(
              held.parent.id,
              steer,
              "The steered response was not continued on its lane, so the steer was not applied."
            )
          )
        }
      }
    }
    // One create, plus the automatic successors of its steers.
    while (request !== undefined) {
      const result: RunResult = yield* runOne(state, request, lane, streamId, output)
      const { outcome, started } = result
      request = undefined
      if (started === undefined || started.steers.length === 0) break
      const steers: Array<Turn.AcceptedSteer> = started.steers.splice(0)
      if (outcome._tag !== "Finished" || outcome.status === "failed") {
        for (const steer of steers) {
          yield* steerEvent(
            state,
            started,
            Protocol.steerFailedFor(started.id, steer, "The steered response failed before the steer was applied.")
          )
        }
        break
      }
      const calls = outcome.response.output.filter(isToolCall)
      if (calls.length > 0) {
        for (const steer of steers) {
          yield* steerEvent(state, started, {
            type: "response.steer.pending",
            steer: { id: steer.id, previous_response_id: started.id },
            reason: "waiting_for_required_input",
            required_input: calls.map((call) => ({
              type: `${call.type}_output`,
              call_id: call.call_id,
              name: call.name
            }))
          })
        }
        state.heldSteers.set(lane, { parent: started, steers })
        break
      }
      // The successor inherits the parent's settings; its new input is the steer input.
      const parentRequest: Protocol.ResponseCreate = started.request
      const {
        generate: _generate,
        input: _input,
        loopwire_request_id: _requestId,
        previous_response_id: _parent,
        ...settings
      } = parentRequest
      request = {
        ...settings,
        type: "response.create",
        previous_response_id: started.id,
        input: steers.flatMap((steer) => steer.items)
      }
      output = yield* beginOutput(state, lane, undefined, output.epoch)
    }
  }).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logError("response failed", cause)
    )
  )
