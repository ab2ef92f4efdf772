/**
 * The text of a numbered server event, encoded once. A turn's `response.created`, `response.in_progress` and
 * terminal event each echo the Response object, whose `instructions` and `tools` (tens of KB in an agent loop) are
 * the request's: they are serialized once per turn (and `tools` once per tools array, which the decoder shares
 * across turns with the same definitions) and spliced into every echo.
 *
 * @internal
 */
import { type ServerEvent, withEnvelope } from "@loopwire/protocol/ServerEvent"

/** A server event as the gateway handles it: a wire JSON object with a `type`. */
export type WireEvent = { readonly type: string; readonly [key: string]: unknown }

/**
 * One encoded event: its type, its `sequence_number` and its text (written to the socket and the resume log as is).
 *
 * @internal
 */
export interface Frame {
  readonly type: string
  readonly seq: number
  readonly text: string
}

// The JSON of each tools array, by identity: the decoder hands the same array to every turn with the same tools.
const toolsJson = new WeakMap<object, string>()

const jsonOfTools = (tools: object): string => {
  let json = toolsJson.get(tools)
  if (json === undefined) {
    json = JSON.stringify(tools)
    toolsJson.set(tools, json)
  }
  return json
}

/**
 * The echoed settings of one turn: the skeleton's `instructions` and `tools`, as JSON members, computed on first use.
 *
 * @internal
 */
export interface Echo {
  readonly instructions: unknown
  readonly tools: unknown
  members: string | undefined
}

/** @internal */
export const makeEcho = (skeleton: { readonly [key: string]: unknown }): Echo => ({
  instructions: skeleton["instructions"],
  tools: skeleton["tools"],
  members: undefined
})

const membersOf = (echo: Echo): string => {
  if (echo.members !== undefined) return echo.members
  const parts: Array<string> = []
  if (echo.instructions !== undefined) parts.push(`"instructions":${JSON.stringify(echo.instructions)}`)
  if (echo.tools !== undefined) {
    parts.push(
      `"tools":${typeof echo.tools === "object" && echo.tools !== null ? jsonOfTools(echo.tools) : JSON.stringify(echo.tools)}`
    )
  }
  return (echo.members = parts.join(","))
}

/**
 * The JSON size of `settings` (a request without `input`) whose `instructions` and `tools` are `echo`'s: the echo's
 * members, serialized once per turn, plus the rest; the very length of `JSON.stringify(settings)`.
 *
 * @internal
 */
export const settingsBytes = (echo: Echo, settings: { readonly [key: string]: unknown }): number => {
  if (settings["instructions"] !== echo.instructions || settings["tools"] !== echo.tools) {
    return JSON.stringify({ ...settings, input: undefined }).length
  }
  const rest = JSON.stringify({ ...settings, input: undefined, instructions: undefined, tools: undefined })
  const members = membersOf(echo)
  return rest.length + (rest.length > 2 && members !== "" ? 1 : 0) + members.length
}

/**
 * `event` with its envelope (`sequence_number`, and `stream_id` for a named lane), as text. When its `response`
 * carries the turn's own `instructions` and `tools` (the same values), they are spliced from `echo` instead of
 * serialized again (they then come last in `response`; member order carries no meaning in JSON).
 *
 * @internal
 */
export const encode = (event: WireEvent, seq: number, streamId: string | undefined, echo?: Echo | undefined): string => {
  const response = event["response"]
  if (
    echo === undefined || typeof response !== "object" || response === null ||
    (echo.instructions === undefined && echo.tools === undefined)
  ) {
    return JSON.stringify(withEnvelope(event as ServerEvent, seq, streamId))
  }
  const fields = response as { readonly [key: string]: unknown }
  if (fields["instructions"] !== echo.instructions || fields["tools"] !== echo.tools) {
    return JSON.stringify(withEnvelope(event as ServerEvent, seq, streamId))
  }
  const { instructions: _instructions, tools: _tools, ...rest } = fields
  const { response: _response, stream_id: _streamId, sequence_number: _seq, ...top } = event
  const head = JSON.stringify(
    streamId === undefined ? { ...top, sequence_number: seq } : { ...top, sequence_number: seq, stream_id: streamId }
  )
  const body = JSON.stringify(rest)
  const members = membersOf(echo)
  // head is `{...}`, body `{...}`: `{...head,"response":{...body,<members>}}`.
  return `${head.slice(0, -1)},"response":${body.slice(0, -1)}${body.length > 2 && members !== "" ? "," : ""}${members}}}`
}
