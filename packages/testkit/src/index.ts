/**
 * @since 0.1.0
 */

/**
 * The conformance suite: protocol checks runnable against any Responses WebSocket-mode URL.
 *
 * @since 0.1.0
 */
export * as Conformance from "./Conformance.js"
