/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Tool from "./Tool.js"

/**
 * @since 0.1.0
 */
export * as Toolkit from "./Toolkit.js"

/**
 * @since 0.1.0
 */
export * as ToolRegistry from "./ToolRegistry.js"
