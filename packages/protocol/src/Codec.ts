/**
 * Text frame ⇄ typed event, both directions.
 *
 * Decoding parses the JSON once, dispatches on `type` to that event's schema (no trial of every union member) and
 * validates in one pass. A bad client frame becomes a {@link ClientFrameError} that maps to the 400
 * `invalid_request_error` frame a server sends; an unknown server event type is never an error. Encoding is
 * `JSON.stringify`: the Type side of every schema is the wire shape, so there is nothing to transform.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import type { ClientEvent } from "./ClientEvent.js"
import { invalidStreamIdMessage, isValidStreamId, ResponseCreate, ResponseSteer } from "./ClientEvent.js"
import { describeIssue } from "./internal/issue.js"
import { invalidRequest } from "./ProtocolError.js"
import type { ErrorEnvelope, ServerEvent } from "./ServerEvent.js"
import { schemasByType, UnknownServerEvent } from "./ServerEvent.js"

/**
 * A client frame that is not a valid client event. `param` names the field to fix (`input[2].call_id`), `code`
 * is the error frame's code, `message` says what to do.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientFrameError extends Schema.TaggedError<ClientFrameError>()("ClientFrameError", {
  reason: Schema.Literal("NotJson", "NotObject", "MissingType", "UnknownType", "InvalidField"),
  param: Schema.NullOr(Schema.String),
  code: Schema.NullOr(Schema.String),
  message: Schema.String,
  /** The frame's `type`, when it had a string one (lets a server ignore e.g. `response.processed`). */
  eventType: Schema.optional(Schema.String),
  /** The frame's `stream_id`, when valid, so the error frame is tagged with the lane. */
  streamId: Schema.optional(Schema.String)
}) {}

/**
 * A server frame a client cannot use. Unknown event types are not errors (they decode to `UnknownServerEvent`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerFrameError extends Schema.TaggedError<ServerFrameError>()("ServerFrameError", {
  reason: Schema.Literal("NotJson", "NotObject", "MissingType", "InvalidEvent"),
  param: Schema.NullOr(Schema.String),
  message: Schema.String,
  eventType: Schema.optional(Schema.String)
}) {}

const parseOptions: AST.ParseOptions = { errors: "first" }

const clientDecoders: Record<string, (u: unknown) => Either.Either<ClientEvent, ParseResult.ParseError>> = {
  "response.create": Schema.decodeUnknownEither(ResponseCreate, parseOptions),
  "response.steer": Schema.decodeUnknownEither(ResponseSteer, parseOptions)
}

const serverDecoders: Record<string, (u: unknown) => Either.Either<ServerEvent, ParseResult.ParseError>> = {}
for (const [type, schema] of Object.entries(schemasByType)) {
  serverDecoders[type] = Schema.decodeUnknownEither(schema as Schema.Schema<ServerEvent, unknown>, parseOptions)
}
const decodeUnknownServerEvent = Schema.decodeUnknownEither(UnknownServerEvent, parseOptions)

// A `__proto__` key survives JSON.parse as an own property, but decoding would assign it as a prototype. Frames
// that could hold one (the literal key, or any \u escape that might spell it) are parsed with a reviver that
// finds it; plain frames keep the fast path.
const mayHideProto = (text: string) => text.includes("__proto__") || text.includes("\\u")

const parse = (text: string, dropProto: boolean): { readonly value: unknown; readonly proto: boolean } => {
  if (!mayHideProto(text)) return { value: JSON.parse(text), proto: false }
  let proto = false
  const value = JSON.parse(text, (key, v) => {
    if (key !== "__proto__") return v
    proto = true
    return dropProto ? undefined : v
  })
  return { value, proto }
}

const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const frameError = (
  reason: ClientFrameError["reason"],
  param: string | null,
  code: string | null,
  message: string,
  extra?: { readonly eventType?: string | undefined; readonly streamId?: string | undefined }
) => {
  const fields: ConstructorParameters<typeof ClientFrameError>[0] = { reason, param, code, message }
  return new ClientFrameError({
    ...fields,
    ...(extra?.eventType !== undefined ? { eventType: extra.eventType } : {}),
    ...(extra?.streamId !== undefined ? { streamId: extra.streamId } : {})
  })
}

/**
 * Validates an already-parsed client event (e.g. a JSON body).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeClientEventUnknown = (value: unknown): Either.Either<ClientEvent, ClientFrameError> => {
  if (!isObject(value)) {
    return Either.left(frameError(
      "NotObject",
      null,
      "invalid_type",
      `Each frame must be a JSON object with a 'type' field, but got ${Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`}.`
    ))
  }
  const type = value.type
  if (type === undefined) {
    return Either.left(frameError(
      "MissingType",
      "type",
      "missing_required_parameter",
      "Missing required parameter: 'type'. Set it to 'response.create' or 'response.steer'."
    ))
  }
  if (typeof type !== "string") {
    return Either.left(frameError(
      "MissingType",
      "type",
      "invalid_type",
      "Invalid type for 'type': expected a string such as 'response.create'."
    ))
  }
  const decode = clientDecoders[type]
  if (decode === undefined) {
    return Either.left(frameError(
      "UnknownType",
      "type",
      "unknown_event_type",
      `Invalid value: '${type}'. Supported values are: 'response.create' and 'response.steer'.`,
      { eventType: type }
    ))
  }
  // The lane is checked first and apart: its error has its own documented code and message.
  const streamId = value.stream_id
  if (streamId !== undefined && type === "response.create" && !isValidStreamId(streamId)) {
    return Either.left(frameError("InvalidField", "stream_id", "invalid_stream_id", invalidStreamIdMessage, {
      eventType: type
    }))
  }
  const result = decode(value)
  if (Either.isRight(result)) return Either.right(result.right)
  const problem = describeIssue(result.left.issue)
  return Either.left(frameError("InvalidField", problem.param, problem.code, problem.message, {
    eventType: type,
    streamId: typeof streamId === "string" ? streamId : undefined
  }))
}

/**
 * Decodes one client text frame.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeClientEvent = (text: string): Either.Either<ClientEvent, ClientFrameError> => {
  let parsed: { readonly value: unknown; readonly proto: boolean }
  try {
    parsed = parse(text, false)
  } catch (e) {
    return Either.left(frameError(
      "NotJson",
      null,
      "invalid_json",
      `We could not parse the frame as JSON (${
        e instanceof Error ? e.message : String(e)
      }). Send exactly one JSON object per text frame.`
    ))
  }
  if (parsed.proto) {
    return Either.left(frameError(
      "InvalidField",
      null,
      "invalid_value",
      "The frame contains the key '__proto__', which is not allowed anywhere in an event. Remove it."
    ))
  }
  return decodeClientEventUnknown(parsed.value)
}

/**
 * The 400 `invalid_request_error` frame a server sends for a bad client frame (tagged with the lane when the
 * frame named a valid one).
 *
 * @since 0.1.0
 * @category errors
 */
