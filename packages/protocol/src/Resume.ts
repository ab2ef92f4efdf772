/**
 * Loopwire's reconnect-with-resume extension (docs/resume.md): the HTTP header names of the upgrade, and their
 * parsing. The client event (`loopwire.resume`, `loopwire_request_id`) lives in `ClientEvent`, the refusal frames
 * in `ProtocolError`.
 *
 * @since 0.1.0
 */

/**
 * Header names (lower case, as Node reports them):
 *
 * - `token` (`loopwire-resume-token`): on a 101, names the new connection; on an upgrade request, the token of the
 *   lost connection to resume.
 * - `grace` (`loopwire-resume-grace`): on a 101, the grace period in milliseconds.
 * - `resumed` (`loopwire-resumed`): on a 101 answering a presented token, `1` (resumed) or `0` (nothing resumed).
 *
 * @since 0.1.0
 * @category headers
 */
export const ResumeHeaders = {
  token: "loopwire-resume-token",
  grace: "loopwire-resume-grace",
  resumed: "loopwire-resumed"
} as const

/**
 * The `starting_after` that asks for every event of a response.
 *
 * @since 0.1.0
 * @category constants
 */
export const fromTheStart = -1

/**
 * The grace period (milliseconds) from a `loopwire-resume-grace` header value, or undefined when absent or not a
 * non-negative integer.
 *
 * @since 0.1.0
 * @category headers
 */
export const parseGrace = (value: string | ReadonlyArray<string> | undefined): number | undefined => {
  const text = typeof value === "string" ? value : value?.[0]
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) return undefined
  return Number(text.trim())
}

/**
 * Whether a `loopwire-resumed` header value says the lost connection's state was resumed (`1`).
 *
 * @since 0.1.0
 * @category headers
 */
export const isResumed = (value: string | ReadonlyArray<string> | undefined): boolean =>
  (typeof value === "string" ? value : value?.[0])?.trim() === "1"
