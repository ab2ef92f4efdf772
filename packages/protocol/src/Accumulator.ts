/**
 * Folding one response's events into its final Response.
 *
 * The accumulator rebuilds the output from the stream (items by `output_index`, text and argument deltas) and
 * checks the stream while doing so: `sequence_number` must strictly increase, deltas must target an item and part
 * that exist, and every `.done` event (and `response.output_item.done`) must agree with the deltas before it.
 * The terminal event's Response is the result; if it carries no output, the rebuilt output is used.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { OutputItem } from "./Items.js"
import type { Response } from "./Response.js"
import type { ServerEvent } from "./ServerEvent.js"

/**
 * Why a stream could not be folded.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccumulatorError extends Schema.TaggedError<AccumulatorError>()("AccumulatorError", {
  reason: Schema.Literal(
    "SequenceNotIncreasing",
    "UnknownOutputIndex",
    "UnknownPart",
    "WrongTarget",
    "Inconsistent",
    "AfterTerminal",
    "NotTerminated",
    "ErrorEvent"
  ),
  message: Schema.String,
  eventType: Schema.optional(Schema.String),
  sequenceNumber: Schema.optional(Schema.Number)
}) {}

/**
 * The state of a fold: the latest announced Response, the output rebuilt so far, the last sequence number and,
 * once a terminal event arrived, the final Response.
 *
 * @since 0.1.0
 * @category models
 */
export interface Accumulator {
  readonly response: Response | undefined
  readonly output: ReadonlyArray<OutputItem | undefined>
  readonly lastSequenceNumber: number | undefined
  readonly final: Response | undefined
}

/**
 * The empty state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: Accumulator = { response: undefined, output: [], lastSequenceNumber: undefined, final: undefined }

type Obj = { readonly [k: string]: unknown }

const fail = (
  reason: AccumulatorError["reason"],
  message: string,
  event: ServerEvent
): Either.Either<never, AccumulatorError> =>
  Either.left(
    new AccumulatorError({
      reason,
      message,
      eventType: event.type,
      ...(typeof event.sequence_number === "number" ? { sequenceNumber: event.sequence_number } : {})
    })
  )

const str = (u: unknown): string => (typeof u === "string" ? u : "")

const withItem = (
  acc: Accumulator,
  event: ServerEvent,
  index: unknown,
  f: (item: Obj) => Either.Either<Obj, AccumulatorError>
): Either.Either<Accumulator, AccumulatorError> => {
  const item = typeof index === "number" ? acc.output[index] : undefined
  if (item === undefined) return fail("UnknownOutputIndex", `No output item at output_index ${String(index)}.`, event)
  return Either.map(f(item), (next) => {
    const output = acc.output.slice()
    output[index as number] = next as OutputItem
    return { ...acc, output }
  })
}

const withPart = (
  acc: Accumulator,
  event: ServerEvent,
  field: "content" | "summary",
  f: (part: Obj | undefined, index: number) => Either.Either<Obj, AccumulatorError>,
  create = false
) =>
  withItem(acc, event, event.output_index, (item) => {
    const list = item[field]
    const index = field === "summary" ? event.summary_index : event.content_index
    if (!Array.isArray(list) || typeof index !== "number") {
      return fail("WrongTarget", `Item ${String(item.type)} has no '${field}' list for ${event.type}.`, event)
    }
    const part = list[index] as Obj | undefined
    if (part === undefined && !create) {
      return fail("UnknownPart", `No ${field} part ${index} in output item ${String(event.output_index)}.`, event)
    }
    return Either.map(f(part, index), (next) => {
      const copy = list.slice()
      copy[index] = next
      return { ...item, [field]: copy }
    })
  })

const appendTo = (field: string) => (part: Obj | undefined): Either.Either<Obj, never> =>
  Either.right({ ...part, [field]: str(part?.[field]) })

const settle = (acc: Accumulator, event: ServerEvent, field: string, kind: "content" | "summary", value: string) =>
  withPart(acc, event, kind, (part) =>
    str(part?.[field]) === value ?
      Either.right({ ...part, [field]: value }) :
      fail("Inconsistent", `${event.type}: the full ${field} differs from the deltas received.`, event))

const delta = (acc: Accumulator, event: ServerEvent, field: string, kind: "content" | "summary") =>
  withPart(acc, event, kind, (part) => Either.map(appendTo(field)(part), (p) => ({ ...p, [field]: str(p[field]) + str(event.delta) })))

const itemDelta = (acc: Accumulator, event: ServerEvent, field: string, expected: string) =>
  withItem(acc, event, event.output_index, (item) =>
    item.type === expected ?
      Either.right({ ...item, [field]: str(item[field]) + str(event.delta) }) :
      fail("WrongTarget", `${event.type} targets a ${String(item.type)} item.`, event))

const itemDone = (acc: Accumulator, event: ServerEvent, field: string, value: string) =>
  withItem(acc, event, event.output_index, (item) =>
    str(item[field]) === value ?
      Either.right(item) :
      fail("Inconsistent", `${event.type}: the full ${field} differs from the deltas received.`, event))

// The streamed fields of an item must match between the rebuilt item and the final one.
const streamedAgree = (built: Obj, final: Obj): boolean => {
  if (built.type !== final.type) return false
  switch (final.type) {
    case "function_call":
      return str(built.arguments) === str(final.arguments)
    case "custom_tool_call":
      return str(built.input) === str(final.input)
    case "message":
    case "reasoning": {
      for (const field of ["content", "summary"]) {
        const a = built[field], b = final[field]
        if (!Array.isArray(a) || !Array.isArray(b)) continue
        if (a.length > b.length) return false
        for (let i = 0; i < a.length; i++) {
          const x = a[i] as Obj, y = b[i] as Obj
          if (x.type !== y.type) return false
          if (x.text !== undefined && str(x.text) !== str(y.text)) return false
          if (x.refusal !== undefined && str(x.refusal) !== str(y.refusal)) return false
        }
      }
      return true
    }
    default:
      return true
  }
}

/**
 * Applies one event.
 *
 * @since 0.1.0
 * @category folding
 */
