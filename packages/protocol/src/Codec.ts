/**
 * Text frame ⇄ typed event, both directions.
 *
 * Decoding parses the JSON once, dispatches on `type` to that event's schema (no trial of every union member) and
 * validates in one pass. A bad client frame becomes a {@link ClientFrameError} that maps to the 400
 * `invalid_request_error` frame a server sends; an unknown server event type is never an error. Encoding is
 * `JSON.stringify`: the Type side of every schema is the wire shape, so there is nothing to transform.
 *
 * Longer than 300 lines because it is both directions of the wire (client and server events, decode and encode) and
 * the error frames for each decode failure; each function is short and plain.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import type { ClientEvent } from "./ClientEvent.js"
import { invalidStreamIdMessage, isValidStreamId, LoopwireResume, ResponseCreate, ResponseSteer } from "./ClientEvent.js"
import * as FrameLimits from "./FrameLimits.js"
import * as CreateFrame from "./internal/createFrame.js"
import { fastGuards } from "./internal/guards.js"
import { describeIssue } from "./internal/issue.js"
import * as Shallow from "./internal/shallow.js"
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
  reason: Schema.Literal("NotJson", "NotObject", "MissingType", "UnknownType", "InvalidField", "LimitExceeded"),
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
  reason: Schema.Literal("NotJson", "NotObject", "MissingType", "InvalidEvent", "LimitExceeded"),
  param: Schema.NullOr(Schema.String),
  message: Schema.String,
  eventType: Schema.optional(Schema.String)
}) {}

const parseOptions: AST.ParseOptions = { errors: "first" }

const clientDecoders: Record<string, (u: unknown) => Either.Either<ClientEvent, ParseResult.ParseError>> = {
  "response.create": Schema.decodeUnknownEither(ResponseCreate, parseOptions),
  "response.steer": Schema.decodeUnknownEither(ResponseSteer, parseOptions),
  "loopwire.resume": Schema.decodeUnknownEither(LoopwireResume, parseOptions)
}

const serverDecoders: Record<string, (u: unknown) => Either.Either<ServerEvent, ParseResult.ParseError>> = {}
for (const [type, schema] of Object.entries(schemasByType)) {
  serverDecoders[type] = Schema.decodeUnknownEither(schema as Schema.Schema<ServerEvent, unknown>, parseOptions)
}
const decodeUnknownServerEvent = Schema.decodeUnknownEither(UnknownServerEvent, parseOptions)

// Guards over the same schemas: their Type side is the wire JSON, so a value they accept is its own decoding.
const serverGuards: Record<string, (u: unknown) => boolean> = {}
for (const [type, schema] of Object.entries(schemasByType)) {
  serverGuards[type] = Schema.is(schema as Schema.Schema<ServerEvent, unknown>)
}
const isUnknownServerEvent = Schema.is(UnknownServerEvent)

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

// OpenAI's code and wording for an array or a string over its limit.
const aboveMaxLength = (
  what: "array" | "string",
  violation: { readonly param: string; readonly limit: number; readonly actual: number },
  extra: { readonly eventType?: string | undefined }
) => {
  const a = what === "array" ? "an" : "a"
  return frameError(
    "LimitExceeded",
    violation.param,
    `${what}_above_max_length`,
    `Invalid '${violation.param}': ${what} too long. Expected ${a} ${what} with maximum length ${violation.limit}, but got ${a} ${what} with length ${violation.actual} instead.`,
    extra
  )
}

// The error frame of a structural limit (FrameLimits); codes follow OpenAI's where it has one.
const limitError = (violation: FrameLimits.Violation, eventType?: string): ClientFrameError => {
  const extra = { eventType }
  switch (violation._tag) {
    case "TooDeep":
      return frameError(
        "LimitExceeded",
        violation.param,
        "nesting_above_max_depth",
        `Invalid '${violation.param}': nested too deeply. Expected at most ${violation.limit} levels of objects and arrays (the frame itself is level 1).`,
        extra
      )
    case "TooManyItems":
      return aboveMaxLength("array", violation, extra)
    case "StringTooLong":
      return aboveMaxLength("string", violation, extra)
    case "KeyTooLong":
      return frameError(
        "LimitExceeded",
        violation.param,
        "string_above_max_length",
        `An object key${violation.param === null ? "" : ` in '${violation.param}'`} is too long. Expected keys of at most ${violation.limit} characters, but got one of ${violation.actual}.`,
        extra
      )
    case "TooLarge":
      return frameError(
        "LimitExceeded",
        null,
        "request_too_large",
        `The frame is ${violation.actual} bytes; the largest accepted is ${violation.limit} bytes. Send less per request (e.g. continue with previous_response_id).`,
        extra
      )
    case "ProtoKey":
      return frameError(
        "InvalidField",
        violation.param,
        "invalid_value",
        `Invalid '${violation.param}': the key '__proto__' is not allowed anywhere in an event. Remove it.`,
        extra
      )
  }
}

const typeOf = (value: Record<string, unknown>): string | undefined =>
  typeof value.type === "string" ? value.type : undefined

/**
 * Validates an already-parsed client event (e.g. a JSON body): first its structure against `limits` (one
 * iterative walk: depth, string lengths, `__proto__` keys, then the `input` count), then its `type`, looked up as
 * an own key only, then its schema. Nothing recursive runs before the depth is known to be within `limits`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeClientEventUnknown = (
  value: unknown,
  limits: FrameLimits.FrameLimits = FrameLimits.defaults
): Either.Either<ClientEvent, ClientFrameError> => {
  if (!isObject(value)) {
    return Either.left(frameError(
      "NotObject",
      null,
      "invalid_type",
      `Each frame must be a JSON object with a 'type' field, but got ${Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`}.`
    ))
  }
  const violation = FrameLimits.check(value, limits, false)
  if (violation !== undefined) return Either.left(limitError(violation, typeOf(value)))
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
  // Own keys only: `constructor`, `toString`, `__proto__` … are unknown types, not Object.prototype's members.
  const decode = Object.hasOwn(clientDecoders, type) ? clientDecoders[type] : undefined
  if (decode === undefined) {
    return Either.left(frameError(
      "UnknownType",
      "type",
      "unknown_event_type",
      `Invalid value: '${type}'. Supported values are: 'response.create' and 'response.steer'.`,
      { eventType: type }
    ))
  }
  const input = value.input
  if (Array.isArray(input) && input.length > limits.maxInputItems) {
    return Either.left(limitError(
      { _tag: "TooManyItems", param: "input", limit: limits.maxInputItems, actual: input.length },
      type
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
 * Decodes one client text frame: its size against `limits.maxFrameBytes`, `JSON.parse` (iterative in V8, so
 * safe at any depth), then {@link decodeClientEventUnknown}.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeClientEvent = (
  text: string,
  limits: FrameLimits.FrameLimits = FrameLimits.defaults
): Either.Either<ClientEvent, ClientFrameError> => {
  const over = FrameLimits.utf8LengthOver(text, limits.maxFrameBytes)
  if (over !== undefined) return Either.left(limitError({ _tag: "TooLarge", limit: limits.maxFrameBytes, actual: over }))
  let value: unknown
  try {
    value = JSON.parse(text)
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
  return decodeClientEventUnknown(value, limits)
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
 * Encodes a client event as a text frame (a `response.create` through `encodeCreate`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeClientEvent = (event: ClientEvent): string =>
  event.type === "response.create" ? encodeCreate(event) : JSON.stringify(event)

/**
 * The pieces of a `response.create` frame, for senders that keep them serialized between turns: `settings` from
 * `encodeCreateSettings`, `input` the JSON of the input (an array's, or a string's; undefined: no `input` field).
 *
 * @since 0.1.0
 * @category encoding
 */
