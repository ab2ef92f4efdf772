/**
 * Durable responses for `store: true`: hydrates a continuation whose parent is not in the connection's cache
 * (another connection, a reconnect) and serves HTTP mode's `previous_response_id`. Scoped by tenant: another
 * tenant's id is simply not found. This module has the in-memory implementation; the interface is
 * Effect-based and the record is a schema so a shared store (Redis) can encode it.
 *
 * @since 0.1.0
 */
import { ResponseCreate } from "@loopwire/protocol/ClientEvent"
import { Response } from "@loopwire/protocol/Response"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Tenant } from "./Auth.js"
import * as ChainContext from "./ChainContext.js"

/**
 * What is stored per response: the Response, its effective input context (a `ChainContext`, shared by reference in
 * memory; encoded as the full item array), its `turn` (model responses before it
 * in the chain) and the request that created it (the settings needed to continue). A `StateCache.CachedResponse`
 * is one (structurally), so the gateway can put the same value in both.
 *
 * @since 0.1.0
 * @category models
 */
export const StoredResponse = Schema.Struct({
  response: Response,
  context: ChainContext.FromItems,
  turn: Schema.Int.pipe(Schema.nonNegative()),
  request: ResponseCreate
})

/**
 * @since 0.1.0
 * @category models
 */
export type StoredResponse = typeof StoredResponse.Type

/**
 * A store failure (the in-memory store never fails; a networked one may be `Unavailable` or meet a record it
 * cannot `Decode`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ResponseStoreError extends Schema.TaggedError<ResponseStoreError>("@loopwire/server/ResponseStoreError")(
  "ResponseStoreError",
  {
    reason: Schema.Literal("Unavailable", "Decode"),
    message: Schema.String
  }
) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** Stores (or replaces) the record under `record.response.id` for this tenant. */
  readonly put: (tenant: Tenant, record: StoredResponse) => Effect.Effect<void, ResponseStoreError>
  /** The tenant's record; none for an unknown, expired, evicted or other tenant's id. */
  readonly get: (tenant: Tenant, responseId: string) => Effect.Effect<Option.Option<StoredResponse>, ResponseStoreError>
  /** Deletes the tenant's record; true when it was present. */
  readonly remove: (tenant: Tenant, responseId: string) => Effect.Effect<boolean, ResponseStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ResponseStore extends Context.Tag("@loopwire/server/ResponseStore")<ResponseStore, Shape>() {}

/**
 * Process-wide counters of store operations, tagged `store=memory|redis`: `reads` (every `get`: the gateway calls it
 * only when a parent is not in the connection's cache), `hits` (reads that found the record) and `writes`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  reads: Metric.counter("loopwire_response_store_reads", {
    description: "Response store reads (on a connection-cache miss), by store.",
    incremental: true
  }),
  hits: Metric.counter("loopwire_response_store_hits", {
    description: "Response store reads that found the response, by store.",
    incremental: true
  }),
  writes: Metric.counter("loopwire_response_store_writes", {
    description: "Response store writes (store: true), by store.",
    incremental: true
  })
} as const

/**
 * Counts one `get` (and its hit) and one `put` around a store's operations.
 *
 * @since 0.1.0
 * @category metrics
 */
export const counted = (store: Shape, name: string): Shape => {
  const reads = metrics.reads.pipe(Metric.tagged("store", name))
  const hits = metrics.hits.pipe(Metric.tagged("store", name))
  const writes = metrics.writes.pipe(Metric.tagged("store", name))
  return {
    put: (tenant, record) => Effect.zipRight(Metric.increment(writes), store.put(tenant, record)),
    get: (tenant, responseId) =>
      Effect.zipRight(Metric.increment(reads), store.get(tenant, responseId)).pipe(
        Effect.tap((found) => (Option.isSome(found) ? Metric.increment(hits) : Effect.void))
      ),
    remove: store.remove
  }
}

/**
 * Options of the in-memory store.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** At most this many records (all tenants); the oldest stored go first. Default 10 000. */
  readonly maxEntries?: number | undefined
  /** Records expire this long after they were stored. Default: never. */
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxEntries = 10_000

interface Slot {
  readonly record: StoredResponse
  readonly storedAt: number
}

/**
 * The in-memory store: a map in insertion order, so the bound evicts the oldest record and expiry sweeps from the
 * front (amortised O(1) per operation).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<Shape> =>
  Effect.sync(() => {
    const maxEntries = Math.max(0, Math.floor(options.maxEntries ?? defaultMaxEntries))
    const ttlMillis = options.ttl === undefined ? undefined : Duration.toMillis(Duration.decode(options.ttl))
    // NUL never appears in a tenant name or a response id we issue, so the composite key is unambiguous.
    const slots = new Map<string, Slot>()
    const key = (tenant: Tenant, responseId: string) => `${tenant}\u0000${responseId}`
    const expired = (slot: Slot, now: number) => ttlMillis !== undefined && now - slot.storedAt >= ttlMillis

    const sweep = (now: number) => {
      if (ttlMillis === undefined) return
      for (const [k, slot] of slots) {
        if (!expired(slot, now)) return
        slots.delete(k)
      }
    }

    const put = (tenant: Tenant, record: StoredResponse) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        const k = key(tenant, record.response.id)
        slots.delete(k) // re-insert at the back: a replaced record is the newest
        if (maxEntries === 0) return
        slots.set(k, { record, storedAt: now })
        while (slots.size > maxEntries) {
          const oldest = slots.keys().next()
          if (oldest.done === true) break
          slots.delete(oldest.value)
        }
      })

    const get = (tenant: Tenant, responseId: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        const k = key(tenant, responseId)
        const slot = slots.get(k)
        if (slot === undefined) return Option.none()
        if (expired(slot, now)) {
          slots.delete(k)
          return Option.none()
        }
        return Option.some(slot.record)
      })

    const remove = (tenant: Tenant, responseId: string) => Effect.sync(() => slots.delete(key(tenant, responseId)))

    return ResponseStore.of(counted({ put, get, remove }, "memory"))
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<ResponseStore> =>
  Layer.effect(ResponseStore, makeMemory(options))

/**
 * In-memory options from configuration: `LOOPWIRE_STORE_MAX_ENTRIES` (integer, default 10 000) and
 * `LOOPWIRE_STORE_TTL` (duration such as `1 hour`, default never).
 *
 * @since 0.1.0
 * @category config
 */
export const memoryConfig: Config.Config<MemoryOptions> = Config.all({
  maxEntries: Config.withDefault(
    Config.integer("LOOPWIRE_STORE_MAX_ENTRIES").pipe(
      Config.validate({ message: "must be a non-negative integer", validation: (n) => n >= 0 })
    ),
    defaultMaxEntries
  ),
  ttl: Config.option(Config.duration("LOOPWIRE_STORE_TTL"))
}).pipe(Config.map(({ maxEntries, ttl }) => ({ maxEntries, ttl: Option.getOrUndefined(ttl) })))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryConfig = (
  options: Config.Config<MemoryOptions> = memoryConfig
): Layer.Layer<ResponseStore, ConfigError.ConfigError> =>
  Layer.effect(ResponseStore, Effect.flatMap(options, makeMemory))

/**
 * The default store: {@link makeMemory}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = makeMemory

/**
 * The default store's layer: {@link layerMemory}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = layerMemory

/**
 * The default store's layer from configuration: {@link layerMemoryConfig}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = layerMemoryConfig
