/**
 * Gives memory back after a load. V8 collects its old generation only when allocation pushes it there, so a gateway
 * that goes idle after a burst keeps its grown heap (and the RSS of it) until the next load, however little of it is
 * live: measured, 114 MB before 2,000 connections and floods, 323 MB after 90 s idle, of which 114 MB of old
 * space "used" was garbage a collection would free. This service samples the process every `interval`: when the
 * event loop was idle through the last interval (utilization below `idleUtilization`) and the heap has grown past
 * its size after the last collection by `minGrowthBytes` and `minGrowthRatio`, it runs one full collection; V8
 * then unmaps the freed pages. Each sample is a few plain calls; a collection runs only once per idle period.
 *
 * Memory a load leaves behind often becomes garbage only later, without the heap growing: sessions waiting out
 * their resume grace, cached lanes expiring. So a collection the growth triggered is followed by `followUps` more
 * (default 4), each once idle and `followUpDelay` (default 30 s), then twice, four times that after the one before:
 * at most five full collections per load, all while idle. Measured (`packages/bench/src/memoryAfterLoad.ts`), the
 * single collection left 136 MB of old space in use after the load (58 MB before); see docs/deployment.md.
 *
 * The collection is V8's `gc` function, obtained at run time (`--expose-gc` set through `v8.setFlagsFromString`
 * and read from a fresh context), so no command-line flag is needed; when it cannot be obtained the service does
 * nothing.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { performance } from "node:perf_hooks"
import * as V8 from "node:v8"
import * as Vm from "node:vm"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Time between samples. Default 5 seconds. */
  readonly interval?: Duration.DurationInput | undefined
  /** Event-loop utilization (0–1) below which an interval counts as idle. Default 0.05. */
  readonly idleUtilization?: number | undefined
  /** Heap growth since the last collection that is worth one: at least this many bytes. Default 16 MiB. */
  readonly minGrowthBytes?: number | undefined
  /** … and at least this fraction of the heap after the last collection. Default 0.2. */
  readonly minGrowthRatio?: number | undefined
  /** Further collections after one the growth triggered, each once idle (see the module). Default 4. */
  readonly followUps?: number | undefined
  /** Delay before the first follow-up; each next one waits twice the one before. Default 30 seconds. */
  readonly followUpDelay?: Duration.DurationInput | undefined
  /** Where the heap size is read. Default `process.memoryUsage().heapUsed`. */
  readonly heapUsed?: (() => number) | undefined
}

/**
 * What one sample saw.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sample {
  /** Event-loop utilization over the last interval (0–1). */
  readonly utilization: number
  /** `process.memoryUsage().heapUsed` now. */
  readonly heapUsed: number
  /** `heapUsed` right after the last collection (or at the first sample). */
  readonly baseline: number
}

/**
 * Whether to collect now: the last interval was idle and the heap grew past the baseline by both thresholds. Pure.
 *
 * @since 0.1.0
 * @category decisions
 */
export const shouldCollect = (sample: Sample, options: Options = {}): boolean => {
  const idle = sample.utilization < (options.idleUtilization ?? 0.05)
  const growth = sample.heapUsed - sample.baseline
  return idle && growth >= (options.minGrowthBytes ?? 16 * 1024 * 1024) &&
    growth >= sample.baseline * (options.minGrowthRatio ?? 0.2)
}

/**
 * `loopwire_idle_collections` (exposed as `_total`): full collections run because the gateway went idle with a grown
 * heap; `loopwire_idle_collection_freed_bytes` (as `_total`): heap bytes they freed.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  collections: Metric.counter("loopwire_idle_collections", {
    description: "Full garbage collections run because the gateway went idle with a grown heap.",
    incremental: true
  }),
  freed: Metric.counter("loopwire_idle_collection_freed_bytes", {
    description: "Heap bytes freed by the idle collections.",
    incremental: true
  })
} as const

let cachedGc: (() => void) | null | undefined

/**
 * V8's full collection, or undefined when this runtime does not allow it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const collector = (): (() => void) | undefined => {
  if (cachedGc === undefined) {
    const existing = (globalThis as { gc?: () => void }).gc
    if (typeof existing === "function") cachedGc = existing
    else {
      try {
        V8.setFlagsFromString("--expose-gc")
        const gc = Vm.runInNewContext("gc") as unknown
        cachedGc = typeof gc === "function" ? (gc as () => void) : null
      } catch {
        cachedGc = null
      }
    }
  }
  return cachedGc ?? undefined
}

/**
 * Samples every `interval` for the life of the scope and collects when {@link shouldCollect} says so.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (options: Options = {}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.suspend(() => {
    const gc = collector()
    if (gc === undefined) return Effect.logDebug("idle memory reclaim: no gc available; off")
    const heap = options.heapUsed ?? (() => process.memoryUsage().heapUsed)
    let last = performance.eventLoopUtilization()
    let baseline = heap()
    const firstDelay = Duration.toMillis(Duration.decode(options.followUpDelay ?? Duration.seconds(30)))
    let followUpsLeft = 0
    let followUpDelay = firstDelay
    let followUpAt = 0
    const sample = Effect.suspend(() => {
      const now = performance.eventLoopUtilization()
      const utilization = performance.eventLoopUtilization(now, last).utilization
      last = now
      const heapUsed = heap()
      const grown = shouldCollect({ utilization, heapUsed, baseline }, options)
      const followUp = !grown && followUpsLeft > 0 && Date.now() >= followUpAt &&
        utilization < (options.idleUtilization ?? 0.05)
      if (!grown && !followUp) {
        // A heap that shrank by itself (a collection V8 ran) is the new baseline.
        if (heapUsed < baseline) baseline = heapUsed
        return Effect.void
      }
      if (grown) {
        followUpsLeft = options.followUps ?? 4
        followUpDelay = firstDelay
      } else {
        followUpsLeft--
        followUpDelay *= 2
      }
      gc()
      baseline = heap()
      followUpAt = Date.now() + followUpDelay
      // The collection itself kept the loop busy: the next interval starts from here.
      last = performance.eventLoopUtilization()
      return Effect.zipRight(
        Metric.increment(metrics.collections),
        Metric.incrementBy(metrics.freed, Math.max(0, heapUsed - baseline))
      )
    })
    return Effect.asVoid(Effect.forkScoped(
      Effect.repeat(sample, Schedule.spaced(Duration.decode(options.interval ?? Duration.seconds(5))))
    ))
  })

/**
 * {@link start} as a layer (nothing when `enabled` is false).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options & { readonly enabled?: boolean | undefined } = {}): Layer.Layer<never> =>
  options.enabled === false ? Layer.empty : Layer.scopedDiscard(start(options))

/**
 * `LOOPWIRE_IDLE_GC` (boolean, default true): reclaim memory when idle after a load.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options & { readonly enabled: boolean }> = Config.all({
  enabled: Config.withDefault(Config.boolean("LOOPWIRE_IDLE_GC"), true)
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options & { readonly enabled: boolean }> = config
): Layer.Layer<never, ConfigError.ConfigError> => Layer.unwrapEffect(Effect.map(options, layer))
