/**
 * Server → client events: the Responses streaming catalogue (shared with SSE), both `error` shapes, the steering
 * events, `response.queued`, and an unknown variant that keeps any other event as received.
 *
 * `sequence_number` and `stream_id` are optional on every schema: a backend emits event bodies without them, the
 * gateway numbers and tags them (see {@link withEnvelope}); a client tolerates servers that omit them.
 *
 * Longer than 300 lines because it declares the schema and documentation of every server event the protocol names
 * (one short declaration each); the per-event code (`isTerminal`, `withEnvelope`, the guards) is a few small
 * functions.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { ContentPart, OutputItem, SummaryText } from "./Items.js"
import { Absent, arrayOf, Int, Json, JsonObject, MapKey, open, opt, Str, unknownType } from "./internal/schema.js"
import { Response } from "./Response.js"

const event = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  open({ type: Schema.Literal(type), sequence_number: opt(Int), stream_id: opt(Str), ...fields })

/**
 * `steer` of `response.steer.accepted` / `.pending`: `{ id, previous_response_id }`.
 *
 * @since 0.1.0
 * @category steering
 */
export const SteerRef = open({ id: Str, previous_response_id: Str }).annotations({ identifier: "SteerRef" })

/**
 * `steer` of `response.steer.failed`: `{ id?, previous_response_id, input? }` (`id` absent when rejected before
 * one was allocated).
 *
 * @since 0.1.0
 * @category steering
 */
export const SteerFailedRef = open({ id: opt(Str), previous_response_id: Str, input: opt(Json) }).annotations({
  identifier: "SteerFailedRef"
})

/**
 * `error` of `response.steer.failed` / `response.inject.failed`: `{ code, message }`.
 *
 * @since 0.1.0
 * @category steering
 */
