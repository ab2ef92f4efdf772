/**
 * @since 0.1.0
 */

/**
 * The gateway's upstream backend: WebSocket mode with deltas over pooled, affine sockets (the client's pool and
 * sessions), prefix matching for stateless clients, HTTP when the upgrade is refused.
 *
 * @since 0.1.0
 */
export * as Upstream from "./Upstream.js"

/**
 * Matching a full-context turn to the held conversation it extends (content digests of item prefixes).
 *
 * @since 0.1.0
 */
export * as PrefixIndex from "./PrefixIndex.js"

/**
 * `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` for both upstream transports.
 *
 * @since 0.1.0
 */
export * as Proxy from "./Proxy.js"
