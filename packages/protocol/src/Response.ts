/**
 * The Response object (`object: "response"`) and its usage, as on the wire.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { OutputItem } from "./Items.js"
import { arrayOf, Int, Json, JsonObject, Num, open, opt, Str } from "./internal/schema.js"
import { Tool, ToolChoice } from "./Tools.js"

/**
 * Status of a response.
 *
 * @since 0.1.0
 * @category models
 */
export const ResponseStatus = Schema.Literal("completed", "failed", "in_progress", "cancelled", "queued", "incomplete")
/**
 * @since 0.1.0
 * @category models
 */
export type ResponseStatus = typeof ResponseStatus.Type

/**
 * `usage`: `{ input_tokens, input_tokens_details?: { cached_tokens }, output_tokens,
 * output_tokens_details?: { reasoning_tokens }, total_tokens }`.
 *
 * @since 0.1.0
 * @category models
 */
export const Usage = open({
  input_tokens: Int,
  input_tokens_details: opt(open({ cached_tokens: Int })),
  output_tokens: Int,
  output_tokens_details: opt(open({ reasoning_tokens: Int })),
  total_tokens: Int
}).annotations({ identifier: "Usage" })
/**
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * `error` of a failed response: `{ code, message }`.
 *
 * @since 0.1.0
 * @category models
 */
export const ResponseError = open({ code: Schema.NullOr(Str), message: Str }).annotations({
  identifier: "ResponseError"
})
/**
 * @since 0.1.0
 * @category models
 */
export type ResponseError = typeof ResponseError.Type

/**
 * `incomplete_details`: `{ reason }` (`max_output_tokens`, `content_filter`, `steered`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export const IncompleteDetails = open({ reason: opt(Str) }).annotations({ identifier: "IncompleteDetails" })
/**
 * @since 0.1.0
 * @category models
 */
export type IncompleteDetails = typeof IncompleteDetails.Type

/**
 * The Response object. Only `id`, `status` and `output` are required (`object: "response"`, `created_at` and
 * `model` are always sent by OpenAI and by this project's gateway, but a client accepts a terse server); every
 * unknown field is kept.
 *
 * @since 0.1.0
 * @category models
 */
export const Response = open({
  id: Str,
  // Always sent by OpenAI; optional so a client still understands a terse gateway.
  object: opt(Schema.Literal("response")),
  created_at: opt(Num),
  status: ResponseStatus,
  model: opt(Str),
  output: arrayOf(OutputItem, 3),
  completed_at: opt(Schema.NullOr(Num)),
  error: opt(Schema.NullOr(ResponseError)),
  incomplete_details: opt(Schema.NullOr(IncompleteDetails)),
  usage: opt(Schema.NullOr(Usage)),
  previous_response_id: opt(Schema.NullOr(Str)),
  instructions: opt(Schema.NullOr(Json)),
  tools: opt(arrayOf(Tool, 2)),
  tool_choice: opt(ToolChoice),
  parallel_tool_calls: opt(Schema.NullOr(Schema.Boolean)),
  reasoning: opt(Schema.NullOr(JsonObject)),
  text: opt(JsonObject),
  store: opt(Schema.NullOr(Schema.Boolean)),
  metadata: opt(Schema.NullOr(Schema.Record({ key: Schema.String, value: Str }))),
  service_tier: opt(Schema.NullOr(Str)),
  prompt_cache_key: opt(Schema.NullOr(Str)),
  max_output_tokens: opt(Schema.NullOr(Int)),
  temperature: opt(Schema.NullOr(Num)),
  top_p: opt(Schema.NullOr(Num)),
  truncation: opt(Schema.NullOr(Str)),
  user: opt(Schema.NullOr(Str))
}).annotations({ identifier: "Response" })
/**
 * @since 0.1.0
 * @category models
 */
export type Response = typeof Response.Type
