/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as BenchError from "./BenchError.js"

/**
 * @since 0.1.0
 */
export * as ChildServer from "./ChildServer.js"

/**
 * @since 0.1.0
 */
export * as DelayProxy from "./DelayProxy.js"

/**
 * @since 0.1.0
 */
export * as FloorServer from "./FloorServer.js"

/**
 * @since 0.1.0
 */
export * as Harness from "./Harness.js"

/**
 * @since 0.1.0
 */
export * as Loopwire from "./Loopwire.js"

/**
 * @since 0.1.0
 */
export * as Network from "./Network.js"

/**
 * @since 0.1.0
 */
export * as Report from "./Report.js"

/**
 * @since 0.1.0
 */
export * as Results from "./Results.js"

/**
 * @since 0.1.0
 */
export * as Rollout from "./Rollout.js"

/**
 * @since 0.1.0
 */
export * as Scale from "./Scale.js"

/**
 * @since 0.1.0
 */
export * as Stats from "./Stats.js"

/**
 * @since 0.1.0
 */
export * as Suite from "./Suite.js"

/**
 * @since 0.1.0
 */
export * as Svg from "./Svg.js"

/**
 * @since 0.1.0
 */
export * as Throughput from "./Throughput.js"

/**
 * @since 0.1.0
 */
export * as Tls from "./Tls.js"

/**
 * @since 0.1.0
 */
export * as Transports from "./Transports.js"

/**
 * @since 0.1.0
 */
export * as TransportUnderTest from "./TransportUnderTest.js"

/**
 * @since 0.1.0
 */
export * as Workload from "./Workload.js"

/**
 * @since 0.1.0
 */
export * as UpstreamHop from "./UpstreamHop.js"
