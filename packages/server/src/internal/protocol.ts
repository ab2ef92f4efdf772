/**
 * The gateway's view of the wire: decoding client frames and building the frames the gateway sends, all through
 * `@loopwire/protocol` (so codes and messages are exactly the documented ones).
 *
 * @internal
 */
import type { LoopwireResume, ResponseCreate, ResponseSteer } from "@loopwire/protocol/ClientEvent"
import * as Codec from "@loopwire/protocol/Codec"
import * as FrameLimits from "@loopwire/protocol/FrameLimits"
import * as ProtocolError from "@loopwire/protocol/ProtocolError"
import type { ErrorEnvelope } from "@loopwire/protocol/ServerEvent"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { randomBytes } from "node:crypto"

export type { LoopwireResume, ResponseCreate, ResponseSteer }

/** A decoded client event the gateway acts on; anything else it may ignore. */
export type Decoded =
  | ResponseCreate
  | ResponseSteer
  | LoopwireResume
  | { readonly type: "ignored" }

/**
 * Client event types the gateway accepts and ignores: Codex's fire-and-forget acknowledgement (a compatible
 * server must not fail Codex's turn over it).
 */
const ignoredTypes = new Set(["response.processed"])

/** The structural limits of client frames under a gateway configuration. */
export const frameLimits = (config: {
  readonly maxDepth: number
  readonly maxInputItems: number
  readonly maxStringLength: number
  readonly maxFrameBytes: number
}): FrameLimits.FrameLimits => ({
  maxDepth: config.maxDepth,
  maxInputItems: config.maxInputItems,
  maxStringLength: config.maxStringLength,
  maxFrameBytes: config.maxFrameBytes
})

// Decoded tool definitions by their JSON, process-wide: an agent loop sends the same tens of KB of tools with every
// `response.create`, and they are validated once, not every turn. Hits return the same array, so every turn with
// these tools shares it (and its JSON, `encode.ts`). Bounded in entries and in key bytes; oldest first out.
const toolsMemo = new Map<string, unknown>()
let toolsMemoChars = 0
const toolsMemoMaxEntries = 64
const toolsMemoMaxChars = 8 * 1024 * 1024
// Smaller definitions decode about as fast as they serialize: not worth an entry.
const toolsMemoMinChars = 1024

const remember = (key: string, tools: unknown): void => {
  if (key.length > toolsMemoMaxChars) return
  toolsMemo.set(key, tools)
  toolsMemoChars += key.length
  while (toolsMemo.size > toolsMemoMaxEntries || toolsMemoChars > toolsMemoMaxChars) {
    const oldest = toolsMemo.keys().next().value!
    toolsMemo.delete(oldest)
    toolsMemoChars -= oldest.length
  }
}

// The raw (parsed, never shared) tool arrays of the last hits, most recent first: a frame whose tools equal one of
// them, key order included, is a hit without serializing its tools (the memo key). Equal JSON values have equal
// serializations, so this answers what the memo would.
interface RecentTools {
  readonly raw: ReadonlyArray<unknown>
  readonly key: string
}
const recentTools: Array<RecentTools> = []
const recentToolsMax = 8

const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ka = Object.keys(a), kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!
    if (k !== kb[i] || !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false
  }
  return true
}

const recentKeyOf = (tools: ReadonlyArray<unknown>): string | undefined => {
  for (let i = 0; i < recentTools.length; i++) {
    const recent = recentTools[i]!
    if (sameJson(tools, recent.raw)) {
      if (i > 0) {
        recentTools.splice(i, 1)
        recentTools.unshift(recent)
      }
      return recent.key
    }
  }
  return undefined
}

const rememberRecent = (raw: ReadonlyArray<unknown>, key: string): void => {
  recentTools.unshift({ raw, key })
  if (recentTools.length > recentToolsMax) recentTools.pop()
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

// `Codec.decodeClientEvent`, with the tools of a `response.create` looked up in the memo. The structural limits are
// checked on the whole frame first (so the serialization of `tools` is bounded); a frame that breaks them, or is not
// a create with tools, takes the codec's own path and gets its exact error.
const decodeClientEvent = (text: string, limits: FrameLimits.FrameLimits) => {
  if (FrameLimits.utf8LengthOver(text, limits.maxFrameBytes) !== undefined) return Codec.decodeClientEvent(text, limits)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Codec.decodeClientEvent(text, limits)
  }
  if (!isRecord(value) || value["type"] !== "response.create" || !Array.isArray(value["tools"])) {
    return Codec.decodeClientEventUnknown(value, limits)
  }
  if (FrameLimits.check(value, limits, false) !== undefined) return Codec.decodeClientEventUnknown(value, limits)
  const rawTools = value["tools"] as ReadonlyArray<unknown>
  const recentKey = recentKeyOf(rawTools)
  const key = recentKey ?? JSON.stringify(rawTools)
  if (key.length < toolsMemoMinChars) return Codec.decodeClientEventUnknown(value, limits)
  const known = toolsMemo.get(key)
  if (known === undefined) {
    const result = Codec.decodeClientEventUnknown(value, limits)
    if (Either.isRight(result)) {
      remember(key, (result.right as { readonly tools?: unknown }).tools)
      if (recentKey === undefined) rememberRecent(rawTools, key)
    }
    return result
  }
  if (recentKey === undefined) rememberRecent(rawTools, key)
  toolsMemo.delete(key)
  toolsMemo.set(key, known)
  const { tools: _tools, ...rest } = value
  return Either.map(Codec.decodeClientEventUnknown(rest, limits), (event) => ({ ...event, tools: known }) as typeof event)
}

