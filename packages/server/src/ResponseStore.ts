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
import { nonNegative } from "./internal/config.js"
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
  /**
   * At most this many estimated bytes of records (all tenants): the oldest stored go first, and a record larger
   * than the budget is not stored (a later continuation from it gets `previous_response_not_found`). Default 256 MiB.
   */
  readonly maxBytes?: number | undefined
  /** At most this many estimated bytes per tenant: the tenant's oldest records go first. Default 64 MiB. */
  readonly maxTenantBytes?: number | undefined
  /** Records expire this long after they were stored. Default: never. */
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxEntries = 10_000

/**
 * Default byte budget of the in-memory store (all tenants): 256 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxBytes = 256 * 1024 * 1024

/**
 * Default byte budget of one tenant in the in-memory store: 64 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxTenantBytes = 64 * 1024 * 1024

/**
 * Gauges and counters of the in-memory store's budget: `loopwire_response_store_bytes` (estimated bytes held),
 * `loopwire_response_store_evictions` (exposed as `_total`) (records dropped to stay within a budget, tagged
 * `budget=entries|bytes|tenant_bytes`) and `loopwire_response_store_rejected` (records larger than a budget,
 * never stored).
 *
 * @since 0.1.0
 * @category metrics
 */
export const budgetMetrics = {
  bytes: Metric.gauge("loopwire_response_store_bytes", {
    description: "Estimated bytes held by the in-memory response store."
  }),
  evictions: Metric.counter("loopwire_response_store_evictions", {
    description: "Stored responses dropped to stay within a budget (entries, bytes, tenant_bytes).",
    incremental: true
  }),
  rejected: Metric.counter("loopwire_response_store_rejected", {
    description: "Responses larger than a store budget, never stored.",
    incremental: true
  })
} as const

/**
 * The estimated size of a record in bytes: its context's (kept per segment, O(1)), its output's and a fixed
 * overhead for the response and the request. A `StateCache` entry carries it already.
 *
 * @since 0.1.0
 * @category getters
 */
export const recordBytes = (record: StoredResponse): number => {
  const carried = (record as { readonly bytes?: unknown }).bytes
  if (typeof carried === "number") return carried
  let output = 0
  for (const item of record.response.output) output += JSON.stringify(item).length
  return record.context.bytes + output + 1024
}

interface Slot {
  readonly tenant: Tenant
  readonly record: StoredResponse
  readonly storedAt: number
  readonly bytes: number
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
    const maxBytes = Math.max(0, Math.floor(options.maxBytes ?? defaultMaxBytes))
    const maxTenantBytes = Math.max(0, Math.floor(options.maxTenantBytes ?? defaultMaxTenantBytes))
    const ttlMillis = options.ttl === undefined ? undefined : Duration.toMillis(Duration.decode(options.ttl))
    // NUL never appears in a tenant name or a response id we issue, so the composite key is unambiguous.
    const slots = new Map<string, Slot>()
    // Per tenant, its keys in insertion order (oldest first) and its bytes.
    const tenants = new Map<Tenant, { readonly keys: Set<string>; bytes: number }>()
    let bytes = 0
    const key = (tenant: Tenant, responseId: string) => `${tenant}\u0000${responseId}`
    const expired = (slot: Slot, now: number) => ttlMillis !== undefined && now - slot.storedAt >= ttlMillis
    let evicted = { entries: 0, bytes: 0, tenant_bytes: 0 }

    const drop = (k: string): boolean => {
      const slot = slots.get(k)
      if (slot === undefined) return false
      slots.delete(k)
      bytes -= slot.bytes
      const owner = tenants.get(slot.tenant)
      if (owner !== undefined) {
        owner.keys.delete(k)
        owner.bytes -= slot.bytes
        if (owner.keys.size === 0) tenants.delete(slot.tenant)
      }
      return true
    }

    const sweep = (now: number) => {
      if (ttlMillis === undefined) return
      for (const [k, slot] of slots) {
        if (!expired(slot, now)) return
        drop(k)
      }
    }

    // Metrics after a change (gauges are process-wide: the sum over stores is not tracked, the last write wins).
    const report = Effect.suspend(() => {
      const counts = evicted
      evicted = { entries: 0, bytes: 0, tenant_bytes: 0 }
      const effects: Array<Effect.Effect<void>> = [Metric.set(budgetMetrics.bytes, bytes)]
      for (const [budget, n] of Object.entries(counts)) {
        if (n > 0) effects.push(Metric.incrementBy(budgetMetrics.evictions.pipe(Metric.tagged("budget", budget)), n))
      }
      return Effect.all(effects, { discard: true })
    })

    const put = (tenant: Tenant, record: StoredResponse) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        sweep(now)
        const k = key(tenant, record.response.id)
        drop(k) // re-insert at the back: a replaced record is the newest
        const size = recordBytes(record)
        if (maxEntries === 0 || size > maxBytes || size > maxTenantBytes) {
          return Effect.zipRight(Metric.increment(budgetMetrics.rejected), report)
        }
        const owner = tenants.get(tenant) ?? { keys: new Set<string>(), bytes: 0 }
        tenants.set(tenant, owner)
        // The tenant's own oldest records make room for it first, then everyone's oldest.
        while (owner.bytes + size > maxTenantBytes) {
          const oldest = owner.keys.values().next()
          if (oldest.done === true || !drop(oldest.value)) break
          evicted.tenant_bytes++
        }
        slots.set(k, { tenant, record, storedAt: now, bytes: size })
        owner.keys.add(k)
        owner.bytes += size
        bytes += size
        while (slots.size > maxEntries || bytes > maxBytes) {
          const oldest = slots.keys().next()
          if (oldest.done === true) break
          if (slots.size > maxEntries) evicted.entries++
          else evicted.bytes++
          drop(oldest.value)
        }
        return report
      })

    const get = (tenant: Tenant, responseId: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        const k = key(tenant, responseId)
        const slot = slots.get(k)
        if (slot === undefined) return Option.none()
        if (expired(slot, now)) {
          drop(k)
          return Option.none()
        }
        return Option.some(slot.record)
      })

    const remove = (tenant: Tenant, responseId: string) => Effect.sync(() => drop(key(tenant, responseId)))

    return ResponseStore.of(counted({ put, get, remove }, "memory"))
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<ResponseStore> =>
  Layer.effect(ResponseStore, makeMemory(options))

/**
 * In-memory options from configuration: `LOOPWIRE_STORE_MAX_ENTRIES` (integer, default 10 000),
 * `LOOPWIRE_STORE_MAX_BYTES` (integer, default 256 MiB), `LOOPWIRE_STORE_MAX_TENANT_BYTES` (integer, default 64 MiB)
 * and `LOOPWIRE_STORE_TTL` (duration such as `1 hour`, default never).
 *
 * @since 0.1.0
 * @category config
 */
export const memoryConfig: Config.Config<MemoryOptions> = Config.all({
  maxEntries: nonNegative("LOOPWIRE_STORE_MAX_ENTRIES", defaultMaxEntries),
  maxBytes: nonNegative("LOOPWIRE_STORE_MAX_BYTES", defaultMaxBytes),
  maxTenantBytes: nonNegative("LOOPWIRE_STORE_MAX_TENANT_BYTES", defaultMaxTenantBytes),
  ttl: Config.option(Config.duration("LOOPWIRE_STORE_TTL"))
}).pipe(Config.map(({ ttl, ...budgets }) => ({ ...budgets, ttl: Option.getOrUndefined(ttl) })))

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