export const SteerError = open({ code: Str, message: Str }).annotations({ identifier: "SteerError" })
/**
 * `response.queued` — The response is queued (status `queued`).
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseQueued = event("response.queued", { response: Response }).annotations({ identifier: "ResponseQueued" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseQueued = typeof ResponseQueued.Type
/**
 * `response.created` — The response exists (status `in_progress` or `queued`); the first event of a response.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCreated = event("response.created", { response: Response }).annotations({ identifier: "ResponseCreated" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCreated = typeof ResponseCreated.Type
/**
 * `response.in_progress` — The response is being generated.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseInProgress = event("response.in_progress", { response: Response }).annotations({ identifier: "ResponseInProgress" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseInProgress = typeof ResponseInProgress.Type
/**
 * `response.completed` — Terminal: the final response, status `completed`.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCompleted = event("response.completed", { response: Response }).annotations({ identifier: "ResponseCompleted" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCompleted = typeof ResponseCompleted.Type
/**
 * `response.incomplete` — Terminal: the final response, status `incomplete` (`incomplete_details.reason`).
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseIncomplete = event("response.incomplete", { response: Response }).annotations({ identifier: "ResponseIncomplete" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseIncomplete = typeof ResponseIncomplete.Type
/**
 * `response.failed` — Terminal: the final response, status `failed` (`error`).
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseFailed = event("response.failed", { response: Response }).annotations({ identifier: "ResponseFailed" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseFailed = typeof ResponseFailed.Type
/**
 * `response.output_item.added` — A new output item at `output_index` (partial content).
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseOutputItemAdded = event("response.output_item.added", { output_index: Int, item: OutputItem }).annotations({ identifier: "ResponseOutputItemAdded" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseOutputItemAdded = typeof ResponseOutputItemAdded.Type
/**
 * `response.output_item.done` — The final form of the output item at `output_index`.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseOutputItemDone = event("response.output_item.done", { output_index: Int, item: OutputItem }).annotations({ identifier: "ResponseOutputItemDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseOutputItemDone = typeof ResponseOutputItemDone.Type
/**
 * `response.content_part.added` — A content part starts.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseContentPartAdded = event("response.content_part.added", { item_id: Str, output_index: Int, content_index: Int, part: ContentPart }).annotations({ identifier: "ResponseContentPartAdded" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseContentPartAdded = typeof ResponseContentPartAdded.Type
/**
 * `response.content_part.done` — A content part is final.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseContentPartDone = event("response.content_part.done", { item_id: Str, output_index: Int, content_index: Int, part: ContentPart }).annotations({ identifier: "ResponseContentPartDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseContentPartDone = typeof ResponseContentPartDone.Type
/**
 * `response.output_text.delta` — A chunk of output text.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseOutputTextDelta = event("response.output_text.delta", { item_id: Str, output_index: Int, content_index: Int, delta: Str, logprobs: opt(arrayOf(Json, 2)) }).annotations({ identifier: "ResponseOutputTextDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseOutputTextDelta = typeof ResponseOutputTextDelta.Type
/**
 * `response.output_text.done` — The full text of an output text part.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseOutputTextDone = event("response.output_text.done", { item_id: Str, output_index: Int, content_index: Int, text: Str, logprobs: opt(arrayOf(Json, 2)) }).annotations({ identifier: "ResponseOutputTextDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseOutputTextDone = typeof ResponseOutputTextDone.Type
/**
 * `response.output_text.annotation.added` — An annotation (citation, file path, ...) on an output text part.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseOutputTextAnnotationAdded = event("response.output_text.annotation.added", { item_id: Str, output_index: Int, content_index: Int, annotation_index: Int, annotation: Json }).annotations({ identifier: "ResponseOutputTextAnnotationAdded" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseOutputTextAnnotationAdded = typeof ResponseOutputTextAnnotationAdded.Type
/**
 * `response.refusal.delta` — A chunk of refusal text.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseRefusalDelta = event("response.refusal.delta", { item_id: Str, output_index: Int, content_index: Int, delta: Str }).annotations({ identifier: "ResponseRefusalDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseRefusalDelta = typeof ResponseRefusalDelta.Type
/**
 * `response.refusal.done` — The full refusal text.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseRefusalDone = event("response.refusal.done", { item_id: Str, output_index: Int, content_index: Int, refusal: Str }).annotations({ identifier: "ResponseRefusalDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseRefusalDone = typeof ResponseRefusalDone.Type
/**
 * `response.function_call_arguments.delta` — A chunk of a function call's `arguments`.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseFunctionCallArgumentsDelta = event("response.function_call_arguments.delta", { item_id: Str, output_index: Int, delta: Str }).annotations({ identifier: "ResponseFunctionCallArgumentsDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseFunctionCallArgumentsDelta = typeof ResponseFunctionCallArgumentsDelta.Type
/**
 * `response.function_call_arguments.done` — The full `arguments` of a function call.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseFunctionCallArgumentsDone = event("response.function_call_arguments.done", { item_id: Str, output_index: Int, arguments: Str, name: opt(Str) }).annotations({ identifier: "ResponseFunctionCallArgumentsDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseFunctionCallArgumentsDone = typeof ResponseFunctionCallArgumentsDone.Type
/**
 * `response.custom_tool_call_input.delta` — A chunk of a custom tool call's `input`.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCustomToolCallInputDelta = event("response.custom_tool_call_input.delta", { item_id: Str, output_index: Int, delta: Str }).annotations({ identifier: "ResponseCustomToolCallInputDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCustomToolCallInputDelta = typeof ResponseCustomToolCallInputDelta.Type
/**
 * `response.custom_tool_call_input.done` — The full `input` of a custom tool call.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCustomToolCallInputDone = event("response.custom_tool_call_input.done", { item_id: Str, output_index: Int, input: Str }).annotations({ identifier: "ResponseCustomToolCallInputDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCustomToolCallInputDone = typeof ResponseCustomToolCallInputDone.Type
/**
 * `response.reasoning_summary_part.added` — A reasoning summary part starts.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseReasoningSummaryPartAdded = event("response.reasoning_summary_part.added", { item_id: Str, output_index: Int, summary_index: Int, part: SummaryText }).annotations({ identifier: "ResponseReasoningSummaryPartAdded" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseReasoningSummaryPartAdded = typeof ResponseReasoningSummaryPartAdded.Type
/**
 * `response.reasoning_summary_part.done` — A reasoning summary part is final.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseReasoningSummaryPartDone = event("response.reasoning_summary_part.done", { item_id: Str, output_index: Int, summary_index: Int, part: SummaryText }).annotations({ identifier: "ResponseReasoningSummaryPartDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseReasoningSummaryPartDone = typeof ResponseReasoningSummaryPartDone.Type
/**
 * `response.reasoning_summary_text.delta` — A chunk of reasoning summary text.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseReasoningSummaryTextDelta = event("response.reasoning_summary_text.delta", { item_id: Str, output_index: Int, summary_index: Int, delta: Str }).annotations({ identifier: "ResponseReasoningSummaryTextDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseReasoningSummaryTextDelta = typeof ResponseReasoningSummaryTextDelta.Type
/**
 * `response.reasoning_summary_text.done` — The full text of a reasoning summary part.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseReasoningSummaryTextDone = event("response.reasoning_summary_text.done", { item_id: Str, output_index: Int, summary_index: Int, text: Str }).annotations({ identifier: "ResponseReasoningSummaryTextDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseReasoningSummaryTextDone = typeof ResponseReasoningSummaryTextDone.Type
/**
 * `response.reasoning_text.delta` — A chunk of raw reasoning text.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseReasoningTextDelta = event("response.reasoning_text.delta", { item_id: Str, output_index: Int, content_index: Int, delta: Str }).annotations({ identifier: "ResponseReasoningTextDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseReasoningTextDelta = typeof ResponseReasoningTextDelta.Type
/**
 * `response.reasoning_text.done` — The full raw reasoning text of a part.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseReasoningTextDone = event("response.reasoning_text.done", { item_id: Str, output_index: Int, content_index: Int, text: Str }).annotations({ identifier: "ResponseReasoningTextDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseReasoningTextDone = typeof ResponseReasoningTextDone.Type
/**
 * `response.web_search_call.in_progress` — Hosted web search started.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseWebSearchCallInProgress = event("response.web_search_call.in_progress", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseWebSearchCallInProgress" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseWebSearchCallInProgress = typeof ResponseWebSearchCallInProgress.Type
/**
 * `response.web_search_call.searching` — Hosted web search is searching.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseWebSearchCallSearching = event("response.web_search_call.searching", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseWebSearchCallSearching" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseWebSearchCallSearching = typeof ResponseWebSearchCallSearching.Type
/**
 * `response.web_search_call.completed` — Hosted web search finished.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseWebSearchCallCompleted = event("response.web_search_call.completed", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseWebSearchCallCompleted" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseWebSearchCallCompleted = typeof ResponseWebSearchCallCompleted.Type
/**
 * `response.file_search_call.in_progress` — Hosted file search started.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseFileSearchCallInProgress = event("response.file_search_call.in_progress", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseFileSearchCallInProgress" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseFileSearchCallInProgress = typeof ResponseFileSearchCallInProgress.Type
/**
 * `response.file_search_call.searching` — Hosted file search is searching.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseFileSearchCallSearching = event("response.file_search_call.searching", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseFileSearchCallSearching" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseFileSearchCallSearching = typeof ResponseFileSearchCallSearching.Type
/**
 * `response.file_search_call.completed` — Hosted file search finished.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseFileSearchCallCompleted = event("response.file_search_call.completed", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseFileSearchCallCompleted" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseFileSearchCallCompleted = typeof ResponseFileSearchCallCompleted.Type
/**
 * `response.code_interpreter_call.in_progress` — Code interpreter call started.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCodeInterpreterCallInProgress = event("response.code_interpreter_call.in_progress", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseCodeInterpreterCallInProgress" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCodeInterpreterCallInProgress = typeof ResponseCodeInterpreterCallInProgress.Type
/**
 * `response.code_interpreter_call.interpreting` — Code interpreter is running code.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCodeInterpreterCallInterpreting = event("response.code_interpreter_call.interpreting", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseCodeInterpreterCallInterpreting" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCodeInterpreterCallInterpreting = typeof ResponseCodeInterpreterCallInterpreting.Type
/**
 * `response.code_interpreter_call.completed` — Code interpreter call finished.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCodeInterpreterCallCompleted = event("response.code_interpreter_call.completed", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseCodeInterpreterCallCompleted" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCodeInterpreterCallCompleted = typeof ResponseCodeInterpreterCallCompleted.Type
/**
 * `response.code_interpreter_call_code.delta` — A chunk of code for the code interpreter.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCodeInterpreterCallCodeDelta = event("response.code_interpreter_call_code.delta", { item_id: Str, output_index: Int, delta: Str }).annotations({ identifier: "ResponseCodeInterpreterCallCodeDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCodeInterpreterCallCodeDelta = typeof ResponseCodeInterpreterCallCodeDelta.Type
/**
 * `response.code_interpreter_call_code.done` — The full code for the code interpreter.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCodeInterpreterCallCodeDone = event("response.code_interpreter_call_code.done", { item_id: Str, output_index: Int, code: Str }).annotations({ identifier: "ResponseCodeInterpreterCallCodeDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCodeInterpreterCallCodeDone = typeof ResponseCodeInterpreterCallCodeDone.Type
/**
 * `response.image_generation_call.in_progress` — Image generation started.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseImageGenerationCallInProgress = event("response.image_generation_call.in_progress", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseImageGenerationCallInProgress" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseImageGenerationCallInProgress = typeof ResponseImageGenerationCallInProgress.Type
/**
 * `response.image_generation_call.generating` — Image generation is generating.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseImageGenerationCallGenerating = event("response.image_generation_call.generating", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseImageGenerationCallGenerating" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseImageGenerationCallGenerating = typeof ResponseImageGenerationCallGenerating.Type
/**
 * `response.image_generation_call.partial_image` — A partial image (base64).
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseImageGenerationCallPartialImage = event("response.image_generation_call.partial_image", { item_id: Str, output_index: Int, partial_image_b64: Str, partial_image_index: Int }).annotations({ identifier: "ResponseImageGenerationCallPartialImage" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseImageGenerationCallPartialImage = typeof ResponseImageGenerationCallPartialImage.Type
/**
 * `response.image_generation_call.completed` — Image generation finished.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseImageGenerationCallCompleted = event("response.image_generation_call.completed", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseImageGenerationCallCompleted" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseImageGenerationCallCompleted = typeof ResponseImageGenerationCallCompleted.Type
/**
 * `response.mcp_call.in_progress` — MCP tool call started.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseMcpCallInProgress = event("response.mcp_call.in_progress", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseMcpCallInProgress" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseMcpCallInProgress = typeof ResponseMcpCallInProgress.Type
/**
 * `response.mcp_call.completed` — MCP tool call finished.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseMcpCallCompleted = event("response.mcp_call.completed", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseMcpCallCompleted" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseMcpCallCompleted = typeof ResponseMcpCallCompleted.Type
/**
 * `response.mcp_call.failed` — MCP tool call failed.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseMcpCallFailed = event("response.mcp_call.failed", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseMcpCallFailed" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseMcpCallFailed = typeof ResponseMcpCallFailed.Type
/**
 * `response.mcp_call_arguments.delta` — A chunk of an MCP call's arguments.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseMcpCallArgumentsDelta = event("response.mcp_call_arguments.delta", { item_id: Str, output_index: Int, delta: Str }).annotations({ identifier: "ResponseMcpCallArgumentsDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseMcpCallArgumentsDelta = typeof ResponseMcpCallArgumentsDelta.Type
/**
 * `response.mcp_call_arguments.done` — The full arguments of an MCP call.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseMcpCallArgumentsDone = event("response.mcp_call_arguments.done", { item_id: Str, output_index: Int, arguments: Str }).annotations({ identifier: "ResponseMcpCallArgumentsDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseMcpCallArgumentsDone = typeof ResponseMcpCallArgumentsDone.Type
/**
 * `response.mcp_list_tools.in_progress` — Listing MCP tools started.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseMcpListToolsInProgress = event("response.mcp_list_tools.in_progress", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseMcpListToolsInProgress" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseMcpListToolsInProgress = typeof ResponseMcpListToolsInProgress.Type
/**
 * `response.mcp_list_tools.completed` — Listing MCP tools finished.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseMcpListToolsCompleted = event("response.mcp_list_tools.completed", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseMcpListToolsCompleted" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseMcpListToolsCompleted = typeof ResponseMcpListToolsCompleted.Type
/**
 * `response.mcp_list_tools.failed` — Listing MCP tools failed.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseMcpListToolsFailed = event("response.mcp_list_tools.failed", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseMcpListToolsFailed" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseMcpListToolsFailed = typeof ResponseMcpListToolsFailed.Type
/**
 * `response.audio.delta` — A chunk of output audio (base64).
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseAudioDelta = event("response.audio.delta", { delta: Str }).annotations({ identifier: "ResponseAudioDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseAudioDelta = typeof ResponseAudioDelta.Type
/**
 * `response.audio.done` — Output audio finished.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseAudioDone = event("response.audio.done", {}).annotations({ identifier: "ResponseAudioDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseAudioDone = typeof ResponseAudioDone.Type
/**
 * `response.audio.transcript.delta` — A chunk of the audio transcript.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseAudioTranscriptDelta = event("response.audio.transcript.delta", { delta: Str }).annotations({ identifier: "ResponseAudioTranscriptDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseAudioTranscriptDelta = typeof ResponseAudioTranscriptDelta.Type
/**
 * `response.audio.transcript.done` — The audio transcript finished.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseAudioTranscriptDone = event("response.audio.transcript.done", {}).annotations({ identifier: "ResponseAudioTranscriptDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseAudioTranscriptDone = typeof ResponseAudioTranscriptDone.Type
/**
 * `response.shell_call_command.added` — A shell call command starts.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseShellCallCommandAdded = event("response.shell_call_command.added", { output_index: Int, command_index: Int, command: Str }).annotations({ identifier: "ResponseShellCallCommandAdded" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseShellCallCommandAdded = typeof ResponseShellCallCommandAdded.Type
/**
 * `response.shell_call_command.delta` — A chunk of a shell call command.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseShellCallCommandDelta = event("response.shell_call_command.delta", { output_index: Int, command_index: Int, delta: Str }).annotations({ identifier: "ResponseShellCallCommandDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseShellCallCommandDelta = typeof ResponseShellCallCommandDelta.Type
/**
 * `response.shell_call_command.done` — The full shell call command.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseShellCallCommandDone = event("response.shell_call_command.done", { output_index: Int, command_index: Int, command: Str }).annotations({ identifier: "ResponseShellCallCommandDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseShellCallCommandDone = typeof ResponseShellCallCommandDone.Type
/**
 * `response.shell_call_output_content.delta` — A chunk of a shell call's output.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseShellCallOutputContentDelta = event("response.shell_call_output_content.delta", { item_id: Str, output_index: Int, command_index: Int, delta: Json }).annotations({ identifier: "ResponseShellCallOutputContentDelta" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseShellCallOutputContentDelta = typeof ResponseShellCallOutputContentDelta.Type
/**
 * `response.shell_call_output_content.done` — The full output of a shell call.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseShellCallOutputContentDone = event("response.shell_call_output_content.done", { item_id: Str, output_index: Int, command_index: Int, output: arrayOf(Json, 2) }).annotations({ identifier: "ResponseShellCallOutputContentDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseShellCallOutputContentDone = typeof ResponseShellCallOutputContentDone.Type
/**
 * `response.compaction.compacting` — Server-side compaction is running.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseCompactionCompacting = event("response.compaction.compacting", { item_id: Str, output_index: Int }).annotations({ identifier: "ResponseCompactionCompacting" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseCompactionCompacting = typeof ResponseCompactionCompacting.Type
/**
 * `response.steer.accepted` — The server owns the steer input (not yet applied).
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseSteerAccepted = event("response.steer.accepted", { steer: SteerRef }).annotations({ identifier: "ResponseSteerAccepted" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseSteerAccepted = typeof ResponseSteerAccepted.Type
/**
 * `response.steer.pending` — The steered parent ended needing client input (`required_input` stubs) before the steer can apply.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseSteerPending = event("response.steer.pending", { steer: SteerRef, reason: Str, required_input: arrayOf(JsonObject, 2) }).annotations({ identifier: "ResponseSteerPending" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseSteerPending = typeof ResponseSteerPending.Type
/**
 * `response.steer.failed` — The steer was not and will not be applied; `steer.input` echoes the input.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseSteerFailed = event("response.steer.failed", { steer: SteerFailedRef, error: SteerError }).annotations({ identifier: "ResponseSteerFailed" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseSteerFailed = typeof ResponseSteerFailed.Type
/**
 * `response.inject.created` — Beta: injected items were accepted into the active response.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseInjectCreated = event("response.inject.created", { response_id: Str }).annotations({ identifier: "ResponseInjectCreated" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseInjectCreated = typeof ResponseInjectCreated.Type
/**
 * `response.inject.failed` — Beta: injected items were rejected.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseInjectFailed = event("response.inject.failed", { response_id: Str, input: Json, error: SteerError }).annotations({ identifier: "ResponseInjectFailed" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseInjectFailed = typeof ResponseInjectFailed.Type
/**
 * `response.done` — ChatGPT/Codex backend only: a terminal event some backends send instead of `response.completed`. A server targeting api.openai.com parity must not emit it.
 *
 * @since 0.1.0
 * @category events
 */
