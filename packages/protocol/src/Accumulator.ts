/**
 * Folding one response's events into its final Response.
 *
 * The accumulator rebuilds the output from the stream (items by `output_index`, text and argument deltas) and
 * checks the stream while doing so: `sequence_number` must strictly increase, deltas must fit the item they target,
 * and every `.done` event (and `response.output_item.done`) must agree with the deltas before it. The terminal
 * event's Response is the result; if it carries no output, the rebuilt output is used.
 *
 * Sparse streams are accepted, as the `openai` SDK accepts them (protocol.md §9: "socket deltas need not include
 * the setup events required by SSE … finalized items fill an omitted output"): a delta or `.done` event for an item
 * or part that was never announced creates it from what the event says (`item_id`, the part's kind), an
 * `output_item.done` for an unannounced item adds it, and a terminal Response with an empty `output` gets the
 * rebuilt items. Nothing is dropped silently: an item that was only streamed in part and never finalized, and
 * that lacks what makes it usable (a tool call without `name` or `call_id`), fails the fold (`Unfinalized`) when
 * it would have to fill the output.
 *
 * Longer than 300 lines because it has the pure `step` (the reference fold, immutable) and `folder` (the same fold
 * editing its own copies, used per event by the client), which a property test keeps in agreement, and the
 * sparse-stream rules both follow.
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
    "ErrorEvent",
    "Unfinalized"
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

// A copy with one field set. (A literal with a computed key after a spread, `{ ...o, [k]: v }`, is built on V8's slow
// path: several microseconds per delta event, most of the fold's cost on a long stream.)
const withField = (o: Obj, key: string, value: unknown): Obj => {
  const copy: Record<string, unknown> = { ...o }
  copy[key] = value
  return copy
}

// The item an event without its `output_item.added` implies: its kind from the event, its id from `item_id`; the
// fields only an announcement carries (`name`, `call_id`, …) stay absent rather than invented.
const impliedItem = (event: ServerEvent): Obj | undefined => {
  const id = typeof event.item_id === "string" ? { id: event.item_id } : {}
  switch (event.type) {
    case "response.output_text.delta":
    case "response.output_text.done":
    case "response.refusal.delta":
    case "response.refusal.done":
    case "response.output_text.annotation.added":
    case "response.content_part.added":
    case "response.content_part.done":
      return { ...id, type: "message", role: "assistant", status: "in_progress", content: [] }
    case "response.reasoning_text.delta":
    case "response.reasoning_text.done":
      return { ...id, type: "reasoning", summary: [], content: [] }
    case "response.reasoning_summary_part.added":
    case "response.reasoning_summary_part.done":
    case "response.reasoning_summary_text.delta":
    case "response.reasoning_summary_text.done":
      return { ...id, type: "reasoning", summary: [] }
    case "response.function_call_arguments.delta":
    case "response.function_call_arguments.done":
      return { ...id, type: "function_call", status: "in_progress", arguments: "" }
    case "response.custom_tool_call_input.delta":
    case "response.custom_tool_call_input.done":
      return { ...id, type: "custom_tool_call", status: "in_progress", input: "" }
    default:
      return undefined
  }
}

// The part a content or summary event without its `*.part.added` implies.
const impliedPart = (event: ServerEvent): Obj => {
  switch (event.type) {
    case "response.refusal.delta":
    case "response.refusal.done":
      return { type: "refusal", refusal: "" }
    case "response.reasoning_text.delta":
    case "response.reasoning_text.done":
      return { type: "reasoning_text", text: "" }
    case "response.reasoning_summary_text.delta":
    case "response.reasoning_summary_text.done":
      return { type: "summary_text", text: "" }
    default:
      return { type: "output_text", text: "", annotations: [] }
  }
}

const isIndex = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0

const withItem = (
  acc: Accumulator,
  event: ServerEvent,
  index: unknown,
  f: (item: Obj) => Either.Either<Obj, AccumulatorError>
): Either.Either<Accumulator, AccumulatorError> => {
  if (!isIndex(index)) return fail("UnknownOutputIndex", `Invalid output_index ${String(index)}.`, event)
  const item = acc.output[index] ?? impliedItem(event)
  if (item === undefined) return fail("UnknownOutputIndex", `No output item at output_index ${index}.`, event)
  return Either.map(f(item), (next) => {
    const output = acc.output.slice()
    output[index] = next as OutputItem
    return { ...acc, output }
  })
}

const withPart = (
  acc: Accumulator,
  event: ServerEvent,
  field: "content" | "summary",
  f: (part: Obj | undefined, index: number) => Either.Either<Obj, AccumulatorError>
) =>
  withItem(acc, event, event.output_index, (item) => {
    // A reasoning item announced without `content` still takes reasoning text.
    const list = item[field] ?? (field === "content" && item.type === "reasoning" ? [] : undefined)
    const index = field === "summary" ? event.summary_index : event.content_index
    if (!Array.isArray(list) || !isIndex(index)) {
      return fail("WrongTarget", `Item ${String(item.type)} has no '${field}' list for ${event.type}.`, event)
    }
    return Either.map(f(list[index] as Obj | undefined, index), (next) => {
      const copy = list.slice()
      copy[index] = next
      return withField(item, field, copy)
    })
  })

// A part first seen in a `.done` event (no deltas before it) is taken as the event gives it.
const settle = (acc: Accumulator, event: ServerEvent, field: string, kind: "content" | "summary", value: string) =>
  withPart(acc, event, kind, (part) =>
    part === undefined || str(part[field]) === "" ?
      Either.right(withField(part ?? impliedPart(event), field, value)) :
      str(part[field]) === value ?
      Either.right(withField(part, field, value)) :
      fail("Inconsistent", `${event.type}: the full ${field} differs from the deltas received.`, event))

const delta = (acc: Accumulator, event: ServerEvent, field: string, kind: "content" | "summary") =>
  withPart(acc, event, kind, (part) => {
    const base = part ?? impliedPart(event)
    return Either.right(withField(base, field, str(base[field]) + str(event.delta)))
  })

const itemDelta = (acc: Accumulator, event: ServerEvent, field: string, expected: string) =>
  withItem(acc, event, event.output_index, (item) =>
    item.type === expected ?
      Either.right(withField(item, field, str(item[field]) + str(event.delta))) :
      fail("WrongTarget", `${event.type} targets a ${String(item.type)} item.`, event))

const itemDone = (acc: Accumulator, event: ServerEvent, field: string, value: string) =>
  withItem(acc, event, event.output_index, (item) =>
    str(item[field]) === value ?
      Either.right(item) :
      // No deltas before it (they need not be sent): the done event gives the whole value.
      str(item[field]) === "" ?
      Either.right(withField(item, field, value)) :
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
          const x = a[i] as Obj | undefined, y = b[i] as Obj | undefined
          // A hole: nothing was streamed for that part (its deltas began at a later index).
          if (x === undefined) continue
          if (typeof y !== "object" || y === null || x.type !== y.type) return false
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
      const omitted = response.output === undefined || response.output.length === 0
      if (!omitted || acc.output.length === 0) return Either.right({ ...acc, response, final: response })
      // The terminal response omits its output: the rebuilt items fill it, each of them usable.
      const output = acc.output.filter((i): i is OutputItem => i !== undefined)
      for (const item of output as ReadonlyArray<Obj>) {
        const unusable = unusableField(item)
        if (unusable !== undefined) {
          return fail(
            "Unfinalized",
            `${event.type} omits its output, and the ${String(item.type)} item ${String(item.id ?? "")} was streamed without output_item.added or output_item.done: its '${unusable}' is unknown.`,
            event
          )
        }
      }
      const final = { ...response, output }
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
    case "response.output_item.done": {
      // An item never announced nor streamed is added by its done event (sparse streams).
      const index = event.output_index
      if (isIndex(index) && acc.output[index] === undefined) {
        const output = acc.output.slice()
        output[index] = event.item as OutputItem
        return Either.right({ ...acc, output })
      }
      return withItem(acc, event, index, (item) =>
        streamedAgree(item, event.item as Obj) ?
          Either.right(event.item as Obj) :
          fail("Inconsistent", "response.output_item.done differs from the deltas received.", event))
    }
    case "response.content_part.added":
      return withPart(acc, event, "content", () => Either.right(event.part as Obj))
    case "response.content_part.done":
      return withPart(acc, event, "content", (part) =>
        part === undefined || streamedAgree({ type: "message", content: [part] }, {
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
        return Either.right({ ...(part ?? impliedPart(event)), annotations: list })
      })
    case "response.reasoning_summary_part.added":
      return withPart(acc, event, "summary", () => Either.right(event.part as Obj))
    case "response.reasoning_summary_part.done":
      return withPart(acc, event, "summary", (part) =>
        part === undefined || str(part.text) === str((event.part as Obj).text) ?
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

// What a rebuilt item lacks to be used (a tool call must name its tool and carry a call_id), if anything.
const unusableField = (item: Obj): string | undefined => {
  if (item.type !== "function_call" && item.type !== "custom_tool_call") return undefined
  if (typeof item.call_id !== "string") return "call_id"
  if (typeof item.name !== "string") return "name"
  return undefined
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

/**
 * A fold that owns its state, for a consumer that folds one stream and reads the state as it goes (a client's
 * turn): `step` gives the results and errors of {@link step}, but the delta events (text, refusal, reasoning,
 * summary, function-call arguments, custom-tool input) onto an item and part it already has update its own copies
 * in place: each object on the path is copied once (the first time a delta reaches it), not once per event. The
 * objects it was handed (the events' items and parts) are never changed. `current()` is the state so far; a later
 * `step` may change it in place.
 *
 * @since 0.1.0
 * @category folding
 */
