/**
 * The documented WebSocket-mode error codes and constructors producing their exact `error` frames
 * (`{ type: "error", status, error: { type, code, message, param }, stream_id? }`), plus the steering failure
 * events.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { invalidStreamIdMessage } from "./ClientEvent.js"
import type { ErrorEnvelope, ResponseSteerFailed } from "./ServerEvent.js"

/**
 * Codes of `error` frames a gateway sends.
 *
 * @since 0.1.0
 * @category codes
 */
export const ErrorCode = Schema.Literal(
  "previous_response_not_found",
  "websocket_connection_limit_reached",
  "websocket_stream_limit_reached",
  "invalid_stream_id",
  "invalid_json",
  "invalid_type",
  "invalid_value",
  "missing_required_parameter",
  "unknown_event_type"
)
/**
 * @since 0.1.0
 * @category codes
 */
export type ErrorCode = typeof ErrorCode.Type

/**
 * Codes of `response.steer.failed` events.
 *
 * @since 0.1.0
 * @category codes
 */
export const SteerErrorCode = Schema.Literal(
  "invalid_input",
  "steering_not_supported",
  "response_not_found",
  "too_many_pending_steers"
)
/**
 * @since 0.1.0
 * @category codes
 */
export type SteerErrorCode = typeof SteerErrorCode.Type

/**
 * An `error` envelope frame with any status, type and code.
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorFrame = (options: {
  readonly status: number
  readonly type: string
  readonly code: string | null
  readonly message: string
  readonly param: string | null
  readonly streamId?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}): ErrorEnvelope => {
  const error = options.headers === undefined ?
    { type: options.type, code: options.code, message: options.message, param: options.param } :
    { type: options.type, code: options.code, message: options.message, param: options.param, headers: options.headers }
  return options.streamId === undefined ?
    { type: "error", status: options.status, error } :
    { type: "error", status: options.status, error, stream_id: options.streamId }
}

/**
 * A 400 `invalid_request_error` frame.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalidRequest = (
  code: string | null,
  message: string,
  param: string | null,
  streamId?: string | undefined
): ErrorEnvelope => errorFrame({ status: 400, type: "invalid_request_error", code, message, param, streamId })

/**
 * `previous_response_not_found`: "Previous response with id '<id>' not found." (param `previous_response_id`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const previousResponseNotFound = (id: string, streamId?: string | undefined): ErrorEnvelope =>
  invalidRequest(
    "previous_response_not_found",
    `Previous response with id '${id}' not found.`,
    "previous_response_id",
    streamId
  )

/**
 * `websocket_connection_limit_reached` (connection age limit; OpenAI: 60 minutes). No `param`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const websocketConnectionLimitReached = (minutes = 60, streamId?: string | undefined): ErrorEnvelope =>
  invalidRequest(
    "websocket_connection_limit_reached",
    `Responses websocket connection limit reached (${minutes} minutes). Create a new websocket connection to continue.`,
    null,
    streamId
  )

/**
 * `websocket_stream_limit_reached` (more distinct named lanes than allowed; OpenAI: 32). Param `stream_id`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const websocketStreamLimitReached = (maxStreams = 32, streamId?: string | undefined): ErrorEnvelope =>
  invalidRequest(
    "websocket_stream_limit_reached",
    `This WebSocket connection has reached its maximum number of distinct stream IDs (${maxStreams}). Reuse an existing stream_id or open a new WebSocket connection.`,
    "stream_id",
    streamId
  )

/**
 * `invalid_stream_id` (empty, longer than 256 characters, or bad characters). Param `stream_id`; the frame carries
 * no `stream_id` since the name is unusable.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalidStreamId = (): ErrorEnvelope => invalidRequest("invalid_stream_id", invalidStreamIdMessage, "stream_id")

const steerMessages: Record<SteerErrorCode, string> = {
  invalid_input: "The steer input is invalid: send a string or a non-empty list of user messages.",
  steering_not_supported: "Steering is not supported for this response.",
  response_not_found: "The response to steer is not active on this connection.",
  too_many_pending_steers: "Too many pending steers for this response. Wait for one to be applied and try again."
}

/**
 * A `response.steer.failed` event echoing the steer's input (`message` defaults to a readable text per code).
 *
 * @since 0.1.0
 * @category constructors
 */
export const steerFailed = (options: {
  readonly code: SteerErrorCode
  readonly previousResponseId: string
  readonly input: unknown
  readonly steerId?: string | undefined
  readonly message?: string | undefined
  readonly streamId?: string | undefined
}): ResponseSteerFailed => {
  const steer = options.steerId === undefined ?
    { previous_response_id: options.previousResponseId, input: options.input } :
    { id: options.steerId, previous_response_id: options.previousResponseId, input: options.input }
  const error = { code: options.code, message: options.message ?? steerMessages[options.code] }
  return options.streamId === undefined ?
    { type: "response.steer.failed", steer, error } :
    { type: "response.steer.failed", steer, error, stream_id: options.streamId }
}
