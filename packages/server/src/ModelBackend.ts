/**
 * What produces model output. The gateway assembles a `ModelTurn` (the response skeleton, the request, the
 * effective context) and the backend streams the response's events; the gateway numbers them, tags the lane,
 * logs and writes them.
 *
 * @since 0.1.0
 */
import type { ResponseCreate } from "@loopwire/protocol/ClientEvent"
import type { InputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as ChainContext from "./ChainContext.js"

/**
 * A server event as a backend emits it: no `sequence_number`, no `stream_id` (the gateway adds both).
 *
 * @since 0.1.0
 * @category models
 */
export type ServerEventBody = ServerEvent.ServerEventBody

/**
 * Steering hook of one running turn. The gateway sets it when the backend `supportsSteering`; after it has
 * accepted a `response.steer` for this response, `requested` yields true. A steering backend polls it between
 * output items: when true it finishes nothing more and ends the response with `response.incomplete`
 * (`incomplete_details.reason: "steered"`); the gateway then starts the successor with the steer input.
 *
 * @since 0.1.0
 * @category models
 */
export interface Steering {
  readonly requested: Effect.Effect<boolean>
}

/**
 * A steering hook for one running turn and the trigger that sets it: the gateway puts `steering` in the turn and
 * calls `request` once it has accepted a `response.steer` for that response.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSteering: Effect.Effect<{ readonly steering: Steering; readonly request: Effect.Effect<void> }> =
  Effect.map(Ref.make(false), (flag) => ({ steering: { requested: Ref.get(flag) }, request: Ref.set(flag, true) }))

/**
 * One model turn, assembled by the gateway.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelTurn {
  /**
   * The skeleton from the gateway: id, created_at, model, status "in_progress", previous_response_id,
   * instructions, tools, store, ..., output: [].
   */
  readonly response: Response
  /** The create body as received. */
  readonly request: ResponseCreate
  /**
   * The effective context as one array: the parent's context + the parent's output + the new items. The gateway
   * materialises it on access (O(history)); a backend that needs only sizes reads `context`.
   */
  readonly input: ReadonlyArray<InputItem>
  /** The effective context as a shared segment chain with precomputed sizes (set by the gateway). */
  readonly context?: ChainContext.ChainContext | undefined
  /** Only this turn's new items. */
  readonly newInput: ReadonlyArray<InputItem>
  /**
   * Model responses already in this chain (0 for the first). Runs of model output replayed among the new items
   * count too, so a delta and a full resend of the same context get the same number.
   */
  readonly turn: number
  /** Present when the gateway can deliver `response.steer` to this turn (see {@link Steering}). */
  readonly steering?: Steering | undefined
  /**
   * The tenant the request authenticated as (set by the gateway). A backend that keeps state across turns scopes
   * it by tenant (the upstream backend's prefix matching does).
   */
  readonly tenant?: string | undefined
}

/**
 * A backend failure. `reason`:
 * - `HttpStatus`: the upstream answered with an HTTP error (`status`, and `code`/`type`/`param` when its body said);
 * - `Network`: the upstream could not be reached or the stream broke;
 * - `Timeout`: the upstream sent nothing for too long;
 * - `Protocol`: the upstream stream was not a valid Responses event stream (bad SSE/JSON, no terminal event);
 * - `Upstream`: the upstream sent an `error` event mid-stream (`code` from it);
 * - `Internal`: a bug or misconfiguration of the backend itself.
 * The gateway turns it into an `error` frame (before `response.created`) or `response.failed` (after).
 *
 * @since 0.1.0
 * @category errors
 */
export class ModelBackendError extends Schema.TaggedError<ModelBackendError>("@loopwire/server/ModelBackendError")(
  "ModelBackendError",
  {
    reason: Schema.Literal("HttpStatus", "Network", "Timeout", "Protocol", "Upstream", "Internal"),
    message: Schema.String,
    status: Schema.optional(Schema.Number),
    code: Schema.optional(Schema.NullOr(Schema.String)),
    type: Schema.optional(Schema.String),
    param: Schema.optional(Schema.NullOr(Schema.String))
  }
) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** Whether `generate` honours `turn.steering`. */
  readonly supportsSteering: boolean
  /**
   * Emits the response's events from `response.created` through exactly one terminal event
   * (`response.completed` | `response.incomplete` | `response.failed`), without `sequence_number`/`stream_id`.
   * The gateway consumes the stream a chunk at a time and writes each chunk's events as one batch: emit the events
   * that are due together as one chunk (e.g. `Stream.fromChunk`), not one stream step per event.
   */
  readonly generate: (turn: ModelTurn) => Stream.Stream<ServerEventBody, ModelBackendError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ModelBackend extends Context.Tag("@loopwire/server/ModelBackend")<ModelBackend, Shape>() {}

/**
 * Counts model generations (calls of `generate` that reached the model) across all backends, labelled by
 * backend. Tests that must prove "no model turn generated twice" read the scripted backend's own counter.
 *
 * @since 0.1.0
 * @category metrics
 */
export const generations = Metric.counter("loopwire_model_generations", {
  description: "Model backend generations started, by backend.",
  incremental: true
})