export const ResponseDone = event("response.done", { response: opt(Response) }).annotations({ identifier: "ResponseDone" })
/**
 * @since 0.1.0
 * @category events
 */
export type ResponseDone = typeof ResponseDone.Type
/**
 * `error`, envelope form (WebSocket protocol / request-scoped errors):
 * `{ type: "error", status, error: { type, code, message, param, headers? }, stream_id?, sequence_number? }`.
 * Some gateways send `status_code` instead of `status`; both are accepted.
 *
 * @since 0.1.0
 * @category errors
 */
export const ErrorEnvelope = event("error", {
  status: opt(Int),
  status_code: opt(Int),
  error: open({
    type: opt(Schema.NullOr(Str)),
    code: opt(Schema.NullOr(Str)),
    message: Str,
    param: opt(Schema.NullOr(Str)),
    headers: opt(Schema.Record({ key: MapKey, value: Str }))
  })
}).annotations({ identifier: "ErrorEnvelope" })
/**
 * @since 0.1.0
 * @category errors
 */
export type ErrorEnvelope = typeof ErrorEnvelope.Type

/**
 * `error`, flat streaming form (as in SSE): `{ type: "error", code, message, param, sequence_number }`.
 *
 * @since 0.1.0
 * @category errors
 */
export const ErrorStreaming = event("error", {
  // A present `error` object means the envelope form.
  error: opt(Absent),
  code: opt(Schema.NullOr(Str)),
  message: Str,
  param: opt(Schema.NullOr(Str))
}).annotations({
  identifier: "ErrorStreaming",
  arbitrary: () => (fc) =>
    fc.record({
      type: fc.constant("error" as const),
      code: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
      message: fc.string({ maxLength: 12 }),
      param: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
      sequence_number: fc.nat(1000)
    })
})
/**
 * @since 0.1.0
 * @category errors
 */
