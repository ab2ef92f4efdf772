/**
 * The `response.create` encoder: the one place a create is written as text, for every sender (the client's
 * sessions and one-off requests, the upstream hop through the client, the conformance kit). A caller that sends the
 * same settings every turn serializes them once (`settingsJson`) and the input items once each, and the frame is
 * concatenated from those pieces: a turn costs O(new input), not a `JSON.stringify` of 30 KB of tools and
 * instructions.
 *
 * @internal
 */

/** Fields that the encoder writes itself, so never from the settings. @internal */
const own = new Set(["type", "input", "previous_response_id", "stream_id", "generate"])

/**
 * A create's settings as JSON object fields without the braces (`"model":"m","tools":[…]`), without the fields
 * the encoder writes itself (`type`, `input`, `previous_response_id`, `stream_id`, `generate`).
 *
 * @internal
 */
export const settingsJson = (settings: object): string => {
  let json = ""
  for (const key in settings) {
    if (!Object.prototype.hasOwnProperty.call(settings, key) || own.has(key)) continue
    const value = (settings as Record<string, unknown>)[key]
    const text = value === undefined ? undefined : JSON.stringify(value)
    if (text === undefined) continue // as JSON.stringify drops undefined and function fields
    json += (json === "" ? "" : ",") + JSON.stringify(key) + ":" + text
  }
  return json
}

/** @internal */
export interface Parts {
  /** From `settingsJson`. */
  readonly settings: string
  readonly generate?: boolean | undefined
  readonly streamId?: string | undefined
  readonly previousResponseId?: string | null | undefined
  /** The input as JSON (an array, or a string's JSON); undefined: no `input` field. */
  readonly input?: string | undefined
}

/** Everything before the `input` field (the frame's fixed part for a given settings, lane and parent). @internal */
export const head = (parts: Omit<Parts, "input">): string =>
  `{"type":"response.create"${parts.settings === "" ? "" : `,${parts.settings}`}${
    parts.generate === undefined ? "" : `,"generate":${parts.generate}`
  }${parts.streamId === undefined ? "" : `,"stream_id":${JSON.stringify(parts.streamId)}`}${
    parts.previousResponseId === undefined ? "" : `,"previous_response_id":${JSON.stringify(parts.previousResponseId)}`
  }`

/** @internal */
export const encode = (parts: Parts): string =>
  parts.input === undefined ? `${head(parts)}}` : `${head(parts)},"input":${parts.input}}`