/** Decodes one text frame: the event, or the 400 error frame to answer. */
export const decode = (text: string, limits: FrameLimits.FrameLimits): Either.Either<Decoded, ErrorEnvelope> => {
  const result = decodeClientEvent(text, limits)
  if (Either.isRight(result)) {
    const event = result.right
    if (event.type === "response.create" || event.type === "response.steer" || event.type === "loopwire.resume") {
      return Either.right(event as Decoded)
    }
    return Either.right({ type: "ignored" })
  }
  const error = result.left
  if (error.reason === "UnknownType" && error.eventType !== undefined && ignoredTypes.has(error.eventType)) {
    return Either.right({ type: "ignored" })
  }
  return Either.left(Codec.clientFrameErrorToFrame(error))
}

export const streamLimitReached = (streamId: string, maxLanes: number): ErrorEnvelope =>
  ProtocolError.websocketStreamLimitReached(maxLanes, streamId)

export const connectionLimitReached = (age: Duration.DurationInput): ErrorEnvelope =>
  ProtocolError.websocketConnectionLimitReached(Math.round(Duration.toMinutes(Duration.decode(age))))

export const steerFailed = (
  steer: ResponseSteer,
  code: ProtocolError.SteerErrorCode,
  streamId: string | undefined
) => ProtocolError.steerFailed({ code, previousResponseId: steer.previous_response_id, input: steer.input, streamId })

/** A `response.steer.failed` for a steer that was accepted (it has an id) and will not be applied. */
export const steerFailedFor = (
  previousResponseId: string,
  steer: { readonly id: string; readonly items: ReadonlyArray<unknown> },
  message: string
) =>
  ProtocolError.steerFailed({
    code: "response_not_found",
    previousResponseId,
    input: steer.items,
    steerId: steer.id,
    message
  })

/** A fresh steer id. */
export const steerId = (): string => `steer_${randomBytes(12).toString("hex")}`

export const serverError = (streamId?: string): ErrorEnvelope =>
  ProtocolError.errorFrame({
    status: 500,
    type: "server_error",
    code: "server_error",
    message: "The server had an error while processing your request.",
    param: null,
    streamId
  })

export const previousResponseNotFound = ProtocolError.previousResponseNotFound

export const errorFrame = ProtocolError.errorFrame

export const unknownCallId = (callId: string, streamId?: string): ErrorEnvelope =>
  ProtocolError.invalidRequest(
    null,
    `No tool call found for function call output with call_id ${callId}.`,
    "input",
    streamId
  )

export const backgroundUnsupported = (streamId?: string): ErrorEnvelope =>
  ProtocolError.invalidRequest(
    "unsupported_parameter",
    "Background mode is not supported by this gateway: 'background' must be false or omitted.",
    "background",
    streamId
  )

export const streamIdOverHttp = (): ErrorEnvelope =>
  ProtocolError.invalidRequest(
    "unsupported_parameter",
    "The 'stream_id' field is only supported in WebSocket mode.",
    "stream_id"
  )

export const tooManyQueued = (limit: number, streamId?: string): ErrorEnvelope =>
  ProtocolError.errorFrame({
    status: 429,
    type: "rate_limit_error",
    code: "too_many_queued_responses",
    message:
      `This WebSocket connection already has ${limit} queued responses. Wait for responses to finish before sending more.`,
    param: null,
    streamId
  })

/** WebSocket mode: the connection's error budget is spent; it is closed (1008) after this frame. */
export const tooManyErrors = (burst: number, rate: number): ErrorEnvelope =>
  ProtocolError.errorFrame({
    status: 429,
    type: "rate_limit_error",
    code: "too_many_errors",
    message: `This connection sent too many invalid or refused frames (more than ${burst} at once, or ${rate} per second ` +
      `after that); it is closed.`,
    param: null
  })

/** A create that would make the gateway hold more request bytes than a budget allows (429). */
export const requestBytesLimitReached = (budget: string, limit: number, streamId?: string): ErrorEnvelope =>
  ProtocolError.errorFrame({
    status: 429,
    type: "rate_limit_error",
    code: "request_bytes_limit_reached",
    message: `The ${budget} already holds requests close to its budget of ${limit} bytes. Wait for responses to ` +
      `finish before sending more.`,
    param: null,
    streamId
  })

/** HTTP mode: a request body over the limit (413). */
export const bodyTooLarge = (maxBytes: number): ErrorEnvelope =>
  ProtocolError.errorFrame({
    status: 413,
    type: "invalid_request_error",
    code: "request_too_large",
    message: `The request body is larger than ${maxBytes} bytes.`,
    param: null
  })

export const invalidBody = (message: string): ErrorEnvelope => ProtocolError.invalidRequest("invalid_json", message, null)