export type ErrorStreaming = typeof ErrorStreaming.Type

/**
 * `error`, either shape.
 *
 * @since 0.1.0
 * @category errors
 */
export const ErrorEvent = Schema.Union(ErrorEnvelope, ErrorStreaming).annotations({ identifier: "ErrorEvent" })
/**
 * @since 0.1.0
 * @category errors
 */
export type ErrorEvent = typeof ErrorEvent.Type

/**
 * Schemas of every known event, keyed by `type` (`error` maps to {@link ErrorEvent}).
 *
 * @since 0.1.0
 * @category events
 */
export const schemasByType = {
  "response.queued": ResponseQueued,
  "response.created": ResponseCreated,
  "response.in_progress": ResponseInProgress,
  "response.completed": ResponseCompleted,
  "response.incomplete": ResponseIncomplete,
  "response.failed": ResponseFailed,
  "response.output_item.added": ResponseOutputItemAdded,
  "response.output_item.done": ResponseOutputItemDone,
  "response.content_part.added": ResponseContentPartAdded,
  "response.content_part.done": ResponseContentPartDone,
  "response.output_text.delta": ResponseOutputTextDelta,
  "response.output_text.done": ResponseOutputTextDone,
  "response.output_text.annotation.added": ResponseOutputTextAnnotationAdded,
  "response.refusal.delta": ResponseRefusalDelta,
  "response.refusal.done": ResponseRefusalDone,
  "response.function_call_arguments.delta": ResponseFunctionCallArgumentsDelta,
  "response.function_call_arguments.done": ResponseFunctionCallArgumentsDone,
  "response.custom_tool_call_input.delta": ResponseCustomToolCallInputDelta,
  "response.custom_tool_call_input.done": ResponseCustomToolCallInputDone,
  "response.reasoning_summary_part.added": ResponseReasoningSummaryPartAdded,
  "response.reasoning_summary_part.done": ResponseReasoningSummaryPartDone,
  "response.reasoning_summary_text.delta": ResponseReasoningSummaryTextDelta,
  "response.reasoning_summary_text.done": ResponseReasoningSummaryTextDone,
  "response.reasoning_text.delta": ResponseReasoningTextDelta,
  "response.reasoning_text.done": ResponseReasoningTextDone,
  "response.web_search_call.in_progress": ResponseWebSearchCallInProgress,
  "response.web_search_call.searching": ResponseWebSearchCallSearching,
  "response.web_search_call.completed": ResponseWebSearchCallCompleted,
  "response.file_search_call.in_progress": ResponseFileSearchCallInProgress,
  "response.file_search_call.searching": ResponseFileSearchCallSearching,
  "response.file_search_call.completed": ResponseFileSearchCallCompleted,
  "response.code_interpreter_call.in_progress": ResponseCodeInterpreterCallInProgress,
  "response.code_interpreter_call.interpreting": ResponseCodeInterpreterCallInterpreting,
  "response.code_interpreter_call.completed": ResponseCodeInterpreterCallCompleted,
  "response.code_interpreter_call_code.delta": ResponseCodeInterpreterCallCodeDelta,
  "response.code_interpreter_call_code.done": ResponseCodeInterpreterCallCodeDone,
  "response.image_generation_call.in_progress": ResponseImageGenerationCallInProgress,
  "response.image_generation_call.generating": ResponseImageGenerationCallGenerating,
  "response.image_generation_call.partial_image": ResponseImageGenerationCallPartialImage,
  "response.image_generation_call.completed": ResponseImageGenerationCallCompleted,
  "response.mcp_call.in_progress": ResponseMcpCallInProgress,
  "response.mcp_call.completed": ResponseMcpCallCompleted,
  "response.mcp_call.failed": ResponseMcpCallFailed,
  "response.mcp_call_arguments.delta": ResponseMcpCallArgumentsDelta,
  "response.mcp_call_arguments.done": ResponseMcpCallArgumentsDone,
  "response.mcp_list_tools.in_progress": ResponseMcpListToolsInProgress,
  "response.mcp_list_tools.completed": ResponseMcpListToolsCompleted,
  "response.mcp_list_tools.failed": ResponseMcpListToolsFailed,
  "response.audio.delta": ResponseAudioDelta,
  "response.audio.done": ResponseAudioDone,
  "response.audio.transcript.delta": ResponseAudioTranscriptDelta,
  "response.audio.transcript.done": ResponseAudioTranscriptDone,
  "response.shell_call_command.added": ResponseShellCallCommandAdded,
  "response.shell_call_command.delta": ResponseShellCallCommandDelta,
  "response.shell_call_command.done": ResponseShellCallCommandDone,
  "response.shell_call_output_content.delta": ResponseShellCallOutputContentDelta,
  "response.shell_call_output_content.done": ResponseShellCallOutputContentDone,
  "response.compaction.compacting": ResponseCompactionCompacting,
  "response.steer.accepted": ResponseSteerAccepted,
  "response.steer.pending": ResponseSteerPending,
  "response.steer.failed": ResponseSteerFailed,
  "response.inject.created": ResponseInjectCreated,
  "response.inject.failed": ResponseInjectFailed,
  "response.done": ResponseDone,
  "error": ErrorEvent
} as const

