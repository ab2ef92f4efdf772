/**
 * @since 0.1.0
 */

/**
 * fast-check arbitraries for property tests, composed from the protocol's Schema arbitraries.
 *
 * @since 0.1.0
 */
export * as Arbitraries from "./Arbitraries.js"

/**
 * The conformance suite: protocol checks runnable against any Responses WebSocket-mode URL.
 *
 * @since 0.1.0
 */
export * as Conformance from "./Conformance.js"

/**
 * Builders for scripted-backend scenarios ("N tool calls then a final answer").
 *
 * @since 0.1.0
 */
export * as Scenarios from "./Scenarios.js"
