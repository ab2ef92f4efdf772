/**
 * Input and output items of the Responses API, and their content parts, exactly as they appear on the wire.
 *
 * Every object keeps fields this package does not know (an index signature), and each union ends with an
 * unknown variant holding any object whose `type` is not a known one, so nothing a newer peer sends is lost.
 *
 * Longer than 300 lines because it declares the schema and documentation of every input and output item type (one
 * short declaration each).
 *
 * @since 0.1.0
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"
import { Absent, arrayOf, Json, open, opt, Str, unknownType } from "./internal/schema.js"

// ---------------------------------------------------------------------------------------------------------------
// content parts
// ---------------------------------------------------------------------------------------------------------------

/**
 * `{ type: "input_text", text }`.
 *
 * @since 0.1.0
 * @category content
 */
export const InputText = open({ type: Schema.Literal("input_text"), text: Str }).annotations({
  identifier: "InputText"
})
/**
 * @since 0.1.0
 * @category content
 */
export type InputText = typeof InputText.Type

/**
 * `{ type: "input_image", image_url?, file_id?, detail? }`.
 *
 * @since 0.1.0
 * @category content
 */
export const InputImage = open({
  type: Schema.Literal("input_image"),
  image_url: opt(Schema.NullOr(Str)),
  file_id: opt(Schema.NullOr(Str)),
  detail: opt(Str)
}).annotations({ identifier: "InputImage" })
/**
 * @since 0.1.0
 * @category content
 */
export type InputImage = typeof InputImage.Type

/**
 * `{ type: "input_file", file_id?, file_data?, file_url?, filename? }`.
 *
 * @since 0.1.0
 * @category content
 */
export const InputFile = open({
  type: Schema.Literal("input_file"),
  file_id: opt(Schema.NullOr(Str)),
  file_data: opt(Str),
  file_url: opt(Str),
  filename: opt(Str)
}).annotations({ identifier: "InputFile" })
/**
 * @since 0.1.0
 * @category content
 */
export type InputFile = typeof InputFile.Type

/**
 * `{ type: "output_text", text, annotations?, logprobs? }` — model text (also replayed as assistant input).
 *
 * @since 0.1.0
 * @category content
 */
export const OutputText = open({
  type: Schema.Literal("output_text"),
  text: Str,
  annotations: opt(arrayOf(Json, 2)),
  logprobs: opt(arrayOf(Json, 2))
}).annotations({ identifier: "OutputText" })
/**
 * @since 0.1.0
 * @category content
 */
export type OutputText = typeof OutputText.Type

/**
 * `{ type: "refusal", refusal }`.
 *
 * @since 0.1.0
 * @category content
 */
export const Refusal = open({ type: Schema.Literal("refusal"), refusal: Str }).annotations({ identifier: "Refusal" })
/**
 * @since 0.1.0
 * @category content
 */
export type Refusal = typeof Refusal.Type

/**
 * `{ type: "summary_text", text }` — one part of a reasoning item's summary.
 *
 * @since 0.1.0
 * @category content
 */
export const SummaryText = open({ type: Schema.Literal("summary_text"), text: Str }).annotations({
  identifier: "SummaryText"
})
/**
 * @since 0.1.0
 * @category content
 */
export type SummaryText = typeof SummaryText.Type

/**
 * `{ type: "reasoning_text", text }` — raw reasoning content of a reasoning item.
 *
 * @since 0.1.0
 * @category content
 */
export const ReasoningText = open({ type: Schema.Literal("reasoning_text"), text: Str }).annotations({
  identifier: "ReasoningText"
})
/**
 * @since 0.1.0
 * @category content
 */
export type ReasoningText = typeof ReasoningText.Type

/**
 * The content part types this package knows.
 *
 * @since 0.1.0
 * @category content
 */
export const knownContentTypes: ReadonlyArray<string> = [
  "input_text",
  "input_image",
  "input_file",
  "output_text",
  "refusal",
  "summary_text",
  "reasoning_text"
]

/**
 * A content part of a type this package does not know (e.g. `input_audio`), kept as received.
 *
 * @since 0.1.0
 * @category content
 */
export const UnknownContentPart = open({ type: unknownType(knownContentTypes, "content part") }).annotations({
  identifier: "UnknownContentPart"
})
/**
 * @since 0.1.0
 * @category content
 */
export type UnknownContentPart = typeof UnknownContentPart.Type

/**
 * Any content part of a message or tool output.
 *
 * @since 0.1.0
 * @category content
 */
export const ContentPart = Schema.Union(
  InputText,
  InputImage,
  InputFile,
  OutputText,
  Refusal,
  SummaryText,
  ReasoningText,
  UnknownContentPart
).annotations({ identifier: "ContentPart" })
/**
 * @since 0.1.0
 * @category content
 */
export type ContentPart = typeof ContentPart.Type

/** Message or tool-output content: a plain string or a list of parts. */
const Content = Schema.Union(Str, arrayOf(ContentPart, 3))

