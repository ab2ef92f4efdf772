/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AccessLog from "./AccessLog.js"

/**
 * @since 0.1.0
 */
export * as Auth from "./Auth.js"

/**
 * @since 0.1.0
 */
export * as BrowserGuard from "./BrowserGuard.js"

/**
 * @since 0.1.0
 */
export * as ChainContext from "./ChainContext.js"

/**
 * @since 0.1.0
 */
export * as ConnectionHandler from "./ConnectionHandler.js"

/**
 * @since 0.1.0
 */
export * as Drain from "./Drain.js"

/**
 * @since 0.1.0
 */
export * as Gateway from "./Gateway.js"

/**
 * @since 0.1.0
 */
export * as GatewayConfig from "./GatewayConfig.js"

/**
 * @since 0.1.0
 */
export * as HttpApi from "./HttpApi.js"

/**
 * @since 0.1.0
 */
export * as Lanes from "./Lanes.js"

/**
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.js"

/**
 * @since 0.1.0
 */
export * as ModelBackend from "./ModelBackend.js"

/**
 * @since 0.1.0
 */
export * as Redis from "./Redis.js"

/**
 * @since 0.1.0
 */
export * as RedisResponseStore from "./RedisResponseStore.js"

/**
 * @since 0.1.0
 */
export * as RedisResumeLog from "./RedisResumeLog.js"

/**
 * @since 0.1.0
 */
export * as ResponseStore from "./ResponseStore.js"

/**
 * @since 0.1.0
 */
export * as ResumeLog from "./ResumeLog.js"

/**
 * @since 0.1.0
 */
export * as Scenario from "./Scenario.js"

/**
 * @since 0.1.0
 */
export * as ScriptedBackend from "./ScriptedBackend.js"

/**
 * @since 0.1.0
 */
export * as StateCache from "./StateCache.js"

/**
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry.js"

/**
 * @since 0.1.0
 */
export * as UpstreamBackend from "./UpstreamBackend.js"
