/**
 * @since 0.1.0
 */
export * as Connection from "./Connection.js"

/**
 * @since 0.1.0
 */
export * as FaultInjection from "./FaultInjection.js"

/**
 * @since 0.1.0
 */
export * as Heartbeat from "./Heartbeat.js"

/**
 * @since 0.1.0
 */
export * as Memory from "./Memory.js"

/**
 * @since 0.1.0
 */
export * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 */
export * as Upgrade from "./Upgrade.js"

/**
 * @since 0.1.0
 */
export * as WebSocket from "./WebSocket.js"

/**
 * @since 0.1.0
 */
export * as WebSocketServer from "./WebSocketServer.js"