export const clientFrameErrorToFrame = (error: ClientFrameError): ErrorEnvelope =>
  invalidRequest(error.code, error.message, error.param, error.streamId)

/**
 * Encodes a client event as a text frame.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeClientEvent = (event: ClientEvent): string => JSON.stringify(event)

/**
 * Validates an already-parsed server event. Unknown types decode to `UnknownServerEvent`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeServerEventUnknown = (value: unknown): Either.Either<ServerEvent, ServerFrameError> => {
  if (!isObject(value)) {
    return Either.left(new ServerFrameError({ reason: "NotObject", param: null, message: "The frame is not a JSON object." }))
  }
  const type = value.type
  if (typeof type !== "string") {
    return Either.left(
      new ServerFrameError({ reason: "MissingType", param: "type", message: "The frame has no string 'type'." })
    )
  }
  const decode = serverDecoders[type] ?? decodeUnknownServerEvent
  const result = decode(value)
  if (Either.isRight(result)) return Either.right(result.right)
  const problem = describeIssue(result.left.issue)
  return Either.left(
    new ServerFrameError({ reason: "InvalidEvent", param: problem.param, message: problem.message, eventType: type })
  )
}

/**
 * Decodes one server text frame.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeServerEvent = (text: string): Either.Either<ServerEvent, ServerFrameError> => {
  let value: unknown
  try {
    // A client drops `__proto__` keys rather than failing a server frame over them.
    value = parse(text, true).value
  } catch (e) {
    return Either.left(new ServerFrameError({
      reason: "NotJson",
      param: null,
      message: `The frame is not valid JSON (${e instanceof Error ? e.message : String(e)}).`
    }))
  }
  return decodeServerEventUnknown(value)
}

/**
 * Encodes a server event (or error frame) as a text frame.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeServerEvent = (event: ServerEvent): string => JSON.stringify(event)