// ---------------------------------------------------------------------------------------------------------------
// items
// ---------------------------------------------------------------------------------------------------------------

/**
 * `status` of an item.
 *
 * @since 0.1.0
 * @category items
 */
export const ItemStatus = Schema.Literal("in_progress", "completed", "incomplete")
/**
 * @since 0.1.0
 * @category items
 */
export type ItemStatus = typeof ItemStatus.Type

/**
 * Message roles.
 *
 * @since 0.1.0
 * @category items
 */
export const Role = Schema.Literal("user", "assistant", "system", "developer")
/**
 * @since 0.1.0
 * @category items
 */
export type Role = typeof Role.Type

const messageFields = {
  role: Role,
  content: Content,
  id: opt(Str),
  status: opt(ItemStatus),
  phase: opt(Schema.NullOr(Str))
}

/**
 * A message in long form: `{ type: "message", role, content, id?, status?, phase? }`. Output messages carry
 * `id`, `status` and a list of `output_text` / `refusal` parts.
 *
 * @since 0.1.0
 * @category items
 */
export const Message = open({ type: Schema.Literal("message"), ...messageFields }).annotations({
  identifier: "Message"
})
/**
 * @since 0.1.0
 * @category items
 */
export type Message = typeof Message.Type

const ShortMessageArbitrary = open(messageFields)

/**
 * A message in short form, without `type`: `{ role, content }` (content a string or a list of parts).
 *
 * @since 0.1.0
 * @category items
 */
export const ShortMessage = open({
  // A present `type` means the long form (or another item): this member must not swallow it.
  type: opt(Absent),
  ...messageFields
}).annotations({
  identifier: "ShortMessage",
  arbitrary: () => (fc) => Arbitrary.makeLazy(ShortMessageArbitrary)(fc)
})
/**
 * @since 0.1.0
 * @category items
 */
export type ShortMessage = typeof ShortMessage.Type

/**
 * `{ type: "function_call", call_id, name, arguments, id?, status?, namespace? }` — `arguments` is the JSON text.
 *
 * @since 0.1.0
 * @category items
 */
export const FunctionCall = open({
  type: Schema.Literal("function_call"),
  call_id: Str,
  name: Str,
  arguments: Str,
  id: opt(Str),
  status: opt(ItemStatus),
  namespace: opt(Str)
}).annotations({ identifier: "FunctionCall" })
/**
 * @since 0.1.0
 * @category items
 */
export type FunctionCall = typeof FunctionCall.Type

/**
 * `{ type: "function_call_output", call_id, output, id?, status? }` — `output` a string or content parts.
 *
 * @since 0.1.0
 * @category items
 */
export const FunctionCallOutput = open({
  type: Schema.Literal("function_call_output"),
  call_id: Str,
  output: Content,
  id: opt(Schema.NullOr(Str)),
  status: opt(Schema.NullOr(ItemStatus))
}).annotations({ identifier: "FunctionCallOutput" })
/**
 * @since 0.1.0
 * @category items
 */
export type FunctionCallOutput = typeof FunctionCallOutput.Type

/**
 * `{ type: "custom_tool_call", call_id, name, input, id?, status?, namespace? }` — `input` is free text.
 *
 * @since 0.1.0
 * @category items
 */
export const CustomToolCall = open({
  type: Schema.Literal("custom_tool_call"),
  call_id: Str,
  name: Str,
  input: Str,
  id: opt(Str),
  status: opt(ItemStatus),
  namespace: opt(Str)
}).annotations({ identifier: "CustomToolCall" })
/**
 * @since 0.1.0
 * @category items
 */
export type CustomToolCall = typeof CustomToolCall.Type

/**
 * `{ type: "custom_tool_call_output", call_id, output, id? }`.
 *
 * @since 0.1.0
 * @category items
 */
export const CustomToolCallOutput = open({
  type: Schema.Literal("custom_tool_call_output"),
  call_id: Str,
  output: Content,
  id: opt(Schema.NullOr(Str))
}).annotations({ identifier: "CustomToolCallOutput" })
/**
 * @since 0.1.0
 * @category items
 */
export type CustomToolCallOutput = typeof CustomToolCallOutput.Type

/**
 * `{ type: "reasoning", id?, summary, content?, encrypted_content?, status? }`.
 *
 * @since 0.1.0
 * @category items
 */
export const Reasoning = open({
  type: Schema.Literal("reasoning"),
  id: opt(Str),
  summary: arrayOf(SummaryText, 2),
  content: opt(Schema.NullOr(arrayOf(ReasoningText, 2))),
  encrypted_content: opt(Schema.NullOr(Str)),
  status: opt(ItemStatus)
}).annotations({ identifier: "Reasoning" })
/**
 * @since 0.1.0
 * @category items
 */
export type Reasoning = typeof Reasoning.Type

/**
 * `{ type: "item_reference", id }` — refers to a stored item by id.
 *
 * @since 0.1.0
 * @category items
 */