export type CreateParts = CreateFrame.Parts

/**
 * A create's settings as JSON object fields without the braces, without the fields `encodeCreateParts` writes
 * itself (`type`, `input`, `previous_response_id`, `stream_id`, `generate`). Serialize once per settings object.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeCreateSettings: (settings: object) => string = CreateFrame.settingsJson

/**
 * A `response.create` frame from its pieces (see `CreateParts`): the one encoder of creates. Equal, as JSON, to
 * `JSON.stringify` of the event with the same fields.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeCreateParts: (parts: CreateParts) => string = CreateFrame.encode

/**
 * The part of a create frame before its `input` field: what `encodeCreateParts` writes for `parts` up to `,"input":`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeCreateHead: (parts: Omit<CreateParts, "input">) => string = CreateFrame.head

/**
 * Encodes a `response.create` event (any `type` field it carries is written as `response.create`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeCreate = (event: object): string => {
  const e = event as Record<string, unknown>
  const { generate, previous_response_id: previous, stream_id: streamId } = e
  // Fields of another type than the schema's are written as they are (a test of a server's validation sends them).
  if (
    (generate !== undefined && typeof generate !== "boolean") ||
    (streamId !== undefined && typeof streamId !== "string") ||
    (previous !== undefined && previous !== null && typeof previous !== "string")
  ) {
    return JSON.stringify({ ...e, type: "response.create" })
  }
  return CreateFrame.encode({
    settings: CreateFrame.settingsJson(event),
    generate,
    streamId,
    previousResponseId: previous,
    input: e.input === undefined ? undefined : JSON.stringify(e.input)
  })
}

/**
 * Validates an already-parsed server event. Unknown types (including `constructor`, `toString` … : types are
 * looked up as own keys only) decode to `UnknownServerEvent`. `__proto__` keys are dropped, in place; a frame
 * nested deeper than `maxDepth` (default {@link FrameLimits.defaultServerMaxDepth}) fails with `LimitExceeded`
 * before any schema walks it.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeServerEventUnknown = (
  value: unknown,
  maxDepth: number = FrameLimits.defaultServerMaxDepth
): Either.Either<ServerEvent, ServerFrameError> => {
  if (!isObject(value)) {
    return Either.left(new ServerFrameError({ reason: "NotObject", param: null, message: "The frame is not a JSON object." }))
  }
  const violation = FrameLimits.check(value, { maxDepth, maxStringLength: Number.POSITIVE_INFINITY }, true)
  if (violation !== undefined) {
    return Either.left(new ServerFrameError({
      reason: "LimitExceeded",
      param: violation._tag === "TooDeep" ? violation.param : null,
      message: `The frame is nested more than ${maxDepth} levels deep.`,
      ...(typeof value.type === "string" ? { eventType: value.type } : {})
    }))
  }
  const type = value.type
  if (typeof type !== "string") {
    return Either.left(
      new ServerFrameError({ reason: "MissingType", param: "type", message: "The frame has no string 'type'." })
    )
  }
  const decode = (Object.hasOwn(serverDecoders, type) ? serverDecoders[type] : undefined) ?? decodeUnknownServerEvent
  const result = decode(value)
  if (Either.isRight(result)) return Either.right(result.right)
  const problem = describeIssue(result.left.issue)
  return Either.left(
    new ServerFrameError({ reason: "InvalidEvent", param: problem.param, message: problem.message, eventType: type })
  )
}

/**
 * {@link decodeServerEventUnknown} without a copy: the same checks (object, depth, `type`, the event's schema;
 * `__proto__` keys dropped in place), and a value that passes is returned as it is, since every schema's Type
 * side is the wire JSON. The events of a turn's hot path (lifecycle, output items, argument and text deltas) are
 * checked in plain code, field by field as their schemas declare them; anything that check is not sure of goes
 * to the schema. The cheap path for a consumer that owns the parsed value (a client's reader: no
 * per-event copy of the object graph). A value that fails gets the same error as from
 * {@link decodeServerEventUnknown}.
 *
 * @since 0.1.0
 * @category decoding
 */
