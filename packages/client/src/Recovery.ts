/**
 * The recovery ladder of protocol.md §6.4 as pure decisions: what a session does after a failed turn, and how
 * long it waits. The Session applies them; they are tested alone.
 *
 * @since 0.1.0
 */
import * as Retry from "@loopwire/protocol/Retry"
import type { ResponsesError } from "./ResponsesError.js"

/**
 * What to do after a failure.
 *
 * - `FullResend`: resend the turn at once, in full, on the same socket (`previous_response_not_found`).
 * - `Reconnect`: the socket is gone: reconnect after a backoff, then re-issue the turn (continue from the last
 *   completed id when `store: true`, else in full); partial output is discarded.
 * - `Rotate`: open a fresh socket between turns (connection age/limit), then re-issue.
 * - `Backoff`: wait (the server's retry hint when given) and retry; a failed continuation's parent is evicted,
 *   so the retry is a full resend unless `store: true`.
 * - `FallbackHttp`: switch this session to HTTP/SSE (426 or 405 on the upgrade); the turn is re-sent in full.
 * - `Fail`: a typed failure, no retry.
 *
 * @since 0.1.0
 * @category models
 */
export type Action = "FullResend" | "Reconnect" | "Rotate" | "Backoff" | "FallbackHttp" | "Fail"

/**
 * Classifies a failure.
 *
 * @since 0.1.0
 * @category decisions
 */
export const classify = (error: ResponsesError): Action => {
  switch (error.reason) {
    case "ConnectionLost":
    case "Protocol":
      return "Reconnect"
    case "Connect":
      // 426 (upgrade required) and 405 (no WebSocket on this endpoint): the endpoint speaks HTTP only.
      if (error.status === 426 || error.status === 405) return "FallbackHttp"
      if (error.status === 401 || error.status === 403 || error.status === 404) return "Fail"
      return "Reconnect"
    case "ErrorFrame":
    case "Http": {
      if (error.code === "previous_response_not_found") return "FullResend"
      if (error.code === "websocket_connection_limit_reached" || error.code === "websocket_stream_limit_reached") {
        return "Rotate"
      }
      const status = error.status
      if (status === 429 || status === 408 || status === 409 || (status !== undefined && status >= 500)) return "Backoff"
      // An error frame without any status is a model/runtime failure: retry it like a 5xx.
      if (status === undefined && error.reason === "ErrorFrame" && error.code !== "invalid_stream_id") return "Backoff"
      return "Fail"
    }
    case "LaneLimit":
      return "Rotate"
    case "RetriesExhausted":
    case "Invalid":
    case "ResponseFailed":
      return "Fail"
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface BackoffPolicy {
  /** First delay in milliseconds (default 500). */
  readonly initialMillis: number
  /** Largest delay (default 8000). */
  readonly maxMillis: number
  /** Attempts of each recovery kind before giving up (default 5). */
  readonly maxRetries: number
}

/**
 * The SDKs' policy: 0.5 s doubling to 8 s, at most 5 retries.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultBackoff: BackoffPolicy = { initialMillis: 500, maxMillis: 8000, maxRetries: 5 }

/**
 * The delay before retry `attempt` (0-based): the server's hint when given (capped at 60 s), else
 * exponential with jitter in (0.75, 1] (`random` in [0, 1)).
 *
 * @since 0.1.0
 * @category decisions
 */
export const delayMillis = (
  policy: BackoffPolicy,
  attempt: number,
  random: number,
  hintMillis?: number | undefined
): number => Retry.delayMillis(policy, attempt, random, hintMillis)