/**
 * Every event `type` this package knows.
 *
 * @since 0.1.0
 * @category events
 */
export const knownServerEventTypes: ReadonlyArray<string> = Object.keys(schemasByType)

/**
 * An event of a type this package does not know (`codex.rate_limits`, newer events), kept as received.
 *
 * @since 0.1.0
 * @category events
 */
export const UnknownServerEvent = open({
  type: unknownType(knownServerEventTypes, "server event"),
  sequence_number: opt(Int),
  stream_id: opt(Str)
}).annotations({ identifier: "UnknownServerEvent" })
/**
 * @since 0.1.0
 * @category events
 */
export type UnknownServerEvent = typeof UnknownServerEvent.Type

/**
 * Any server event.
 *
 * @since 0.1.0
 * @category events
 */
export const ServerEvent = Schema.Union(
  ResponseQueued,
  ResponseCreated,
  ResponseInProgress,
  ResponseCompleted,
  ResponseIncomplete,
  ResponseFailed,
  ResponseOutputItemAdded,
  ResponseOutputItemDone,
  ResponseContentPartAdded,
  ResponseContentPartDone,
  ResponseOutputTextDelta,
  ResponseOutputTextDone,
  ResponseOutputTextAnnotationAdded,
  ResponseRefusalDelta,
  ResponseRefusalDone,
  ResponseFunctionCallArgumentsDelta,
  ResponseFunctionCallArgumentsDone,
  ResponseCustomToolCallInputDelta,
  ResponseCustomToolCallInputDone,
  ResponseReasoningSummaryPartAdded,
  ResponseReasoningSummaryPartDone,
  ResponseReasoningSummaryTextDelta,
  ResponseReasoningSummaryTextDone,
  ResponseReasoningTextDelta,
  ResponseReasoningTextDone,
  ResponseWebSearchCallInProgress,
  ResponseWebSearchCallSearching,
  ResponseWebSearchCallCompleted,
  ResponseFileSearchCallInProgress,
  ResponseFileSearchCallSearching,
  ResponseFileSearchCallCompleted,
  ResponseCodeInterpreterCallInProgress,
  ResponseCodeInterpreterCallInterpreting,
  ResponseCodeInterpreterCallCompleted,
  ResponseCodeInterpreterCallCodeDelta,
  ResponseCodeInterpreterCallCodeDone,
  ResponseImageGenerationCallInProgress,
  ResponseImageGenerationCallGenerating,
  ResponseImageGenerationCallPartialImage,
  ResponseImageGenerationCallCompleted,
  ResponseMcpCallInProgress,
  ResponseMcpCallCompleted,
  ResponseMcpCallFailed,
  ResponseMcpCallArgumentsDelta,
  ResponseMcpCallArgumentsDone,
  ResponseMcpListToolsInProgress,
  ResponseMcpListToolsCompleted,
  ResponseMcpListToolsFailed,
  ResponseAudioDelta,
  ResponseAudioDone,
  ResponseAudioTranscriptDelta,
  ResponseAudioTranscriptDone,
  ResponseShellCallCommandAdded,
  ResponseShellCallCommandDelta,
  ResponseShellCallCommandDone,
  ResponseShellCallOutputContentDelta,
  ResponseShellCallOutputContentDone,
  ResponseCompactionCompacting,
  ResponseSteerAccepted,
  ResponseSteerPending,
  ResponseSteerFailed,
  ResponseInjectCreated,
  ResponseInjectFailed,
  ResponseDone,
  ErrorEvent,
  UnknownServerEvent
).annotations({ identifier: "ServerEvent" })
/**
 * @since 0.1.0
 * @category events
 */
