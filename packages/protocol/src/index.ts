/**
 * @since 0.1.0
 */

/**
 * Input/output items and content parts.
 *
 * @since 0.1.0
 */
export * as Items from "./Items.js"

/**
 * Tool definitions.
 *
 * @since 0.1.0
 */
export * as Tools from "./Tools.js"

/**
 * The Response object and usage.
 *
 * @since 0.1.0
 */
export * as Response from "./Response.js"

/**
 * Client → server events.
 *
 * @since 0.1.0
 */
export * as ClientEvent from "./ClientEvent.js"

/**
 * Lane rules (`stream_id` names and the per-connection lane budget), shared by client and gateway.
 *
 * @since 0.1.0
 */
export * as Lanes from "./Lanes.js"

/**
 * Server → client events.
 *
 * @since 0.1.0
 */
export * as ServerEvent from "./ServerEvent.js"

/**
 * Documented error codes and frames.
 *
 * @since 0.1.0
 */
export * as ProtocolError from "./ProtocolError.js"

/**
 * The reconnect-with-resume extension: header names.
 *
 * @since 0.1.0
 */
export * as Resume from "./Resume.js"

/**
 * `Retry-After` parsing and the one backoff policy.
 *
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * Text frame ⇄ typed event.
 *
 * @since 0.1.0
 */
export * as Codec from "./Codec.js"

/**
 * Structural limits of a frame (depth, `input` items, string and frame sizes), checked without recursion.
 *
 * @since 0.1.0
 */
export * as FrameLimits from "./FrameLimits.js"

/**
 * Cutting a Response into the events a server streams.
 *
 * @since 0.1.0
 */
export * as Events from "./Events.js"

/**
 * Folding one response's events into its final Response.
 *
 * @since 0.1.0
 */
export * as Accumulator from "./Accumulator.js"

/**
 * The pure delta-or-full continuation rule.
 *
 * @since 0.1.0
 */
export * as Continuation from "./Continuation.js"
