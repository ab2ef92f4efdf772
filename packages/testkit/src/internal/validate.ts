/**
 * Pure judgements of what a server sent: each returns `undefined` when the frames conform, or a sentence saying
 * what is wrong.
 *
 * @internal
 */
import * as Accumulator from "@loopwire/protocol/Accumulator"
import type { Response } from "@loopwire/protocol/Response"
import { isResponseTerminal, isTerminal } from "@loopwire/protocol/ServerEvent"
import * as Either from "effect/Either"
import type { Frame } from "./probe.js"

const show = (value: unknown): string => (value === undefined ? "absent" : JSON.stringify(value))

/**
 * One response's frames: `response.created` first (after an optional `response.queued`), exactly one terminal
 * event and it is the last, the created and terminal response ids agree. With `success`, the terminal must be a
 * response terminal (`response.completed|incomplete|failed`), not an `error`.
 *
 * @internal
 */
export const responseStream = (
  frames: ReadonlyArray<Frame>,
  options: { readonly success: boolean; readonly what: string }
): string | undefined => {
  if (frames.length === 0) return `${options.what}: no events`
  let start = 0
  if (frames[0]!.event.type === "response.queued") start = 1
  const first = frames[start]
  if (first === undefined || first.event.type !== "response.created") {
    if (frames[0]!.event.type === "error") return `${options.what}: rejected with an error frame: ${frames[0]!.text}`
    return `${options.what}: the first event is '${first?.event.type ?? frames[0]!.event.type}', expected 'response.created' (§3.3)`
  }
  const terminals = frames.filter((frame) => isTerminal(frame.event))
  if (terminals.length !== 1) {
    return `${options.what}: ${terminals.length} terminal events (${terminals.map((f) => f.event.type).join(", ")}), expected exactly one (§3.3)`
  }
  const last = frames[frames.length - 1]!
  if (!isTerminal(last.event)) {
    return `${options.what}: the terminal event is followed by '${last.event.type}'; nothing may follow it (§3.3)`
  }
  if (options.success && !isResponseTerminal(last.event)) {
    return `${options.what}: ended with an error frame instead of a response terminal event: ${last.text}`
  }
  const createdId = (first.event as { response?: Response }).response?.id
  if (isResponseTerminal(last.event) && last.event.response.id !== createdId) {
    return `${options.what}: 'response.created' announced id ${show(createdId)} but '${last.event.type}' carries ${show(last.event.response.id)}`
  }
  for (const frame of frames.slice(start + 1, -1)) {
    if (frame.event.type === "response.created" || frame.event.type === "response.queued") {
      return `${options.what}: a second '${frame.event.type}' inside one response (frame #${frame.index})`
    }
  }
  return undefined
}

/**
 * Every event carries an integer `sequence_number`, strictly increasing within the response.
 *
 * @internal
 */
export const sequenceNumbers = (frames: ReadonlyArray<Frame>, what: string): string | undefined => {
  let previous: number | undefined
  for (const frame of frames) {
    const n = frame.json.sequence_number
    if (typeof n !== "number" || !Number.isInteger(n)) {
      return `${what}: '${frame.event.type}' (frame #${frame.index}) has sequence_number ${show(n)}, expected an integer (§3.3)`
    }
    if (previous !== undefined && n <= previous) {
      return `${what}: sequence_number ${n} of '${frame.event.type}' (frame #${frame.index}) does not increase on the previous ${previous} (§3.3)`
    }
    previous = n
  }
  return undefined
}

/**
 * Every event of a named lane echoes its `stream_id`; default-lane events carry none.
 *
 * @internal
 */
export const laneEcho = (frames: ReadonlyArray<Frame>, lane: string | undefined, what: string): string | undefined => {
  for (const frame of frames) {
    const echoed = frame.json.stream_id
    if (lane === undefined && echoed !== undefined) {
      return `${what}: default-lane event '${frame.event.type}' (frame #${frame.index}) carries stream_id ${show(echoed)}; default-lane events carry none (§3.1)`
    }
    if (lane !== undefined && echoed !== lane) {
      return `${what}: event '${frame.event.type}' (frame #${frame.index}) has stream_id ${show(echoed)}, expected ${show(lane)} (§5.1: every event of a named lane echoes it)`
    }
  }
  return undefined
}

/**
 * The deltas and `done` events fold (protocol `Accumulator`) into the terminal response without contradiction.
 *
 * @internal
 */
export const accumulates = (frames: ReadonlyArray<Frame>, what: string): string | undefined => {
  const folded = Accumulator.fold(frames.map((frame) => frame.event))
  return Either.isLeft(folded) ? `${what}: the events do not add up (${folded.left.reason}): ${folded.left.message}` : undefined
}

/**
 * The expected fields of an `error` envelope frame.
 *
 * @internal
 */
export interface ExpectedError {
  readonly status: number
  readonly type?: string | undefined
  readonly code?: string | null | undefined
  readonly param?: string | null | undefined
  readonly message?: string | undefined
  /** A lane name: must be echoed; `null`: must be absent; `undefined`: not checked. */
  readonly streamId?: string | null | undefined
}

/**
 * An `error` envelope frame (`{ type: "error", status, error: { type, code, message, param } }`, §3.4) with the
 * expected fields.
 *
 * @internal
 */
export const errorFrame = (frame: Frame, expected: ExpectedError, what: string): string | undefined => {
  const json = frame.json
  if (json.type !== "error") return `${what}: expected an 'error' frame, got '${String(json.type)}': ${frame.text}`
  const problems: Array<string> = []
  if (json.status !== expected.status) problems.push(`status ${show(json.status)} (expected ${expected.status})`)
  const error = json.error
  if (typeof error !== "object" || error === null) {
    problems.push("no 'error' object (the envelope form of §3.4 is required)")
  } else {
    const body = error as Record<string, unknown>
    if (expected.type !== undefined && body.type !== expected.type) {
      problems.push(`error.type ${show(body.type)} (expected ${show(expected.type)})`)
    }
    if (expected.code !== undefined && body.code !== expected.code) {
      problems.push(`error.code ${show(body.code)} (expected ${show(expected.code)})`)
    }
    if (expected.param !== undefined && body.param !== expected.param) {
      problems.push(`error.param ${show(body.param)} (expected ${show(expected.param)})`)
    }
    if (expected.message !== undefined && body.message !== expected.message) {
      problems.push(`error.message ${show(body.message)} (expected ${show(expected.message)})`)
    }
    if (typeof body.message !== "string") problems.push("error.message is not a string")
  }
  if (expected.streamId === null && json.stream_id !== undefined) {
    problems.push(`stream_id ${show(json.stream_id)} on a default-lane error (expected none)`)
  }
  if (typeof expected.streamId === "string" && json.stream_id !== expected.streamId) {
    problems.push(`stream_id ${show(json.stream_id)} (expected the lane ${show(expected.streamId)} to be echoed)`)
  }
  return problems.length === 0 ? undefined : `${what}: ${problems.join("; ")}`
}

/**
 * The final Response of a response's frames (its terminal event), if any.
 *
 * @internal
 */
export const finalResponse = (frames: ReadonlyArray<Frame>): Response | undefined => {
  const last = frames[frames.length - 1]
  return last !== undefined && isResponseTerminal(last.event) ? last.event.response : undefined
}
