/**
 * When and how soon to reconnect: a pure function of what ended the last attempt, the attempt number and a
 * random draw. Exponential backoff with jitter (0.5 s doubling to 8 s by default, as the official SDKs do),
 * a bounded number of attempts, and only after recoverable outcomes.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type { TransportError } from "./Transport.js"

/**
 * What ended a connection or a connection attempt.
 *
 * - `Closed`: the connection closed with this code (1006 for a drop without a close frame).
 * - `NetworkError`: the connection could not be established (refused, reset, timeout) or failed with a socket
 *   error.
 * - `Refused`: the upgrade was answered with an HTTP status (with `Retry-After` in milliseconds, if any).
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Closed"; readonly code: number; readonly reason?: string | undefined }
  | { readonly _tag: "NetworkError"; readonly message?: string | undefined }
  | { readonly _tag: "Refused"; readonly status: number; readonly retryAfterMillis?: number | undefined }

/**
 * The decision: retry after `delay` (this is retry number `attempt`, from 1), or stop.
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Retry"; readonly attempt: number; readonly delay: Duration.Duration }
  | { readonly _tag: "Stop"; readonly reason: "NotRecoverable" | "AttemptsExhausted" | "RetryAfterTooLong" }

/**
 * The policy's knobs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /** Delay before the first retry (default 0.5 s). */
  readonly baseDelay: Duration.Duration
  /** Largest backoff delay (default 8 s). */
  readonly maxDelay: Duration.Duration
  /** Growth per attempt (default 2). */
  readonly factor: number
  /** Jitter fraction in [0, 1]: the nominal delay is scaled by a factor in (1 - jitter, 1] (default 0.25). */
  readonly jitter: number
  /** Retries allowed in a row before giving up (default 5). */
  readonly maxAttempts: number
  /** A refusal asking to wait longer than this (`Retry-After`) stops instead (default 60 s). */
  readonly maxRetryAfter: Duration.Duration
  /** HTTP statuses on the upgrade that are worth retrying (default 408, 429, 500, 502, 503, 504). */
  readonly retryableStatuses: ReadonlyArray<number>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: Policy = {
  baseDelay: Duration.millis(500),
  maxDelay: Duration.seconds(8),
  factor: 2,
  jitter: 0.25,
  maxAttempts: 5,
  maxRetryAfter: Duration.seconds(60),
  retryableStatuses: [408, 429, 500, 502, 503, 504]
}

/**
 * `defaultPolicy` with some fields replaced.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (overrides: Partial<Policy> = {}): Policy => ({ ...defaultPolicy, ...overrides })

/**
 * Close codes after which reconnecting can help: 1001 going away, 1005 no status, 1006 abnormal (network),
 * 1011 internal error, 1012 service restart, 1013 try again later, 1015 TLS. Never 1000 (done), 1008 (policy),
 * 1009 (too big: the same frame would fail again) or application codes (3000–4999).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRecoverableCloseCode = (code: number): boolean =>
  code === 1001 || code === 1005 || code === 1006 || code === 1011 || code === 1012 || code === 1013 ||
  code === 1015

/**
 * Whether an outcome may be retried at all under `policy`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRecoverable = (outcome: Outcome, policy: Policy = defaultPolicy): boolean => {
  switch (outcome._tag) {
    case "Closed":
      return isRecoverableCloseCode(outcome.code)
    case "NetworkError":
      return true
    case "Refused":
      return policy.retryableStatuses.includes(outcome.status)
  }
}

/**
 * The nominal (jitter-free) delay of retry number `attempt` (from 1): `baseDelay × factor^(attempt-1)`, capped
 * at `maxDelay`.
 *
 * @since 0.1.0
 * @category utils
 */
export const nominalDelay = (policy: Policy, attempt: number): Duration.Duration => {
  const base = Duration.toMillis(policy.baseDelay)
  const max = Duration.toMillis(policy.maxDelay)
  const exponent = Math.max(0, attempt - 1)
  const millis = Math.min(max, base * Math.pow(Math.max(1, policy.factor), Math.min(exponent, 64)))
  return Duration.millis(millis)
}

/**
 * Decides what to do after `outcome`, for retry number `attempt` (1 for the first retry), given a uniform
 * random draw `random` in [0, 1). The delay is `nominalDelay × (1 - jitter × random)`, never below
 * `baseDelay × (1 - jitter)` nor above `maxDelay`; a `Retry-After` on a refusal raises it to at least that
 * (refusals asking for more than `maxRetryAfter` stop).
 *
 * @since 0.1.0
 * @category decisions
 */
export const decide = (policy: Policy, outcome: Outcome, attempt: number, random: number): Decision => {
  if (!isRecoverable(outcome, policy)) return { _tag: "Stop", reason: "NotRecoverable" }
  if (!(attempt >= 1) || attempt > policy.maxAttempts) return { _tag: "Stop", reason: "AttemptsExhausted" }
  const jitter = Math.min(1, Math.max(0, policy.jitter))
  const draw = Number.isFinite(random) ? Math.min(Math.max(random, 0), 1) : 0
  let millis = Duration.toMillis(nominalDelay(policy, attempt)) * (1 - jitter * draw)
  if (outcome._tag === "Refused" && outcome.retryAfterMillis !== undefined) {
    if (outcome.retryAfterMillis > Duration.toMillis(policy.maxRetryAfter)) {
      return { _tag: "Stop", reason: "RetryAfterTooLong" }
    }
    millis = Math.max(millis, outcome.retryAfterMillis)
  }
  return { _tag: "Retry", attempt, delay: Duration.millis(Math.round(millis)) }
}

/**
 * Parses a `Retry-After` header value (seconds, or an HTTP date relative to `now`) into milliseconds.
 *
 * @since 0.1.0
 * @category utils
 */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * The outcome of a failed `open`. `InvalidUrl` maps to a non-recoverable refusal (status 0).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTransportError = (error: TransportError, now: number): Outcome => {
  switch (error.reason) {
    case "Refused": {
      const retryAfterMillis = parseRetryAfter(error.headers?.["retry-after-ms"] !== undefined
        ? String(Number(error.headers["retry-after-ms"]) / 1000)
        : error.headers?.["retry-after"], now)
      return {
        _tag: "Refused",
        status: error.status ?? 0,
        ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {})
      }
    }
    case "Network":
    case "Timeout":
      return { _tag: "NetworkError", message: error.message }
    case "InvalidUrl":
      return { _tag: "Refused", status: 0 }
  }
}
