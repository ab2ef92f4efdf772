/**
 * Pure planning for the scripted backend: the events of one output item (with the delay before each), the
 * deterministic ids, and the usage estimate. The service in `ScriptedBackend.ts` only sleeps and emits.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as ChainContext from "../ChainContext.js"
import type { InputItem, OutputItem } from "@loopwire/protocol/Items"
import type { Response, Usage } from "@loopwire/protocol/Response"
import * as Events from "@loopwire/protocol/Events"
import type { ServerEventBody } from "@loopwire/protocol/ServerEvent"
import { createHash } from "node:crypto"
import type * as Scenario from "../Scenario.js"
import { isModelOutput } from "./chain.js"

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
export const deterministicId = (prefix: string, responseId: string, turn: number, index: number, kind: string) => {
  const digest = createHash("sha256").update(`${responseId}\u0000${turn}\u0000${index}\u0000${kind}`).digest("hex")
  return `${prefix}_${digest.slice(0, 32)}`
}

/**
 * The final output item for a scripted item at position `outputIndex`, with deterministic ids.
 *
 * @internal
 */
export const outputItem = (
  item: Scenario.OutputItem,
  options: { readonly responseId: string; readonly turn: number; readonly outputIndex: number }
): OutputItem => {
  const { outputIndex, responseId, turn } = options
  switch (item.type) {
    case "message":
      return {
        id: deterministicId("msg", responseId, turn, outputIndex, "message"),
        type: "message",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: item.text, annotations: [] }],
        ...(item.phase === undefined ? {} : { phase: item.phase })
      }
    case "function_call":
      return {
        id: deterministicId("fc", responseId, turn, outputIndex, "item"),
        type: "function_call",
        status: "completed",
        call_id: deterministicId("call", responseId, turn, outputIndex, "call"),
        name: item.name,
        arguments: item.arguments
      }
    case "custom_tool_call":
      return {
        id: deterministicId("ctc", responseId, turn, outputIndex, "item"),
        type: "custom_tool_call",
        status: "completed",
        call_id: deterministicId("call", responseId, turn, outputIndex, "call"),
        name: item.name,
        input: item.input
      }
  }
}

const generatedChars = (item: Scenario.OutputItem): number => {
  switch (item.type) {
    case "message":
      return item.text.length
    case "function_call":
      return item.name.length + item.arguments.length
    case "custom_tool_call":
      return item.name.length + item.input.length
  }
}

/**
 * The events of one scripted output item at position `outputIndex`, in the Responses streaming order (cut by the
 * protocol's `Events.fromOutputItem`), each delta preceded by the per-delta delay.
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
  const final = outputItem(item, options)
  const events = Events.fromOutputItem(final, options.outputIndex, { chunkSize: options.latency.charsPerDelta })
  return {
    item: final,
    outputChars: generatedChars(item),
    steps: events.map((event) => ({
      delayMs: event.type.endsWith(".delta") ? options.latency.deltaDelayMs : 0,
      event
    }))
  }
}

/**
 * An item's steps as groups due at the same time: a group starts at a step with a delay (waited first) and takes
 * the undelayed steps after it.
 *
 * @internal
 */
export const groupSteps = (
  steps: ReadonlyArray<Step>
): ReadonlyArray<{ readonly delayMs: number; readonly events: Chunk.Chunk<ServerEventBody> }> => {
  const groups: Array<{ delayMs: number; events: Array<ServerEventBody> }> = []
  for (const step of steps) {
    const current = groups[groups.length - 1]
    if (current === undefined || step.delayMs > 0) groups.push({ delayMs: step.delayMs, events: [step.event] })
    else current.events.push(step.event)
  }
  return groups.map((group) => ({ delayMs: group.delayMs, events: Chunk.unsafeFromArray(group.events) }))
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
  input: ReadonlyArray<InputItem> | ChainContext.ChainContext,
  instructions: unknown,
  outputChars: number
): Usage => {
  let inputChars = typeof instructions === "string" ? instructions.length : 0
  // A gateway context carries its size: O(1), not a walk over the history.
  if (ChainContext.isChainContext(input)) inputChars += input.bytes
  else for (const item of input) inputChars += itemSize(item)
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

type Loose = { readonly [key: string]: unknown }

const messageText = (item: Loose): string | undefined => {
  const content = item.content
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return undefined
  let text = ""
  for (const part of content as ReadonlyArray<Loose>) {
    if (typeof part === "object" && part !== null && typeof part.text === "string") text += part.text
  }
  return text
}

// Whether a history item is what the scripted item generates (ids differ per response, content does not).
const generates = (scripted: Scenario.OutputItem, item: Loose): boolean => {
  if (item.type !== scripted.type && !(scripted.type === "message" && item.type === undefined)) return false
  switch (scripted.type) {
    case "message":
      return messageText(item) === scripted.text
    case "function_call":
      return item.name === scripted.name && item.arguments === scripted.arguments
    case "custom_tool_call":
      return item.name === scripted.name && item.input === scripted.input
  }
}

// Whether `run` (a history's run of model items) is part of the scripted turn, but not all of it: every item of
// the run is one the turn generates, and some item of the turn is missing. A run of other items (a history this
// scenario did not write) is not partial: it counts as a turn, as before.
const isPartOf = (turn: Scenario.Turn, run: ReadonlyArray<Loose>): boolean =>
  run.every((item) => turn.output.some((scripted) => generates(scripted, item))) &&
  turn.output.some((scripted) => !run.some((item) => generates(scripted, item)))

/**
 * The scenario turn a full resend asks for. Each run of model items in the history is matched, in order, against
 * the scenario's turns: a run holding only some of its turn's items is a turn cut mid-response and resent as far
 * as the client got it (Codex does so), and that turn is generated again, as a real model would redo it;
 * otherwise the turn after the last run. Runs past the scenario's turns count as turns (of the fallback answer).
 * O(history), as a full resend is.
 *
 * @internal
 */
export const turnOfHistory = (scenario: Scenario.Scenario, history: ReadonlyArray<InputItem>): number => {
  let turn = 0
  let run: Array<Loose> = []
  const closeRun = (): boolean => {
    if (run.length === 0) return true
    const scripted = scenario.turns[turn]
    if (scripted !== undefined && isPartOf(scripted, run)) return false
    turn++
    run = []
    return true
  }
  for (const item of history as ReadonlyArray<Loose>) {
    if (typeof item === "object" && item !== null && isModelOutput(item as never)) {
      run.push(item)
    } else if (!closeRun()) {
      return turn
    }
  }
  closeRun()
  return turn
}
