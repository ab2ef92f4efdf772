/**
 * Pure decisions about a chain of responses: the effective context of a turn, which tool outputs answer a call
 * of the chain, how many model responses a resent history holds, and the response skeleton handed to the backend.
 *
 * @internal
 */
import type { InputItem, OutputItem } from "@loopwire/protocol/Items"
import * as ChainContext from "../ChainContext.js"

/** Anything item-shaped: the checks below read only `type`, `role` and `call_id`. */
interface ItemLike {
  readonly type?: unknown
  readonly role?: unknown
  readonly call_id?: unknown
  readonly [key: string]: unknown
}

/**
 * The input of a request as items: a string is one user message.
 *
 * @internal
 */
export const inputItems = (input: unknown): ReadonlyArray<InputItem> => {
  if (input === undefined || input === null) return []
  if (typeof input === "string") {
    return [{ type: "message", role: "user", content: [{ type: "input_text", text: input }] } as InputItem]
  }
  return input as ReadonlyArray<InputItem>
}

/**
 * The effective context of a continuation: the parent's context, the parent's output, then the new items. One new
 * segment of O(parent output + new items) references on top of the parent's (shared) segments; no item is copied,
 * re-encoded or re-validated, and the history is not walked.
 *
 * @internal
 */
export const continueContext = (
  parentContext: ChainContext.ChainContext,
  parentOutput: ReadonlyArray<OutputItem>,
  newItems: ReadonlyArray<InputItem>
): ChainContext.ChainContext =>
  // Output items are valid input items (a replayed history resends them verbatim).
  ChainContext.append(parentContext, (parentOutput as ReadonlyArray<InputItem>).concat(newItems))

const callTypeOf: Record<string, string> = {
  function_call_output: "function_call",
  custom_tool_call_output: "custom_tool_call"
}

const findCall = (items: ReadonlyArray<ItemLike>, type: string, callId: string, end = items.length): boolean => {
  for (let i = end - 1; i >= 0; i--) {
    const item = items[i]!
    if (item.type === type && item.call_id === callId) return true
  }
  return false
}

// The rare path (a tool output for a call older than the parent's output): newest segment first.
const findInContext = (context: ChainContext.ChainContext, type: string, callId: string): boolean => {
  for (let c: ChainContext.ChainContext | undefined = context; c !== undefined; c = c.parent) {
    if (findCall(c.items as ReadonlyArray<ItemLike>, type, callId)) return true
  }
  return false
}

/**
 * The first tool output among `newItems` whose `call_id` answers no call of the chain, if any.
 *
 * Looks in the parent's output first (the usual case: outputs for the calls just made), then earlier new items (a
 * full resend carries the calls itself), and only then scans the older context — so the common turn costs
 * O(new input + parent output).
 *
 * @internal
 */
export const unmatchedToolOutput = (
  newItems: ReadonlyArray<ItemLike>,
  parentOutput: ReadonlyArray<ItemLike>,
  parentContext: ChainContext.ChainContext
): { readonly index: number; readonly callId: string } | undefined => {
  for (let index = 0; index < newItems.length; index++) {
    const item = newItems[index]!
    const callType = typeof item.type === "string" && Object.hasOwn(callTypeOf, item.type) ? callTypeOf[item.type] : undefined
    if (callType === undefined || typeof item.call_id !== "string") continue
    const callId = item.call_id
    if (findCall(parentOutput, callType, callId)) continue
    if (findCall(newItems, callType, callId, index)) continue
    if (findInContext(parentContext, callType, callId)) continue
    return { index, callId }
  }
  return undefined
}

/**
 * Whether an item is model output (an assistant message, reasoning, a tool call).
 *
 * @internal
 */
export const isModelOutput = (item: ItemLike): boolean => {
  switch (item.type) {
    case "function_call":
    case "custom_tool_call":
    case "reasoning":
      return true
    case "message":
    case undefined:
      return item.role === "assistant"
    default:
      return false
  }
}

/**
 * How many model responses a history holds: each maximal run of model output items (assistant messages,
 * reasoning, tool calls) is one response. Used only when a history is resent in full (it is O(history) then
 * anyway); continuations count incrementally.
 *
 * @internal
 */
export const countModelResponses = (items: ReadonlyArray<ItemLike>): number => {
  let count = 0
  let inRun = false
  for (const item of items) {
    if (isModelOutput(item)) {
      if (!inRun) count++
      inRun = true
    } else {
      inRun = false
    }
  }
  return count
}

/**
 * Fields of the create body copied into the response object when present (per-request settings the Response
 * object reports back).
 *
 * @internal
 */
export const echoedFields: ReadonlyArray<string> = [
  "reasoning",
  "text",
  "temperature",
  "top_p",
  "top_logprobs",
  "max_output_tokens",
  "max_tool_calls",
  "truncation",
  "service_tier",
  "prompt_cache_key",
  "safety_identifier",
  "user",
  "conversation",
  "prompt",
  "background"
]

/**
 * The in-progress response object for a request: what `response.created` carries.
 *
 * @internal
 */
export const skeleton = (
  request: { readonly [key: string]: unknown },
  options: { readonly id: string; readonly createdAt: number; readonly defaultModel: string }
): { readonly [key: string]: unknown } => {
  const response: Record<string, unknown> = {
    id: options.id,
    object: "response",
    created_at: options.createdAt,
    status: "in_progress",
    error: null,
    incomplete_details: null,
    instructions: request["instructions"] ?? null,
    metadata: request["metadata"] ?? {},
    model: typeof request["model"] === "string" ? request["model"] : options.defaultModel,
    output: [],
    parallel_tool_calls: request["parallel_tool_calls"] ?? true,
    previous_response_id: request["previous_response_id"] ?? null,
    store: request["store"] ?? true,
    tool_choice: request["tool_choice"] ?? "auto",
    tools: request["tools"] ?? [],
    usage: null
  }
  for (const field of echoedFields) {
    const value = request[field]
    if (value !== undefined) response[field] = value
  }
  return response
}
