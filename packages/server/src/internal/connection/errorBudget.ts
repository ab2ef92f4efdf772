/**
 * The error budget of one socket: a token bucket of error answers; past it, `too_many_errors` and a 1008 close.
 *
 * @internal
 */
import { type ErrorEnvelope } from "@loopwire/protocol/ServerEvent"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Protocol from "../protocol.js"
import { type Attachment, type SessionState } from "./state.js"

/**
 * The close code of a connection that exceeded its error budget (`too_many_errors`): 1008, policy violation.
 *
 * @since 0.1.0
 * @category constants
 */
export const tooManyErrorsCloseCode = 1008

/**
 * `loopwire_connections_closed_for_errors` (exposed as `_total`): connections closed with {@link tooManyErrorsCloseCode}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const closedForErrors = Metric.counter("loopwire_connections_closed_for_errors", {
  description: "Connections closed with 1008 after their error budget (too_many_errors).",
  incremental: true
})

/**
 * Whether an error answer fits the budget: a token bucket of `burst` answers refilled at `rate` per second.
 * Returns the bucket after the answer, or undefined when it is exhausted. Pure.
 *
 * @since 0.1.0
 * @category decisions
 */
export const chargeError = (
  bucket: { readonly tokens: number; readonly at: number },
  now: number,
  burst: number,
  rate: number
): { readonly tokens: number; readonly at: number } | undefined => {
  const tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * rate)
  return tokens >= 1 ? { tokens: tokens - 1, at: now } : undefined
}

// An error answer to the client's own frame, charged to the socket's error budget: past it, the connection gets
// `too_many_errors` and is closed (1008), so a client sending garbage in a loop cannot keep the gateway busy.
export const refuse = (state: SessionState, attachment: Attachment, frame: ErrorEnvelope): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (attachment.errors.closed) return Effect.void
    const next = chargeError(attachment.errors, now, state.config.errorBurst, state.config.errorRate)
    if (next !== undefined) {
      attachment.errors.tokens = next.tokens
      attachment.errors.at = next.at
      // Held for the end of the slice of frames (or the socket's next write): a flood's answers go out as one write.
      attachment.outbox.push(JSON.stringify(frame))
      return Effect.void
    }
    attachment.errors.closed = true
    return Effect.all([
      attachment.send(JSON.stringify(Protocol.tooManyErrors(state.config.errorBurst, state.config.errorRate))),
      attachment.close(tooManyErrorsCloseCode, "too_many_errors"),
      Metric.increment(closedForErrors)
    ], { discard: true })
  })
