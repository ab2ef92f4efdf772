/**
 * A session's request text: the settings serialized once per distinct settings object (not per turn), and the
 * `response.create` frame (delta or full) or HTTP body built around the history's kept serializations, by the
 * protocol's one create encoder (`Codec.encodeCreateParts`).
 *
 * @internal
 */
import * as Codec from "@loopwire/protocol/Codec"
import type * as Continuation from "@loopwire/protocol/Continuation"
import type { CreateRequest } from "../../ResponsesClient.js"
import type * as History from "./history.js"

/** Per-request settings: every create field except `input` and `previous_response_id`. */
type Settings = Omit<CreateRequest, "input" | "previous_response_id">

const utf8 = (s: string) => Buffer.byteLength(s, "utf8")
const INPUT_FIELD = `,"input":`.length
const TYPE_FIELD = `{"type":"response.create",`

/** @internal */
export interface Built {
  readonly frame: string
  readonly bytes: number
  /** What the same request would have cost as a full resend. */
  readonly fullBytes: number
}

/** @internal */
export interface Frames {
  /** The session's settings with a turn's override merged in (merged once per distinct override). */
  readonly effective: (override: Settings | undefined) => Settings
  /** The settings' fields as JSON without the braces (serialized once per distinct settings object). */
  readonly settingsJson: (settings: Settings) => string
  /** The `response.create` frame for `decision` (a delta's items are the history's last ones). */
  readonly create: (
    settingsJson: string,
    settings: Settings,
    generate: boolean,
    decision: Continuation.Decision,
    history: History.History
  ) => Built
  /** The HTTP body of a stateless request: the settings and the full history. */
  readonly httpBody: (settingsJson: string, history: History.History) => string
}

/** @internal */
export const make = (base: Settings | undefined, lane: string | undefined): Frames => {
  let lastSettings: Settings | undefined
  let lastSettingsJson = ""
  const settingsJson = (settings: Settings): string => {
    if (settings === lastSettings) return lastSettingsJson
    lastSettings = settings
    lastSettingsJson = Codec.encodeCreateSettings(settings)
    lastSettingsBytes = utf8(lastSettingsJson)
    return lastSettingsJson
  }
  let lastSettingsBytes = 0
  // The UTF-8 size a create's settings add to it (`,` and the fields), measured once per settings.
  const settingsBytes = (json: string): number =>
    json === "" ? 0 : 1 + (json === lastSettingsJson ? lastSettingsBytes : utf8(json))

  let lastOverride: Settings | undefined
  let lastMerged: Settings = base ?? {}
  const effective = (override: Settings | undefined): Settings => {
    if (override === undefined) return base ?? {}
    if (override !== lastOverride) {
      lastOverride = override
      lastMerged = base === undefined ? override : { ...base, ...override }
    }
    return lastMerged
  }

  // The settings' own `generate` goes out as given; a prewarm sends `false`.
  const create: Frames["create"] = (json, settings, generate, decision, history) => {
    const head = {
      settings: json,
      generate: generate ? (typeof settings.generate === "boolean" ? settings.generate : undefined) : false,
      streamId: lane
    }
    // Sizes without re-measuring the settings (the frame is the frame without them, plus them).
    const bare = { ...head, settings: "" }
    const settingsSize = settingsBytes(json)
    // `,"input":` and the closing brace around the history's JSON.
    const fullBytes = utf8(Codec.encodeCreateHead(bare)) + settingsSize + INPUT_FIELD + history.fullBytes() + 1
    const rest = decision._tag === "Delta"
      ? { previousResponseId: decision.previous_response_id, input: history.json(history.length() - decision.input.length) }
      : { input: history.json() }
    const frame = Codec.encodeCreateParts({ ...head, ...rest })
    return { frame, bytes: utf8(Codec.encodeCreateParts({ ...bare, ...rest })) + settingsSize, fullBytes }
  }

  // The HTTP body: a create without `type` (the same encoder, its leading `"type"` field dropped).
  const httpBody: Frames["httpBody"] = (json, history) =>
    `{${Codec.encodeCreateParts({ settings: json, input: history.json() }).slice(TYPE_FIELD.length)}`

  return { effective, settingsJson, create, httpBody }
}