export type ServerEvent = typeof ServerEvent.Type

/**
 * What a backend emits: a server event before the gateway sets `sequence_number` and `stream_id` (both optional
 * on every schema, so this is the same type).
 *
 * @since 0.1.0
 * @category events
 */
export type ServerEventBody = ServerEvent

/**
 * The event type for a known `type` string.
 *
 * @since 0.1.0
 * @category events
 */
export type EventOf<T extends keyof typeof schemasByType> = (typeof schemasByType)[T]["Type"]

/**
 * Narrows an event by its `type` (TypeScript cannot narrow through the unknown variant's `type: string`).
 *
 * @since 0.1.0
 * @category guards
 */
export const is = <T extends keyof typeof schemasByType>(
  event: { readonly type: string },
  type: T
): event is EventOf<T> => event.type === type

/**
 * Types of the events that end a response and carry the final Response.
 *
 * @since 0.1.0
 * @category terminal
 */
export const responseTerminalTypes: ReadonlyArray<string> = ["response.completed", "response.incomplete", "response.failed"]

/**
 * True for `response.completed`, `response.incomplete` and `response.failed` (which carry the final Response).
 *
 * @since 0.1.0
 * @category terminal
 */
export const isResponseTerminal = (
  event: { readonly type: string }
): event is ResponseCompleted | ResponseIncomplete | ResponseFailed =>
  event.type === "response.completed" || event.type === "response.incomplete" || event.type === "response.failed"

/**
 * True for the last frame of a request: a response terminal event, a request-scoped `error`, or the Codex
 * backend's `response.done`. (`response.steer.pending` may follow its parent's `response.completed`; it is not
 * terminal.)
 *
 * @since 0.1.0
 * @category terminal
 */
export const isTerminal = (event: { readonly type: string }): boolean =>
  isResponseTerminal(event) || event.type === "error" || event.type === "response.done"

/**
 * Sets the gateway-owned envelope fields of an event: `sequence_number`, and `stream_id` for a named lane
 * (removed for the default lane).
 *
 * @since 0.1.0
 * @category constructors
 */
export const withEnvelope = <E extends ServerEvent>(event: E, sequenceNumber: number, streamId?: string): E => {
  const { stream_id: _drop, ...rest } = event as ServerEvent
  return (streamId === undefined ?
    { ...rest, sequence_number: sequenceNumber } :
    { ...rest, sequence_number: sequenceNumber, stream_id: streamId }) as E
}
