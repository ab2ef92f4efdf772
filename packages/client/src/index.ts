/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AgentLoop from "./AgentLoop.js"

/**
 * @since 0.1.0
 */
export * as ClientConfig from "./ClientConfig.js"

/**
 * @since 0.1.0
 */
export * as ConnectionPool from "./ConnectionPool.js"

/**
 * @since 0.1.0
 */
export * as HttpResponses from "./HttpResponses.js"

/**
 * @since 0.1.0
 */
export * as LanguageModel from "./LanguageModel.js"

/**
 * @since 0.1.0
 */
export * as Recovery from "./Recovery.js"

/**
 * @since 0.1.0
 */
export * as ResponsesClient from "./ResponsesClient.js"

/**
 * @since 0.1.0
 */
export * as ResponsesError from "./ResponsesError.js"

/**
 * @since 0.1.0
 */
export * as Session from "./Session.js"

/**
 * @since 0.1.0
 */
export * as Resume from "./Resume.js"

/**
 * @since 0.1.0
 */
export * as ToolRegistry from "./ToolRegistry.js"
