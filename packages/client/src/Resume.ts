/**
 * Reconnect-with-resume (docs/resume.md), the client's pure side: reading the server's offer from the `101`,
 * tagging `response.create` frames with `loopwire_request_id`, encoding `loopwire.resume`, recognising the
 * refusals, and the reconnect backoff. The socket multiplexer applies them; they are tested alone.
 *
 * @since 0.1.0
 */
import * as Retry from "@loopwire/protocol/Retry"
import * as ProtocolResume from "@loopwire/protocol/Resume"
import type { ResumePolicy } from "./ClientConfig.js"
import { ResponsesError } from "./ResponsesError.js"

/**
 * `101` header naming the connection (and request header presenting a lost connection's token).
 *
 * @since 0.1.0
 * @category constants
 */
export const TOKEN_HEADER = ProtocolResume.ResumeHeaders.token

/**
 * `101` header: the grace period in milliseconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const GRACE_HEADER = ProtocolResume.ResumeHeaders.grace

/**
 * `101` header of a resuming upgrade: `1` when the lost connection's state now belongs to this one, else `0`.
 *
 * @since 0.1.0
 * @category constants
 */
export const RESUMED_HEADER = ProtocolResume.ResumeHeaders.resumed

/**
 * What a server offered on the upgrade: the token naming the connection and the grace period.
 *
 * @since 0.1.0
 * @category models
 */
export interface Offer {
  readonly token: string
  readonly graceMillis: number
}

/**
 * Why requests in flight on a dropped socket could not be resumed.
 *
 * - `not_resumed`: the reconnect answered `loopwire-resumed: 0` (unknown, expired or spent token, …).
 * - `grace_expired`: no reconnect succeeded inside the grace period.
 * - `connect_failed`: the reconnect was refused for good (401, 403, 404, 426).
 * - `resume_not_available`, `resume_log_truncated`: the server's refusal for one request.
 * - `resume_log_unavailable`: the server's shared log stayed unreachable through the client's retries.
 *
 * @since 0.1.0
 * @category models
 */
export type RefusalReason =
  | "not_resumed"
  | "grace_expired"
  | "connect_failed"
  | "resume_not_available"
  | "resume_log_truncated"
  | "resume_log_unavailable"

const header = (headers: Readonly<Record<string, string>>, name: string): string | undefined => {
  const direct = headers[name]
  if (direct !== undefined) return direct
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value
  return undefined
}

/**
 * The server's offer from the `101` headers; `undefined` for a server without the extension (OpenAI, …), which
 * then sees only the standard protocol. A missing or malformed grace is 0 (named, but nothing kept).
 *
 * @since 0.1.0
 * @category decisions
 */
export const offerOf = (headers: Readonly<Record<string, string>>): Offer | undefined => {
  const token = header(headers, TOKEN_HEADER)
  if (token === undefined || token === "") return undefined
  return { token, graceMillis: ProtocolResume.parseGrace(header(headers, GRACE_HEADER)) ?? 0 }
}

/**
 * Whether a resuming upgrade took over the lost connection's state (`loopwire-resumed: 1`).
 *
 * @since 0.1.0
 * @category decisions
 */
export const wasResumed = (headers: Readonly<Record<string, string>>): boolean =>
  ProtocolResume.isResumed(header(headers, RESUMED_HEADER))

const CREATE_PREFIX = `{"type":"response.create"`

/**
 * Adds `loopwire_request_id` to an encoded `response.create` frame, right after `type` (the rest of the frame is
 * kept byte for byte).
 *
 * @since 0.1.0
 * @category encoding
 */
export const tagCreate = (frame: string, requestId: string): string => {
  const field = `"loopwire_request_id":${JSON.stringify(requestId)}`
  if (frame.startsWith(CREATE_PREFIX)) {
    const rest = frame.slice(CREATE_PREFIX.length)
    return `${CREATE_PREFIX},${field}${rest}`
  }
  const open = frame.indexOf("{")
  if (open === -1) return frame
  const rest = frame.slice(open + 1).trimStart()
  return `${frame.slice(0, open + 1)}${field}${rest.startsWith("}") ? "" : ","}${rest}`
}

/**
 * The `loopwire.resume` frame: the rest of a request's events after `startingAfter` (-1: from the start).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeResume = (requestId: string, startingAfter: number): string =>
  JSON.stringify({ type: "loopwire.resume", loopwire_request_id: requestId, starting_after: startingAfter })

/**
 * The resume code of an `error` frame (envelope or flat shape), if it is one of the extension's. A
 * `resume_request_unknown` frame carries no `stream_id` (the server never saw the request).
 *
 * @since 0.1.0
 * @category decisions
 */
export const refusalOf = (
  frame: Readonly<Record<string, unknown>>
):
  | "resume_request_unknown"
  | "resume_not_available"
  | "resume_log_truncated"
  | "resume_log_unavailable"
  | undefined =>
{
  const nested = typeof frame.error === "object" && frame.error !== null ? frame.error as Record<string, unknown> : frame
  const code = nested.code
  return code === "resume_request_unknown" || code === "resume_not_available" || code === "resume_log_truncated" ||
      code === "resume_log_unavailable"
    ? code
    : undefined
}

/**
 * Whether an `error` frame is the connection age limit (`websocket_connection_limit_reached`). On a socket that
 * offered resume it is handled as a drop: the gateway keeps the connection's state, so the running responses are
 * resumed on a new socket rather than re-issued.
 *
 * @since 0.1.0
 * @category decisions
 */
export const isConnectionLimit = (frame: Readonly<Record<string, unknown>>): boolean => {
  const nested = typeof frame.error === "object" && frame.error !== null ? frame.error as Record<string, unknown> : frame
  return nested.code === "websocket_connection_limit_reached"
}

/**
 * The request an extension error frame is about: a `loopwire_request_id` field when present, else the id its
 * message names.
 *
 * @since 0.1.0
 * @category decisions
 */
export const requestIdOf = (frame: Readonly<Record<string, unknown>>): string | undefined => {
  const nested = typeof frame.error === "object" && frame.error !== null ? frame.error as Record<string, unknown> : {}
  for (const value of [frame.loopwire_request_id, nested.loopwire_request_id]) {
    if (typeof value === "string") return value
  }
  const message = typeof nested.message === "string" ? nested.message : frame.message
  if (typeof message !== "string") return undefined
  return /'([^']{1,256})'/.exec(message)?.[1]
}

/**
 * The error a request fails with when it cannot be resumed: `ConnectionLost`, so the session takes the standard
 * ladder (continue from the last completed response when `store: true`, else a full resend).
 *
 * @since 0.1.0
 * @category constructors
 */
export const refusalError = (reason: RefusalReason, cause: ResponsesError): ResponsesError =>
  new ResponsesError({
    reason: "ConnectionLost",
    code: reason,
    message: `The response could not be resumed (${reason}): ${cause.message}`,
    ...(cause.closeCode !== undefined ? { closeCode: cause.closeCode } : {}),
    ...(cause.streamId !== undefined ? { streamId: cause.streamId } : {}),
    ...(cause.body !== undefined ? { body: cause.body } : {})
  })

/**
 * The delay before reconnect attempt `attempt` (0-based): `initialMillis × 2^attempt` capped at `maxMillis`,
 * jitter in (0.75, 1] (`random` in [0, 1)).
 *
 * @since 0.1.0
 * @category decisions
 */
export const delayMillis = (policy: ResumePolicy, attempt: number, random: number): number =>
  Retry.backoffMillis(policy, attempt, random)
