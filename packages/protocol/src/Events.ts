/**
 * Cutting a Response into the event sequence a server streams for it (the inverse of the `Accumulator`).
 * Scripted backends and tests use it to stream a known model output.
 *
 * @since 0.1.0
 */
import type { ContentPart, OutputItem } from "./Items.js"
import type { Response } from "./Response.js"
import type { ServerEvent } from "./ServerEvent.js"

/**
 * Options of {@link fromResponse}.
 *
 * @since 0.1.0
 * @category models
 */
export interface FromResponseOptions {
  /** Characters per delta event (default 16). */
  readonly chunkSize?: number | undefined
  /** Emit `response.queued` before `response.created` (default false). */
  readonly queued?: boolean | undefined
}

/**
 * Splits text into chunks of at most `size` code points (no chunk for empty text).
 *
 * @since 0.1.0
 * @category utils
 */
export const chunks = (text: string, size: number): ReadonlyArray<string> => {
  const out: Array<string> = []
  const step = Math.max(1, Math.floor(size))
  // Cut on code points, so a chunk never ends inside a surrogate pair.
  const points = Array.from(text)
  for (let i = 0; i < points.length; i += step) out.push(points.slice(i, i + step).join(""))
  return out
}

const terminalType = (status: Response["status"]) =>
  status === "incomplete" ?
    "response.incomplete" as const :
    status === "failed" || status === "cancelled" ?
    "response.failed" as const :
    "response.completed" as const

/**
 * The skeleton a server announces in `response.created`: the response with status `in_progress`, no output and
 * none of the end-of-response fields (`usage`, `error`, `incomplete_details`, `completed_at`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const skeleton = (response: Response, status: Response["status"] = "in_progress"): Response => {
  const { completed_at: _c, error: _e, incomplete_details: _i, usage: _u, ...rest } = response
  return { ...rest, status, output: [] }
}

/**
 * The events of one output item, from `response.output_item.added` to `response.output_item.done`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromOutputItem = (
  item: OutputItem,
  output_index: number,
  options?: FromResponseOptions
): Array<ServerEvent> => {
  const size = options?.chunkSize ?? 16
  const item_id = typeof item.id === "string" ? item.id : `item_${output_index}`
  const out: Array<ServerEvent> = []
  const at = { item_id, output_index }
  const done: ServerEvent = { type: "response.output_item.done", output_index, item }
  switch (item.type) {
    case "function_call": {
      const args = String(item.arguments)
      out.push({ type: "response.output_item.added", output_index, item: { ...item, arguments: "", status: "in_progress" } })
      for (const delta of chunks(args, size)) out.push({ type: "response.function_call_arguments.delta", ...at, delta })
      out.push({ type: "response.function_call_arguments.done", ...at, arguments: args, name: String(item.name) })
      break
    }
    case "custom_tool_call": {
      const input = String(item.input)
      out.push({ type: "response.output_item.added", output_index, item: { ...item, input: "", status: "in_progress" } })
      for (const delta of chunks(input, size)) out.push({ type: "response.custom_tool_call_input.delta", ...at, delta })
      out.push({ type: "response.custom_tool_call_input.done", ...at, input })
      break
    }
    case "message": {
      const content = item.content
      if (!Array.isArray(content)) {
        out.push({ type: "response.output_item.added", output_index, item })
        break
      }
      out.push({ type: "response.output_item.added", output_index, item: { ...item, status: "in_progress", content: [] } })
      content.forEach((part: ContentPart, content_index: number) => {
        const ids = { ...at, content_index }
        if (part.type === "output_text") {
          const text = String(part.text)
          const annotations = Array.isArray(part.annotations) ? part.annotations : undefined
          const start = annotations === undefined ? { ...part, text: "" } : { ...part, text: "", annotations: [] }
          out.push({ type: "response.content_part.added", ...ids, part: start })
          for (const delta of chunks(text, size)) out.push({ type: "response.output_text.delta", ...ids, delta })
          annotations?.forEach((annotation, annotation_index) =>
            out.push({ type: "response.output_text.annotation.added", ...ids, annotation_index, annotation })
          )
          out.push({ type: "response.output_text.done", ...ids, text })
        } else if (part.type === "refusal") {
          const refusal = String(part.refusal)
          out.push({ type: "response.content_part.added", ...ids, part: { ...part, refusal: "" } })
          for (const delta of chunks(refusal, size)) out.push({ type: "response.refusal.delta", ...ids, delta })
          out.push({ type: "response.refusal.done", ...ids, refusal })
        } else {
          out.push({ type: "response.content_part.added", ...ids, part })
        }
        out.push({ type: "response.content_part.done", ...ids, part })
      })
      break
    }
    case "reasoning": {
      const summary = Array.isArray(item.summary) ? item.summary : []
      const content = Array.isArray(item.content) ? item.content : undefined
      const start = content === undefined ? { ...item, summary: [] } : { ...item, summary: [], content: [] }
      out.push({ type: "response.output_item.added", output_index, item: start })
      summary.forEach((part, summary_index) => {
        const ids = { ...at, summary_index }
        const text = String(part.text)
        out.push({ type: "response.reasoning_summary_part.added", ...ids, part: { ...part, text: "" } })
        for (const delta of chunks(text, size)) out.push({ type: "response.reasoning_summary_text.delta", ...ids, delta })
        out.push({ type: "response.reasoning_summary_text.done", ...ids, text })
        out.push({ type: "response.reasoning_summary_part.done", ...ids, part })
      })
      content?.forEach((part, content_index) => {
        const ids = { ...at, content_index }
        const text = String(part.text)
        out.push({ type: "response.content_part.added", ...ids, part: { ...part, text: "" } })
        for (const delta of chunks(text, size)) out.push({ type: "response.reasoning_text.delta", ...ids, delta })
        out.push({ type: "response.reasoning_text.done", ...ids, text })
        out.push({ type: "response.content_part.done", ...ids, part })
      })
      break
    }
    default:
      out.push({ type: "response.output_item.added", output_index, item })
  }
  out.push(done)
  return out
}

/**
 * The events a server streams for `response`, from `response.created` to its terminal event, without
 * `sequence_number` or `stream_id` (see {@link sequence}). The terminal type follows `response.status`:
 * `incomplete` → `response.incomplete`, `failed`/`cancelled` → `response.failed`, anything else →
 * `response.completed`. Text, arguments and custom tool input are split into deltas of `chunkSize` characters.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (response: Response, options?: FromResponseOptions): Array<ServerEvent> => {
  const out: Array<ServerEvent> = []
  if (options?.queued === true) out.push({ type: "response.queued", response: skeleton(response, "queued") })
  const start = skeleton(response)
  out.push({ type: "response.created", response: start })
  out.push({ type: "response.in_progress", response: start })
  response.output.forEach((item, index) => {
    for (const event of fromOutputItem(item, index, options)) out.push(event)
  })
  out.push({ type: terminalType(response.status), response })
  return out
}

/**
 * Numbers events from `start` (default 0) and tags them with a lane when `streamId` is given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sequence = (
  events: ReadonlyArray<ServerEvent>,
  start = 0,
  streamId?: string | undefined
): Array<ServerEvent> =>
  events.map((event, i) =>
    streamId === undefined ?
      { ...event, sequence_number: start + i } :
      { ...event, sequence_number: start + i, stream_id: streamId }
  )