export const validateServerEventUnknown = (
  value: unknown,
  maxDepth: number = FrameLimits.defaultServerMaxDepth
): Either.Either<ServerEvent, ServerFrameError> => {
  if (!isObject(value) || typeof value.type !== "string") return decodeServerEventUnknown(value, maxDepth)
  if (FrameLimits.check(value, { maxDepth, maxStringLength: Number.POSITIVE_INFINITY }, true) !== undefined) {
    return decodeServerEventUnknown(value, maxDepth)
  }
  return validateWalked(value as Record<string, unknown> & { readonly type: string }, maxDepth)
}

// The schema step of `validateServerEventUnknown`, once the structural limits hold.
const validateWalked = (
  value: Record<string, unknown> & { readonly type: string },
  maxDepth: number
): Either.Either<ServerEvent, ServerFrameError> => {
  const type = value.type
  // The hot event types first in plain code (sound: a `false` there only means "ask the schema").
  const fast = Object.hasOwn(fastGuards, type) ? fastGuards[type] : undefined
  if (fast !== undefined && fast(value)) return Either.right(value as ServerEvent)
  const guard = (Object.hasOwn(serverGuards, type) ? serverGuards[type] : undefined) ?? isUnknownServerEvent
  return guard(value) ? Either.right(value as ServerEvent) : decodeServerEventUnknown(value, maxDepth)
}

/**
 * {@link validateServerEventUnknown} of the value `JSON.parse(text)` just made, for a reader that holds the text:
 * a frame whose text can hold neither a `__proto__` key nor nesting deeper than `maxDepth` (a short frame without
 * `\u` escapes: the usual delta event) is not walked for them; the result is the same.
 *
 * @since 0.1.0
 * @category decoding
 */
export const validateParsedServerEvent = (
  value: unknown,
  text: string,
  maxDepth: number = FrameLimits.defaultServerMaxDepth
): Either.Either<ServerEvent, ServerFrameError> =>
  isObject(value) && typeof value.type === "string" && Shallow.cannotViolate(text, maxDepth)
    ? validateWalked(value as Record<string, unknown> & { readonly type: string }, maxDepth)
    : validateServerEventUnknown(value, maxDepth)

/**
 * Decodes one server text frame.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeServerEvent = (
  text: string,
  maxDepth: number = FrameLimits.defaultServerMaxDepth
): Either.Either<ServerEvent, ServerFrameError> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return Either.left(new ServerFrameError({
      reason: "NotJson",
      param: null,
      message: `The frame is not valid JSON (${e instanceof Error ? e.message : String(e)}).`
    }))
  }
  return decodeServerEventUnknown(value, maxDepth)
}

/**
 * Encodes a server event (or error frame) as a text frame.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeServerEvent = (event: ServerEvent): string => JSON.stringify(event)
