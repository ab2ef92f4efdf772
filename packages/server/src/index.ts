/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Auth from "./Auth.js"

/**
 * @since 0.1.0
 */
export * as ModelBackend from "./ModelBackend.js"

/**
 * @since 0.1.0
 */
export * as ResponseStore from "./ResponseStore.js"

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
export * as UpstreamBackend from "./UpstreamBackend.js"
