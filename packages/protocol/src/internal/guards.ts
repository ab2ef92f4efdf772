/**
 * Plain-code acceptance checks for the server events on a client's hot path (a turn's lifecycle, output items
 * and argument / text deltas). Each is sound, not complete: `true` means the schema accepts the value (checked
 * field by field as the schema declares it); `false` means "not sure", and the caller asks the schema. So a
 * check never widens what is accepted; it only answers the common case without the schema interpreter.
 * (`Validate.test.ts` holds them to the decoder on generated valid and broken events.)
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import { OutputItem } from "../Items.js"
import { ToolChoice } from "../Tools.js"

type Obj = Record<string, unknown>

const isObj = (u: unknown): u is Obj => typeof u === "object" && u !== null && !Array.isArray(u)
const isInt = (u: unknown) => typeof u === "number" && Number.isSafeInteger(u)
const isNum = (u: unknown) => typeof u === "number"
const isStr = (u: unknown) => typeof u === "string"
// An exact optional field: absent, or present with a value of the type (never `undefined`).
const opt = (o: Obj, key: string, check: (u: unknown) => boolean) => !(key in o) || check(o[key])
const nullOr = (check: (u: unknown) => boolean) => (u: unknown) => u === null || check(u)

const itemStatuses = new Set(["in_progress", "completed", "incomplete"])
const responseStatuses = new Set(["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"])

const isOutputItem = Schema.is(OutputItem)
const isToolChoice = Schema.is(ToolChoice)

const functionCall = (item: Obj) =>
  item.type === "function_call" && isStr(item.call_id) && isStr(item.name) && isStr(item.arguments) &&
  opt(item, "id", isStr) && opt(item, "status", (s) => typeof s === "string" && itemStatuses.has(s)) &&
  opt(item, "namespace", isStr)

const outputItem = (u: unknown) => isObj(u) && (functionCall(u) || isOutputItem(u))

const usage = (u: unknown) =>
  isObj(u) && isInt(u.input_tokens) && isInt(u.output_tokens) && isInt(u.total_tokens) &&
  opt(u, "input_tokens_details", (d) => isObj(d) && isInt(d.cached_tokens)) &&
  opt(u, "output_tokens_details", (d) => isObj(d) && isInt(d.reasoning_tokens))

const stringMap = (u: unknown) => {
  if (!isObj(u)) return false
  for (const k in u) if (!isStr(u[k])) return false
  return true
}

// The `Response` schema, field by field; the echoed `tools` go to the schema (a client strips them first).
const response = (r: unknown): boolean => {
  if (!isObj(r) || !isStr(r.id) || typeof r.status !== "string" || !responseStatuses.has(r.status)) return false
  if (!Array.isArray(r.output)) return false
  for (const item of r.output) if (!outputItem(item)) return false
  return !("tools" in r) && opt(r, "object", (o) => o === "response") && opt(r, "created_at", isNum) &&
    opt(r, "model", isStr) && opt(r, "completed_at", nullOr(isNum)) &&
    opt(r, "error", nullOr((e) => isObj(e) && (e.code === null || isStr(e.code)) && isStr(e.message))) &&
    opt(r, "incomplete_details", nullOr((d) => isObj(d) && opt(d, "reason", isStr))) &&
    opt(r, "usage", nullOr(usage)) && opt(r, "previous_response_id", nullOr(isStr)) &&
    opt(r, "instructions", (i) => i !== undefined) && opt(r, "tool_choice", isToolChoice) &&
    opt(r, "parallel_tool_calls", nullOr((b) => typeof b === "boolean")) &&
    opt(r, "reasoning", nullOr(isObj)) && opt(r, "text", isObj) &&
    opt(r, "store", nullOr((b) => typeof b === "boolean")) && opt(r, "metadata", nullOr(stringMap)) &&
    opt(r, "service_tier", nullOr(isStr)) && opt(r, "prompt_cache_key", nullOr(isStr)) &&
    opt(r, "max_output_tokens", nullOr(isInt)) && opt(r, "temperature", nullOr(isNum)) &&
    opt(r, "top_p", nullOr(isNum)) && opt(r, "truncation", nullOr(isStr)) && opt(r, "user", nullOr(isStr))
}

// Every event's envelope: `sequence_number` and `stream_id` optional.
const envelope = (e: Obj) => opt(e, "sequence_number", isInt) && opt(e, "stream_id", isStr)

const withResponse = (e: Obj) => envelope(e) && response(e.response)
const withItem = (e: Obj) => envelope(e) && isInt(e.output_index) && outputItem(e.item)

/**
 * Sound acceptance checks by event type (see the module's note); types without one go to the schema.
 *
 * @internal
 */
export const fastGuards: Readonly<Record<string, (e: Obj) => boolean>> = {
  "response.queued": withResponse,
  "response.created": withResponse,
  "response.in_progress": withResponse,
  "response.completed": withResponse,
  "response.incomplete": withResponse,
  "response.failed": withResponse,
  "response.output_item.added": withItem,
  "response.output_item.done": withItem,
  "response.function_call_arguments.delta": (e) =>
    envelope(e) && isStr(e.item_id) && isInt(e.output_index) && isStr(e.delta),
  "response.function_call_arguments.done": (e) =>
    envelope(e) && isStr(e.item_id) && isInt(e.output_index) && isStr(e.arguments) && opt(e, "name", isStr),
  "response.output_text.delta": (e) =>
    envelope(e) && isStr(e.item_id) && isInt(e.output_index) && isInt(e.content_index) && isStr(e.delta) &&
    opt(e, "logprobs", Array.isArray)
}
