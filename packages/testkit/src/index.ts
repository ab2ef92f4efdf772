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
 * A loopback TCP proxy that cuts connections at chosen byte offsets of the server's answer (e.g. inside a 101).
 *
 * @since 0.1.0
 */
export * as CutProxy from "./CutProxy.js"

/**
 * The conformance suite: protocol checks runnable against any Responses WebSocket-mode URL.
 *
 * @since 0.1.0
 */
export * as Conformance from "./Conformance.js"

/**
 * The fault-injection suite: reproductions of floods and foreign requests that once degraded the gateway.
 *
 * @since 0.1.0
 */
export * as Faults from "./Faults.js"

/**
 * Builders for scripted-backend scenarios ("N tool calls then a final answer").
 *
 * @since 0.1.0
 */
export * as Scenarios from "./Scenarios.js"