export interface Folder {
  /** Applies one event; the error, if it does not apply (the state is then unchanged). */
  readonly step: (event: ServerEvent) => AccumulatorError | undefined
  readonly current: () => Accumulator
}

// The delta events the folder applies in place: [the part list, or undefined for an item field; the field; the
// item type an item delta needs].
const inPlace: Readonly<Record<string, readonly [list: "content" | "summary" | undefined, field: string, type?: string]>> = {
  "response.output_text.delta": ["content", "text"],
  "response.refusal.delta": ["content", "refusal"],
  "response.reasoning_text.delta": ["content", "text"],
  "response.reasoning_summary_text.delta": ["summary", "text"],
  "response.function_call_arguments.delta": [undefined, "arguments", "function_call"],
  "response.custom_tool_call_input.delta": [undefined, "input", "custom_tool_call"]
}

/**
 * A new {@link Folder}, from {@link empty}.
 *
 * @since 0.1.0
 * @category folding
 */
export const folder = (): Folder => {
  let acc: Accumulator = empty
  // The objects this folder made (copies), the only ones it changes in place.
  const owned = new WeakSet<object>()
  const own = <A extends object>(o: A, copy: (o: A) => A): A => {
    if (owned.has(o)) return o
    const c = copy(o)
    owned.add(c)
    return c
  }
  const fast = (event: ServerEvent): boolean => {
    const spec = Object.hasOwn(inPlace, event.type) ? inPlace[event.type] : undefined
    if (spec === undefined || acc.final !== undefined) return false
    const seq = event.sequence_number
    if (typeof seq === "number" && acc.lastSequenceNumber !== undefined && seq <= acc.lastSequenceNumber) return false
    const index = event.output_index
    if (!isIndex(index)) return false
    const item = acc.output[index] as Obj | undefined
    if (item === undefined) return false
    const [listField, field, type] = spec
    let partIndex = 0
    if (listField === undefined) {
      if (item.type !== type) return false
    } else {
      const list = item[listField]
      partIndex = (listField === "summary" ? event.summary_index : event.content_index) as number
      if (!Array.isArray(list) || !isIndex(partIndex)) return false
      const part = list[partIndex]
      if (typeof part !== "object" || part === null) return false
    }
    // Applies: every check `step` makes has passed. Copy what is not ours yet, then change it.
    const next = own(acc as { -readonly [K in keyof Accumulator]: Accumulator[K] }, (o) => ({ ...o }))
    const output = own(next.output as Array<OutputItem | undefined>, (o) => o.slice())
    next.output = output
    if (typeof seq === "number") next.lastSequenceNumber = seq
    const target = own(item as Record<string, unknown>, (o) => ({ ...o }))
    output[index] = target as OutputItem
    if (listField === undefined) {
      target[field] = str(target[field]) + str(event.delta)
    } else {
      const list = own(target[listField] as Array<unknown>, (o) => o.slice())
      target[listField] = list
      const part = own(list[partIndex] as Record<string, unknown>, (o) => ({ ...o }))
      list[partIndex] = part
      part[field] = str(part[field]) + str(event.delta)
    }
    acc = next
    return true
  }
  return {
    step: (event) => {
      if (fast(event)) return undefined
      const result = step(acc, event)
      if (Either.isLeft(result)) return result.left
      acc = result.right
      return undefined
    },
    current: () => acc
  }
}