export const ItemReference = open({ type: Schema.Literal("item_reference"), id: Str }).annotations({
  identifier: "ItemReference"
})
/**
 * @since 0.1.0
 * @category items
 */
export type ItemReference = typeof ItemReference.Type

/**
 * Item types `InputItem` knows.
 *
 * @since 0.1.0
 * @category items
 */
export const knownInputItemTypes: ReadonlyArray<string> = [
  "message",
  "function_call",
  "function_call_output",
  "custom_tool_call",
  "custom_tool_call_output",
  "reasoning",
  "item_reference"
]

/**
 * Item types `OutputItem` knows.
 *
 * @since 0.1.0
 * @category items
 */
export const knownOutputItemTypes: ReadonlyArray<string> = ["message", "function_call", "custom_tool_call", "reasoning"]

/**
 * An input item of a type this package does not know (hosted tool calls, `compaction`, ...), kept as received.
 *
 * @since 0.1.0
 * @category items
 */
export const UnknownItem = open({ type: unknownType(knownInputItemTypes, "input item") }).annotations({
  identifier: "UnknownItem"
})
/**
 * @since 0.1.0
 * @category items
 */
export type UnknownItem = typeof UnknownItem.Type

/**
 * An output item of a type this package does not know (`web_search_call`, `mcp_call`, ...), kept as received.
 *
 * @since 0.1.0
 * @category items
 */
export const UnknownOutputItem = open({ type: unknownType(knownOutputItemTypes, "output item") }).annotations({
  identifier: "UnknownOutputItem"
})
/**
 * @since 0.1.0
 * @category items
 */
export type UnknownOutputItem = typeof UnknownOutputItem.Type

/**
 * Any item of a request's `input`.
 *
 * @since 0.1.0
 * @category items
 */
export const InputItem = Schema.Union(
  Message,
  FunctionCall,
  FunctionCallOutput,
  CustomToolCall,
  CustomToolCallOutput,
  Reasoning,
  ItemReference,
  ShortMessage,
  UnknownItem
).annotations({ identifier: "InputItem" })
/**
 * @since 0.1.0
 * @category items
 */
export type InputItem = typeof InputItem.Type

/**
 * Any item of a response's `output`.
 *
 * @since 0.1.0
 * @category items
 */
export const OutputItem = Schema.Union(Message, FunctionCall, CustomToolCall, Reasoning, UnknownOutputItem).annotations(
  { identifier: "OutputItem" }
)
/**
 * @since 0.1.0
 * @category items
 */
export type OutputItem = typeof OutputItem.Type

// ---------------------------------------------------------------------------------------------------------------
// guards (TypeScript cannot narrow a union with a `type: string` unknown variant by `item.type === "..."`)
// ---------------------------------------------------------------------------------------------------------------

const hasType = <T extends { readonly type?: unknown }>(type: string) => (item: { readonly type?: unknown }): item is T =>
  item.type === type

/**
 * @since 0.1.0
 * @category guards
 */
export const isMessage: (item: { readonly type?: unknown }) => item is Message = hasType("message")
/**
 * @since 0.1.0
 * @category guards
 */
export const isFunctionCall: (item: { readonly type?: unknown }) => item is FunctionCall = hasType("function_call")
/**
 * @since 0.1.0
 * @category guards
 */
export const isFunctionCallOutput: (item: { readonly type?: unknown }) => item is FunctionCallOutput = hasType(
  "function_call_output"
)
/**
 * @since 0.1.0
 * @category guards
 */
export const isCustomToolCall: (item: { readonly type?: unknown }) => item is CustomToolCall = hasType(
  "custom_tool_call"
)
/**
 * @since 0.1.0
 * @category guards
 */
export const isCustomToolCallOutput: (item: { readonly type?: unknown }) => item is CustomToolCallOutput = hasType(
  "custom_tool_call_output"
)
/**
 * @since 0.1.0
 * @category guards
 */
export const isReasoning: (item: { readonly type?: unknown }) => item is Reasoning = hasType("reasoning")
/**
 * True for a short-form message (no `type`, has `role`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isShortMessage = (item: { readonly type?: unknown; readonly role?: unknown }): item is ShortMessage =>
  item.type === undefined && typeof item.role === "string"
/**
 * True for an output text part.
 *
 * @since 0.1.0
 * @category guards
 */
export const isOutputText: (part: { readonly type?: unknown }) => part is OutputText = hasType("output_text")

/**
 * A user message in long form with one `input_text` part.
 *
 * @since 0.1.0
 * @category constructors
 */
export const userText = (text: string): Message => ({
  type: "message",
  role: "user",
  content: [{ type: "input_text", text }]
})

/**
 * A function call output item.
 *
 * @since 0.1.0
 * @category constructors
 */
export const functionCallOutput = (call_id: string, output: string): FunctionCallOutput => ({
  type: "function_call_output",
  call_id,
  output
})
