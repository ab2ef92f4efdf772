/**
 * The client's one failure domain: everything that can go wrong talking to a Responses endpoint.
 *
 * @since 0.1.0
 */
import * as Retry from "@loopwire/protocol/Retry"
import * as Schema from "effect/Schema"

/**
 * Why a request failed.
 *
 * - `ErrorFrame`: the server answered with an `error` frame (request-scoped or connection-level); `code`,
 *   `status`, `param`, `errorType` and `retryAfterMillis` come from it.
 * - `ConnectionLost`: the socket closed or failed before the response's terminal event.
 * - `Connect`: the upgrade (or TCP/TLS) failed; `status` is the HTTP status when the server answered one (426
 *   means "use HTTP").
 * - `Http`: the HTTP/SSE transport got a non-2xx answer (fields as for `ErrorFrame`).
 * - `Protocol`: a frame that is not a server event, or a stream that ended without a terminal event.
 * - `LaneLimit`: the client would exceed the connection's distinct-lane limit.
 * - `RetriesExhausted`: the recovery ladder gave up; `cause` tells the last error's message.
 * - `Invalid`: the request itself cannot be sent (e.g. an invalid `stream_id`).
 * - `ResponseFailed`: the response ended with `response.failed` (an agent loop cannot go on).
 *
 * @since 0.1.0
 * @category errors
 */
export class ResponsesError extends Schema.TaggedError<ResponsesError>()("ResponsesError", {
  reason: Schema.Literal(
    "ErrorFrame",
    "ConnectionLost",
    "Connect",
    "Http",
    "Protocol",
    "LaneLimit",
    "RetriesExhausted",
    "Invalid",
    "ResponseFailed"
  ),
  message: Schema.String,
  code: Schema.optional(Schema.NullOr(Schema.String)),
  status: Schema.optional(Schema.Number),
  param: Schema.optional(Schema.NullOr(Schema.String)),
  errorType: Schema.optional(Schema.String),
  streamId: Schema.optional(Schema.String),
  retryAfterMillis: Schema.optional(Schema.Number),
  closeCode: Schema.optional(Schema.Number),
  /** The raw `error` frame or HTTP body, when there was one. */
  body: Schema.optional(Schema.Unknown)
}) {}

/**
 * The `retry-after-ms` / `retry-after` hint (seconds or an HTTP date) of a header record, in milliseconds.
 *
 * @since 0.1.0
 * @category retry
 */
export const retryAfterMillis: (
  headers: Readonly<Record<string, unknown>> | undefined,
  nowMillis: number
) => number | undefined = Retry.retryAfterMillis

/**
 * Builds the typed error for an `error` frame (both documented shapes: the envelope with `status` and a nested
 * `error`, and the flat streaming form; `status_code` is accepted for `status`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromErrorFrame = (frame: Readonly<Record<string, unknown>>, nowMillis: number): ResponsesError => {
  const nested = typeof frame.error === "object" && frame.error !== null
    ? frame.error as Record<string, unknown>
    : undefined
  const source = nested ?? frame
  const str = (v: unknown) => typeof v === "string" ? v : undefined
  const statusRaw = frame.status ?? frame.status_code
  const status = typeof statusRaw === "number" ? statusRaw : undefined
  const code = str(source.code) ?? null
  const headers = nested !== undefined && typeof nested.headers === "object" && nested.headers !== null
    ? nested.headers as Record<string, unknown>
    : undefined
  const retryAfter = retryAfterMillis(headers, nowMillis)
  const streamId = str(frame.stream_id)
  const errorType = str(source.type)
  return new ResponsesError({
    reason: "ErrorFrame",
    message: str(source.message) ?? `Server error${code !== null ? ` (${code})` : ""}`,
    code,
    param: str(source.param) ?? null,
    ...(status !== undefined ? { status } : {}),
    ...(errorType !== undefined ? { errorType } : {}),
    ...(streamId !== undefined ? { streamId } : {}),
    ...(retryAfter !== undefined ? { retryAfterMillis: retryAfter } : {}),
    body: frame
  })
}
