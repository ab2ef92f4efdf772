/**
 * A session's request text: the settings serialized once per distinct settings object (not per turn), and the
 * `response.create` frame (delta or full) or HTTP body built around the history's kept serializations.
 *
 * @internal
 */
import type * as Continuation from "@loopwire/protocol/Continuation"
import type { CreateRequest } from "../../ResponsesClient.js"
import type * as History from "./history.js"

/** Per-request settings: every create field except `input` and `previous_response_id`. */
type Settings = Omit<CreateRequest, "input" | "previous_response_id">

const utf8 = (s: string) => Buffer.byteLength(s, "utf8")
const INPUT_OPEN = `,"input":[`

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
    const { input: _i, previous_response_id: _p, stream_id: _s, type: _t, ...rest } = settings as Record<string, unknown>
    lastSettings = settings
    lastSettingsJson = JSON.stringify(rest).slice(1, -1)
    return lastSettingsJson
  }

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

  const laneJson = lane !== undefined ? `,"stream_id":${JSON.stringify(lane)}` : ""
  const create: Frames["create"] = (json, generate, decision, history) => {
    const prefix = `{"type":"response.create"${json === "" ? "" : `,${json}`}${generate ? "" : `,"generate":false`}${laneJson}`
    const fullBytes = utf8(prefix) + INPUT_OPEN.length - 1 + history.fullBytes() + 1
    const frame = decision._tag === "Delta"
      ? `${prefix},"previous_response_id":${JSON.stringify(decision.previous_response_id)},"input":${
        history.json(history.length() - decision.input.length)
      }}`
      : `${prefix},"input":${history.json()}}`
    return { frame, bytes: utf8(frame), fullBytes }
  }

  const httpBody: Frames["httpBody"] = (json, history) => `{${json}${json === "" ? "" : ","}"input":${history.json()}}`

  return { effective, settingsJson, create, httpBody }
}
