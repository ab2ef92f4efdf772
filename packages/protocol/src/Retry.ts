/**
 * Retry rules shared by every side that waits before trying again: the server's `Retry-After` hint and the one
 * backoff policy (exponential, capped, with jitter). Pure: the caller supplies the clock reading and the random
 * draw, so each rule is property-tested without time.
 *
 * @since 0.1.0
 */

/**
 * One backoff policy: the delay before retry `attempt` (0-based) is `initialMillis × 2^attempt`, capped at
 * `maxMillis`, with jitter in (0.75, 1].
 *
 * @since 0.1.0
 * @category models
 */
export interface Backoff {
  /** The first delay in milliseconds. */
  readonly initialMillis: number
  /** The largest delay in milliseconds. */
  readonly maxMillis: number
}

/**
 * The largest `Retry-After` a client honours (60 s): a longer hint is waited for this long.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_RETRY_AFTER_MILLIS = 60_000

/**
 * The delay before retry `attempt` (0-based) under `policy`: `initialMillis × 2^attempt` capped at `maxMillis`,
 * times `1 - 0.25 × random` (`random` in [0, 1), so the jitter keeps it in (0.75, 1] of the nominal delay),
 * rounded to the millisecond. Never negative; a negative or non-finite draw counts as 0.
 *
 * @since 0.1.0
 * @category decisions
 */
export const backoffMillis = (policy: Backoff, attempt: number, random: number): number => {
  const exponent = Math.max(0, Math.min(Number.isFinite(attempt) ? attempt : 0, 30))
  const base = Math.min(Math.max(0, policy.initialMillis) * 2 ** exponent, Math.max(0, policy.maxMillis))
  const draw = Number.isFinite(random) ? Math.min(Math.max(random, 0), 1) : 0
  return Math.round(base * (1 - 0.25 * draw))
}

/**
 * The delay before a retry: the server's hint when it gave one (capped at {@link MAX_RETRY_AFTER_MILLIS}), else
 * {@link backoffMillis}.
 *
 * @since 0.1.0
 * @category decisions
 */
export const delayMillis = (
  policy: Backoff,
  attempt: number,
  random: number,
  hintMillis?: number | undefined
): number =>
  hintMillis !== undefined && Number.isFinite(hintMillis) && hintMillis >= 0
    ? Math.min(hintMillis, MAX_RETRY_AFTER_MILLIS)
    : backoffMillis(policy, attempt, random)

/**
 * A `Retry-After` value in milliseconds: delay-seconds (RFC 9110 §10.2.3; fractions accepted) or an HTTP date,
 * counted from `nowMillis` (a date in the past is 0). Anything else is `undefined`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRetryAfter = (value: string | undefined, nowMillis: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (trimmed === "") return undefined
  const seconds = Number(trimmed)
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMillis)
}

/**
 * The retry hint of a header record, in milliseconds: `retry-after-ms` (OpenAI's, milliseconds) first, then
 * `retry-after` ({@link parseRetryAfter}). Header names match case-insensitively; numeric values are accepted.
 *
 * @since 0.1.0
 * @category parsing
 */
export const retryAfterMillis = (
  headers: Readonly<Record<string, unknown>> | undefined,
  nowMillis: number
): number | undefined => {
  if (headers === undefined) return undefined
  let ms: string | undefined
  let after: string | undefined
  for (const key in headers) {
    const name = key.toLowerCase()
    if (name !== "retry-after-ms" && name !== "retry-after") continue
    const raw = headers[key]
    const value = typeof raw === "string" ? raw : typeof raw === "number" ? String(raw) : undefined
    if (name === "retry-after-ms") ms ??= value
    else after ??= value
  }
  if (ms !== undefined && ms.trim() !== "") {
    const n = Number(ms)
    if (Number.isFinite(n) && n >= 0) return n
  }
  return parseRetryAfter(after, nowMillis)
}
