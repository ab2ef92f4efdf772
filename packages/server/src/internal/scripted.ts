/**
 * Pure planning for the scripted backend: the events of one output item (with the delay before each), the
 * deterministic ids, and the usage estimate. The service in `ScriptedBackend.ts` only sleeps and emits.
 *
 * @internal
 */
import type { InputItem, OutputItem } from "@loopwire/protocol/Items"
import type { Response, Usage } from "@loopwire/protocol/Response"
import type { ServerEventBody } from "@loopwire/protocol/ServerEvent"
import { createHash } from "node:crypto"
import type * as Scenario from "../Scenario.js"

/** @internal */
export interface Step {
  readonly delayMs: number
  readonly event: ServerEventBody
}

/** @internal */
export interface PlannedItem {
  readonly steps: ReadonlyArray<Step>
  readonly item: OutputItem
  /** Characters the model "generated" for this item (text, arguments or input), for the usage estimate. */
  readonly outputChars: number
}

/**
 * A deterministic id for the `index`-th generated thing of a response: the same (response id, turn, index, kind)
 * always gives the same id, so replaying a turn reproduces its output exactly.
 *
 * @internal
 */
export const deterministicId = (prefix: string, responseId: string, turn: number, index: number, kind: string) =>
  `${prefix}_${createHash("sha256").update(`${responseId}\u0000${turn}\u0000${index}\u0000${kind}`).digest("hex").slice(0, 32)}`

/**
 * Splits `text` into chunks of `size` code points (never splitting a surrogate pair).
 *
 * @internal
 */
export const chunk = (text: string, size: number): ReadonlyArray<string> => {
  if (text === "") return []
  const points = Array.from(text)
  if (points.length <= size) return [text]
  const chunks: Array<string> = []
  for (let i = 0; i < points.length; i += size) chunks.push(points.slice(i, i + size).join(""))
  return chunks
}

/**
 * The events of one scripted output item at position `outputIndex`, in the Responses streaming order.
 *
 * @internal
 */
export const planItem = (
  item: Scenario.OutputItem,
  options: {
    readonly responseId: string
    readonly turn: number
    readonly outputIndex: number
    readonly latency: Scenario.ResolvedLatency
  }
): PlannedItem => {
  const { latency, outputIndex, responseId, turn } = options
  const delta = (event: ServerEventBody): Step => ({ delayMs: latency.deltaDelayMs, event })
  const now = (event: ServerEventBody): Step => ({ delayMs: 0, event })
  switch (item.type) {
    case "message": {
      const id = deterministicId("msg", responseId, turn, outputIndex, "message")
      const part = { type: "output_text" as const, text: item.text, annotations: [] }
      const phase = item.phase === undefined ? {} : { phase: item.phase }
      const final: OutputItem = {
        id,
        type: "message",
        status: "completed",
        role: "assistant",
        content: [part],
        ...phase
      }
      const ref = { item_id: id, output_index: outputIndex, content_index: 0 }
      return {
        item: final,
        outputChars: item.text.length,
        steps: [
          now({
            type: "response.output_item.added",
            output_index: outputIndex,
            item: { id, type: "message", status: "in_progress", role: "assistant", content: [], ...phase }
          }),
          now({ type: "response.content_part.added", ...ref, part: { type: "output_text", text: "", annotations: [] } }),
          ...chunk(item.text, latency.charsPerDelta).map((text) =>
            delta({ type: "response.output_text.delta", ...ref, delta: text, logprobs: [] })
          ),
          now({ type: "response.output_text.done", ...ref, text: item.text, logprobs: [] }),
          now({ type: "response.content_part.done", ...ref, part }),
          now({ type: "response.output_item.done", output_index: outputIndex, item: final })
        ]
      }
    }
    case "function_call": {
      const id = deterministicId("fc", responseId, turn, outputIndex, "item")
      const callId = deterministicId("call", responseId, turn, outputIndex, "call")
      const base = { id, type: "function_call" as const, call_id: callId, name: item.name }
      const final: OutputItem = { ...base, arguments: item.arguments, status: "completed" }
      const ref = { item_id: id, output_index: outputIndex }
      return {
        item: final,
        outputChars: item.name.length + item.arguments.length,
        steps: [
          now({
            type: "response.output_item.added",
            output_index: outputIndex,
            item: { ...base, arguments: "", status: "in_progress" }
          }),
          ...chunk(item.arguments, latency.charsPerDelta).map((text) =>
            delta({ type: "response.function_call_arguments.delta", ...ref, delta: text })
          ),
          now({ type: "response.function_call_arguments.done", ...ref, name: item.name, arguments: item.arguments }),
          now({ type: "response.output_item.done", output_index: outputIndex, item: final })
        ]
      }
    }
    case "custom_tool_call": {
      const id = deterministicId("ctc", responseId, turn, outputIndex, "item")
      const callId = deterministicId("call", responseId, turn, outputIndex, "call")
      const base = { id, type: "custom_tool_call" as const, call_id: callId, name: item.name }
      const final: OutputItem = { ...base, input: item.input, status: "completed" }
      const ref = { item_id: id, output_index: outputIndex }
      return {
        item: final,
        outputChars: item.name.length + item.input.length,
        steps: [
          now({
            type: "response.output_item.added",
            output_index: outputIndex,
            item: { ...base, input: "", status: "in_progress" }
          }),
          ...chunk(item.input, latency.charsPerDelta).map((text) =>
            delta({ type: "response.custom_tool_call_input.delta", ...ref, delta: text })
          ),
          now({ type: "response.custom_tool_call_input.done", ...ref, input: item.input }),
          now({ type: "response.output_item.done", output_index: outputIndex, item: final })
        ]
      }
    }
  }
}

// Items are shared by reference along a chain, so each one is measured once, not once per turn.
const itemSizes = new WeakMap<object, number>()

const itemSize = (item: InputItem): number => {
  if (typeof item !== "object" || item === null) return JSON.stringify(item ?? null).length
  const known = itemSizes.get(item)
  if (known !== undefined) return known
  const size = JSON.stringify(item).length
  itemSizes.set(item, size)
  return size
}

/** Roughly four characters per token, as the usual rule of thumb; deterministic. */
const tokens = (chars: number): number => Math.ceil(chars / 4)

/**
 * A deterministic usage estimate from the sizes of the input (items and instructions) and the generated output.
 *
 * @internal
 */
export const estimateUsage = (
  input: ReadonlyArray<InputItem>,
  instructions: unknown,
  outputChars: number
): Usage => {
  let inputChars = typeof instructions === "string" ? instructions.length : 0
  for (const item of input) inputChars += itemSize(item)
  const input_tokens = tokens(inputChars)
  const output_tokens = tokens(outputChars)
  return {
    input_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input_tokens + output_tokens
  }
}

/**
 * The final Response of a turn.
 *
 * @internal
 */
export const finalResponse = (
  skeleton: Response,
  fields: {
    readonly status: "completed" | "incomplete" | "failed"
    readonly output: ReadonlyArray<OutputItem>
    readonly usage: Usage
    readonly completedAt: number | null
    readonly error?: { readonly code: string; readonly message: string } | undefined
    readonly incompleteReason?: string | undefined
  }
): Response => ({
  ...skeleton,
  status: fields.status,
  output: fields.output,
  usage: fields.usage,
  completed_at: fields.completedAt,
  error: fields.error === undefined ? null : { code: fields.error.code, message: fields.error.message },
  incomplete_details: fields.incompleteReason === undefined ? null : { reason: fields.incompleteReason }
})