export const step = (acc: Accumulator, event: ServerEvent): Either.Either<Accumulator, AccumulatorError> => {
  if (acc.final !== undefined) return fail("AfterTerminal", `${event.type} arrived after the terminal event.`, event)
  const seq = event.sequence_number
  if (typeof seq === "number") {
    if (acc.lastSequenceNumber !== undefined && seq <= acc.lastSequenceNumber) {
      return fail(
        "SequenceNotIncreasing",
        `sequence_number ${seq} does not follow ${acc.lastSequenceNumber}.`,
        event
      )
    }
    acc = { ...acc, lastSequenceNumber: seq }
  }
  switch (event.type) {
    case "response.queued":
    case "response.created":
    case "response.in_progress":
      return Either.right({ ...acc, response: event.response as Response })
    case "response.completed":
    case "response.incomplete":
    case "response.failed":
    case "response.done": {
      const response = (event.response as Response | undefined) ?? acc.response
      if (response === undefined) return fail("NotTerminated", `${event.type} carries no response.`, event)
      const final = response.output.length === 0 && acc.output.length > 0 ?
        { ...response, output: acc.output.filter((i): i is OutputItem => i !== undefined) } :
        response
      return Either.right({ ...acc, response: final, final })
    }
    case "error":
      return fail("ErrorEvent", `The request failed: ${errorMessage(event)}`, event)
    case "response.output_item.added": {
      const index = event.output_index as number
      const output = acc.output.slice()
      output[index] = event.item as OutputItem
      return Either.right({ ...acc, output })
    }
    case "response.output_item.done":
      return withItem(acc, event, event.output_index, (item) =>
        streamedAgree(item, event.item as Obj) ?
          Either.right(event.item as Obj) :
          fail("Inconsistent", "response.output_item.done differs from the deltas received.", event))
    case "response.content_part.added":
      return withPart(acc, event, "content", () => Either.right(event.part as Obj), true)
    case "response.content_part.done":
      return withPart(acc, event, "content", (part) =>
        part !== undefined && streamedAgree({ type: "message", content: [part] }, {
            type: "message",
            content: [event.part]
          }) ?
          Either.right(event.part as Obj) :
          fail("Inconsistent", "response.content_part.done differs from the deltas received.", event))
    case "response.output_text.delta":
      return delta(acc, event, "text", "content")
    case "response.output_text.done":
      return settle(acc, event, "text", "content", str(event.text))
    case "response.refusal.delta":
      return delta(acc, event, "refusal", "content")
    case "response.refusal.done":
      return settle(acc, event, "refusal", "content", str(event.refusal))
    case "response.reasoning_text.delta":
      return delta(acc, event, "text", "content")
    case "response.reasoning_text.done":
      return settle(acc, event, "text", "content", str(event.text))
    case "response.output_text.annotation.added":
      return withPart(acc, event, "content", (part) => {
        const list = Array.isArray(part?.annotations) ? part.annotations.slice() : []
        list[event.annotation_index as number] = event.annotation
        return Either.right({ ...part, annotations: list })
      })
    case "response.reasoning_summary_part.added":
      return withPart(acc, event, "summary", () => Either.right(event.part as Obj), true)
    case "response.reasoning_summary_part.done":
      return withPart(acc, event, "summary", (part) =>
        str(part?.text) === str((event.part as Obj).text) ?
          Either.right(event.part as Obj) :
          fail("Inconsistent", "response.reasoning_summary_part.done differs from the deltas received.", event))
    case "response.reasoning_summary_text.delta":
      return delta(acc, event, "text", "summary")
    case "response.reasoning_summary_text.done":
      return settle(acc, event, "text", "summary", str(event.text))
    case "response.function_call_arguments.delta":
      return itemDelta(acc, event, "arguments", "function_call")
    case "response.function_call_arguments.done":
      return itemDone(acc, event, "arguments", str(event.arguments))
    case "response.custom_tool_call_input.delta":
      return itemDelta(acc, event, "input", "custom_tool_call")
    case "response.custom_tool_call_input.done":
      return itemDone(acc, event, "input", str(event.input))
    default:
      // Hosted-tool progress, steering, audio and unknown events do not change the output.
      return Either.right(acc)
  }
}

