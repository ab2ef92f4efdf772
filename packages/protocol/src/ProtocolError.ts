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
  "unknown_event_type",
  "resume_not_available",
  "resume_request_unknown",
  "resume_log_truncated",
  "resume_log_unavailable"
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

/**
 * Why a `loopwire.resume` gets `resume_not_available` (docs/resume.md §5); each has its own message.
 *
 * - `NotResumed`: the connection resumed nothing (`loopwire-resumed: 0`) and did not accept the request itself.
 * - `Expired`: the response's log is gone (the grace period ended, or it was discarded).
 * - `Abandoned`: the gateway process that ran the response died (several processes sharing Redis).
 *
 * @since 0.1.0
 * @category resume
 */
export type ResumeNotAvailableReason = "NotResumed" | "Expired" | "Abandoned"

const notAvailableMessages: Record<ResumeNotAvailableReason, string> = {
  NotResumed: "this connection did not resume a previous one.",
  Expired: "its events are no longer kept (the grace period ended).",
  Abandoned: "the gateway process that ran it is gone."
}

const resumeConflict = (
  code: "resume_not_available" | "resume_request_unknown" | "resume_log_truncated",
  message: string,
  param: string,
  streamId: string | undefined
): ErrorEnvelope => errorFrame({ status: 409, type: "invalid_request_error", code, message, param, streamId })

/**
 * `resume_not_available` (409, param `loopwire_request_id`): the request cannot be resumed; the client follows the
 * standard recovery ladder. E.g. "Request 'lwr_1' cannot be resumed: this connection did not resume a previous
 * one."
 *
 * @since 0.1.0
 * @category resume
 */
export const resumeNotAvailable = (
  requestId: string,
  reason: ResumeNotAvailableReason = "NotResumed",
  streamId?: string | undefined
): ErrorEnvelope =>
  resumeConflict(
    "resume_not_available",
    `Request '${requestId}' cannot be resumed: ${notAvailableMessages[reason]}`,
    "loopwire_request_id",
    streamId
  )

/**
 * `resume_request_unknown` (409, param `loopwire_request_id`): the connection was resumed but the server never
 * received this request; the client re-sends the same `response.create`.
 *
 * @since 0.1.0
 * @category resume
 */
export const resumeRequestUnknown = (requestId: string, streamId?: string | undefined): ErrorEnvelope =>
  resumeConflict(
    "resume_request_unknown",
    `Request '${requestId}' was never received by the resumed connection. Send the same response.create again.`,
    "loopwire_request_id",
    streamId
  )

/**
 * `resume_log_truncated` (409, param `starting_after`): the response's log no longer holds the events after
 * `startingAfter`; the client follows the standard recovery ladder.
 *
 * @since 0.1.0
 * @category resume
 */
export const resumeLogTruncated = (
  requestId: string,
  startingAfter: number,
  streamId?: string | undefined
): ErrorEnvelope =>
  resumeConflict(
    "resume_log_truncated",
    `Request '${requestId}' cannot be resumed after event ${startingAfter}: its log no longer holds those events.`,
    "starting_after",
    streamId
  )

/**
 * `resume_log_unavailable` (503 `server_error`, param `null`): the shared resume log (Redis) could not be reached,
 * so the server cannot tell whether the request can be resumed. The client may retry the `loopwire.resume` (on this
 * or a new connection) or follow the standard recovery ladder.
 *
 * @since 0.1.0
 * @category resume
 */
export const resumeLogUnavailable = (requestId: string, streamId?: string | undefined): ErrorEnvelope =>
  errorFrame({
    status: 503,
    type: "server_error",
    code: "resume_log_unavailable",
    message: `Request '${requestId}' cannot be resumed right now: the server's resume log is unavailable. Try again.`,
    param: null,
    streamId
  })
