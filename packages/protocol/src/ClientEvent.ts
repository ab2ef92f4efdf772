/**
 * Client → server events: `response.create` (the full create body plus WebSocket-only fields) and
 * `response.steer`, with an unknown variant for anything else.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { InputItem } from "./Items.js"
import { arrayOf, Int, Json, JsonObject, Num, open, opt, Str, unknownType } from "./internal/schema.js"
import { Tool, ToolChoice } from "./Tools.js"

/**
 * The documented wire message for an invalid `stream_id`.
 *
 * @since 0.1.0
 * @category stream ids
 */
export const invalidStreamIdMessage =
  "The 'stream_id' field must be a non-empty string with at most 256 characters and may only contain letters, numbers, underscores, hyphens, and periods."

const streamIdPattern = /^[A-Za-z0-9_.-]+$/

/**
 * True when `s` is a valid lane name: 1–256 characters matching `^[A-Za-z0-9_.-]+$`.
 *
 * @since 0.1.0
 * @category stream ids
 */
export const isValidStreamId = (s: unknown): s is string =>
  typeof s === "string" && s.length >= 1 && s.length <= 256 && streamIdPattern.test(s)

/**
 * A lane name (`stream_id`).
 *
 * @since 0.1.0
 * @category stream ids
 */
export const StreamId = Schema.String.pipe(
  Schema.filter(isValidStreamId, { message: () => invalidStreamIdMessage })
).annotations({
  identifier: "StreamId",
  arbitrary: () => (fc) => fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/)
})

/**
 * `input` of a create: a string (one user message) or a list of items.
 *
 * @since 0.1.0
 * @category models
 */
export const Input = Schema.Union(Str, arrayOf(InputItem, 4))
/**
 * @since 0.1.0
 * @category models
 */
export type Input = typeof Input.Type

/**
 * `response.create`: `type` plus every field of the `POST /v1/responses` body (all optional), the WebSocket-only
 * `stream_id` and `generate`, and the extras real clients send (`stream`, `client_metadata`). Unknown fields are
 * kept.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCreate = open({
  type: Schema.Literal("response.create"),
  model: opt(Str),
  input: opt(Input),
  previous_response_id: opt(Schema.NullOr(Str)),
  instructions: opt(Schema.NullOr(Str)),
  tools: opt(arrayOf(Tool, 3)),
  tool_choice: opt(ToolChoice),
  parallel_tool_calls: opt(Schema.NullOr(Schema.Boolean)),
  store: opt(Schema.NullOr(Schema.Boolean)),
  include: opt(Schema.NullOr(arrayOf(Str, 2))),
  reasoning: opt(Schema.NullOr(JsonObject)),
  text: opt(JsonObject),
  max_output_tokens: opt(Schema.NullOr(Int)),
  max_tool_calls: opt(Schema.NullOr(Int)),
  temperature: opt(Schema.NullOr(Num)),
  top_p: opt(Schema.NullOr(Num)),
  top_logprobs: opt(Schema.NullOr(Int)),
  truncation: opt(Schema.NullOr(Schema.Literal("auto", "disabled"))),
  metadata: opt(Schema.NullOr(Schema.Record({ key: Schema.String, value: Str }))),
  prompt: opt(Schema.NullOr(JsonObject)),
  prompt_cache_key: opt(Schema.NullOr(Str)),
  prompt_cache_options: opt(JsonObject),
  prompt_cache_retention: opt(Schema.NullOr(Str)),
  safety_identifier: opt(Schema.NullOr(Str)),
  service_tier: opt(Schema.NullOr(Str)),
  user: opt(Str),
  context_management: opt(Schema.NullOr(arrayOf(JsonObject, 2))),
  conversation: opt(Schema.NullOr(Schema.Union(Str, JsonObject))),
  moderation: opt(Schema.NullOr(Json)),
  background: opt(Schema.NullOr(Schema.Boolean)),
  stream_options: opt(Schema.NullOr(JsonObject)),
  stream: opt(Schema.NullOr(Schema.Boolean)),
  stream_id: opt(StreamId),
  generate: opt(Schema.Boolean),
  client_metadata: opt(JsonObject),
  // Newer create-body fields, typed loosely.
  image: opt(Json),
  access_programs: opt(Json)
}).annotations({ identifier: "ResponseCreate" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCreate = typeof ResponseCreate.Type

/**
 * `response.steer`: `{ type, previous_response_id (the running response), input (string or non-empty list) }`.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseSteer = open({
  type: Schema.Literal("response.steer"),
  previous_response_id: Str,
  input: Schema.Union(Str, Schema.NonEmptyArray(InputItem).annotations({
    arbitrary: () => (fc) => fc.tuple(fc.constant({ type: "message", role: "user", content: "steer" }))
  }))
}).annotations({ identifier: "ResponseSteer" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseSteer = typeof ResponseSteer.Type

/**
 * Client event types this package knows.
 *
 * @since 0.1.0
 * @category events
 */
export const knownClientEventTypes: ReadonlyArray<string> = ["response.create", "response.steer"]

/**
 * Any other client event (`response.inject`, Codex's `response.processed`, ...), kept as received.
 *
 * @since 0.1.0
 * @category events
 */
export const UnknownClientEvent = open({ type: unknownType(knownClientEventTypes, "client event") }).annotations({
  identifier: "UnknownClientEvent"
})
/**
 * @since 0.1.0
 * @category events
 */
export type UnknownClientEvent = typeof UnknownClientEvent.Type

/**
 * Any client event.
 *
 * @since 0.1.0
 * @category events
 */
export const ClientEvent = Schema.Union(ResponseCreate, ResponseSteer, UnknownClientEvent).annotations({
  identifier: "ClientEvent"
})
/**
 * @since 0.1.0
 * @category events
 */
export type ClientEvent = typeof ClientEvent.Type

/**
 * @since 0.1.0
 * @category guards
 */
export const isResponseCreate = (e: ClientEvent): e is ResponseCreate => e.type === "response.create"
/**
 * @since 0.1.0
 * @category guards
 */
export const isResponseSteer = (e: ClientEvent): e is ResponseSteer => e.type === "response.steer"