const errorMessage = (event: ServerEvent): string => {
  const nested = event.error as Obj | undefined
  return str(nested?.message ?? event.message) || "unknown error"
}

/**
 * The Response as far as the stream went: the last announced Response with the rebuilt output (the final one once
 * terminated). `undefined` before `response.created`.
 *
 * @since 0.1.0
 * @category folding
 */
export const snapshot = (acc: Accumulator): Response | undefined =>
  acc.final ??
    (acc.response === undefined ?
      undefined :
      { ...acc.response, output: acc.output.filter((i): i is OutputItem => i !== undefined) })

/**
 * Folds a response's events (through its terminal event) into the final Response.
 *
 * @since 0.1.0
 * @category folding
 */
export const fold = (events: Iterable<ServerEvent>): Either.Either<Response, AccumulatorError> => {
  let acc = empty
  let last: ServerEvent | undefined
  for (const event of events) {
    const next = step(acc, event)
    if (Either.isLeft(next)) return Either.left(next.left)
    acc = next.right
    last = event
  }
  if (acc.final === undefined) {
    return Either.left(
      new AccumulatorError({
        reason: "NotTerminated",
        message: "The events ended before a terminal event (response.completed, .incomplete or .failed).",
        ...(last !== undefined ? { eventType: last.type } : {})
      })
    )
  }
  return Either.right(acc.final)
}
