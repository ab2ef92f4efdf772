/**
 * The previous responses kept warm per connection and lane: the fast path of a continuation. Policies
 * (LatestPerLane, LRU, byte budget, TTL, and their compositions) are plain data applied by pure functions; the
 * service holds the state and applies them in one synchronous step per operation.
 *
 * Longer than 300 lines because the public policy combinators (latest per lane, LRU, byte and tenant budgets, TTL),
 * their documentation and the configuration are here with the service; the index operations themselves are in
 * `internal/cacheState.ts`.
 *
 * @since 0.1.0
 */
import type { ResponseCreate } from "@loopwire/protocol/ClientEvent"
import type { InputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import * as Config from "effect/Config"
import { nonNegative, nonNegativeRequired } from "./internal/config.js"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as MetricLabel from "effect/MetricLabel"
import * as ChainContext from "./ChainContext.js"
import * as internal from "./internal/cacheState.js"
import * as Metrics from "./Metrics.js"

/**
 * What the cache keeps for one response: the response itself, its effective input (shared by reference with the
 * chain, never re-parsed), the number of model responses before it in the chain, the request that created it
 * and estimated sizes. Build it with {@link makeEntry} so the sizes are computed once, in O(new input).
 *
 * @since 0.1.0
 * @category models
 */
export interface CachedResponse {
  readonly response: Response
  /**
   * The effective input of `response`: the parent's context + the parent's output + this turn's new items, as a
   * persistent segment chain sharing the parent's segments (O(new input) per entry, O(N) items for an N-turn chain).
   */
  readonly context: ChainContext.ChainContext
  /** Model responses already in the chain before this one (0 for the first). */
  readonly turn: number
  readonly request: ResponseCreate
  /** Estimated JSON size of `context`, in bytes (UTF-16 code units). */
  readonly contextBytes: number
  /** Estimated size of the whole entry: `contextBytes` + the output + the request's settings. */
  readonly bytes: number
}

/**
 * A cache hit: the entry and the lane it was put on (a failed same-lane continuation evicts its parent, a
 * cross-lane fork does not).
 *
 * @since 0.1.0
 * @category models
 */
export interface CacheHit extends CachedResponse {
  readonly lane: string
}

const jsonSize = (value: unknown): number => (value === undefined ? 0 : JSON.stringify(value).length)

/**
 * Builds an entry and estimates its size once, in O(new input): a `ChainContext` carries its own size (summed per
 * segment as the chain grows); a plain array is wrapped as one segment and measured once (a full request carries
 * it anyway). `parent` and `newInput` are accepted for compatibility and no longer needed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEntry = (options: {
  readonly response: Response
  /** A `ChainContext` (shared), or an array (measured once: a full request carries it anyway). */
  readonly context: ChainContext.ChainContext | ReadonlyArray<InputItem>
  readonly turn: number
  readonly request: ResponseCreate
  readonly parent?: CachedResponse | undefined
  readonly newInput?: ReadonlyArray<InputItem> | undefined
  /** The size of the request's settings (`request` without `input`) when the caller already knows it. */
  readonly settingsBytes?: number | undefined
}): CachedResponse => {
  const context = ChainContext.isChainContext(options.context)
    ? options.context
    : ChainContext.fromArray(options.context)
  const contextBytes = context.bytes + 2 + Math.max(0, context.length - 1)
  const settingsBytes = options.settingsBytes ?? jsonSize({ ...options.request, input: undefined })
  return {
    response: options.response,
    context,
    turn: options.turn,
    request: options.request,
    contextBytes,
    bytes: contextBytes + jsonSize(options.response.output) + settingsBytes
  }
}

/**
 * A cache policy: plain data, composed with {@link all}. Budgets are global to the cache (all connections);
 * LatestPerLane is per (connection, lane).
 *
 * @since 0.1.0
 * @category policies
 */
export interface Policy {
  /** Each (connection, lane) keeps only its latest response (the OpenAI rule). */
  readonly latestPerLane: boolean
  /** At most this many entries; the least recently used go first. */
  readonly maxEntries: number | undefined
  /** At most this many estimated bytes; the least recently used go first; a bigger entry is not stored. */
  readonly maxBytes: number | undefined
  /**
   * At most this many estimated bytes per tenant (all its connections): the tenant's own least recently used go
   * first; a bigger entry is not stored. A connection's tenant is the one bound with `bindTenant`.
   */
  readonly maxTenantBytes: number | undefined
  /** Entries expire this long after they were put. */
  readonly ttlMillis: number | undefined
}

/**
 * No limit at all: every put entry stays until evicted or its connection closes.
 *
 * @since 0.1.0
 * @category policies
 */
export const unbounded: Policy = {
  latestPerLane: false,
  maxEntries: undefined,
  maxBytes: undefined,
  maxTenantBytes: undefined,
  ttlMillis: undefined
}

/**
 * Each (connection, lane) keeps only its latest response. The default.
 *
 * @since 0.1.0
 * @category policies
 */
export const latestPerLane: Policy = { ...unbounded, latestPerLane: true }

/**
 * At most `n` entries in the whole cache, least recently used (put or get) evicted first. `lru(0)` stores nothing.
 *
 * @since 0.1.0
 * @category policies
 */
export const lru = (n: number): Policy => ({ ...unbounded, maxEntries: Math.max(0, Math.floor(n)) })

/**
 * At most `bytes` estimated bytes in the whole cache, least recently used evicted first.
 *
 * @since 0.1.0
 * @category policies
 */
export const byteBudget = (bytes: number): Policy => ({ ...unbounded, maxBytes: Math.max(0, Math.floor(bytes)) })

/**
 * At most `bytes` estimated bytes per tenant, the tenant's least recently used evicted first.
 *
 * @since 0.1.0
 * @category policies
 */
export const tenantBudget = (bytes: number): Policy => ({ ...unbounded, maxTenantBytes: Math.max(0, Math.floor(bytes)) })

/**
 * Entries expire `duration` after they were put (measured with `Clock`).
 *
 * @since 0.1.0
 * @category policies
 */
export const ttl = (duration: Duration.DurationInput): Policy => ({
  ...unbounded,
  ttlMillis: Duration.toMillis(Duration.decode(duration))
})

const minDefined = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b)

/**
 * Every policy at once: LatestPerLane if any asks for it, and the tightest of each budget. E.g.
 * `all(latestPerLane, byteBudget(64 * 1024 * 1024), ttl("10 minutes"))`.
 *
 * @since 0.1.0
 * @category policies
 */
export const all = (...policies: ReadonlyArray<Policy>): Policy =>
  policies.reduce(
    (acc, p) => ({
      latestPerLane: acc.latestPerLane || p.latestPerLane,
      maxEntries: minDefined(acc.maxEntries, p.maxEntries),
      maxBytes: minDefined(acc.maxBytes, p.maxBytes),
      maxTenantBytes: minDefined(acc.maxTenantBytes, p.maxTenantBytes),
      ttlMillis: minDefined(acc.ttlMillis, p.ttlMillis)
    }),
    unbounded
  )

/**
 * The default byte budget of the whole cache (all connections): 256 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxBytes = 256 * 1024 * 1024

/**
 * The default byte budget of one tenant (all its connections): 128 MiB, so one tenant cannot take the whole cache
 * from the others.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxTenantBytes = 128 * 1024 * 1024

/**
 * The default policy: {@link latestPerLane} within {@link defaultMaxBytes} and {@link defaultMaxTenantBytes} per
 * tenant (least recently used evicted first; an evicted parent makes a delta continuation fall back to the
 * `ResponseStore`, else `previous_response_not_found`).
 *
 * @since 0.1.0
 * @category policies
 */
export const defaultPolicy: Policy = all(
  latestPerLane,
  byteBudget(defaultMaxBytes),
  tenantBudget(defaultMaxTenantBytes)
)

/**
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly entries: number
  readonly bytes: number
  readonly connections: number
  readonly hits: number
  readonly misses: number
  readonly evictions: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  readonly policy: Policy
  /** The entry for `responseId` on this connection (any lane), marked as recently used. */
  readonly get: (connectionId: string, responseId: string) => Effect.Effect<Option.Option<CacheHit>>
  /**
   * Binds a connection to its tenant, whose byte budget its entries count against (until `closeConnection`); an
   * unbound connection's entries count against the tenant `""`.
   */
  readonly bindTenant: (connectionId: string, tenant: string) => Effect.Effect<void>
  /** Stores `entry` as the latest response of the lane, then applies the policy. */
  readonly put: (connectionId: string, lane: string, entry: CachedResponse) => Effect.Effect<void>
  /** Drops one entry; true when it was present. */
  readonly evict: (connectionId: string, responseId: string) => Effect.Effect<boolean>
  /** Drops every entry of the connection (and its tenant binding); yields how many there were. */
  readonly closeConnection: (connectionId: string) => Effect.Effect<number>
  readonly stats: Effect.Effect<Stats>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class StateCache extends Context.Tag("@loopwire/server/StateCache")<StateCache, Shape>() {}

/**
 * Process-wide metrics (all caches): hits, misses, evictions.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  hits: Metric.counter("loopwire_state_cache_hits", {
    description: "Connection-cache lookups of a previous_response_id that found it.",
    incremental: true
  }),
  misses: Metric.counter("loopwire_state_cache_misses", {
    description: "Connection-cache lookups of a previous_response_id that missed.",
    incremental: true
  }),
  evictions: Metric.counter("loopwire_state_cache_evictions", {
    description: "Responses evicted from connection caches.",
    incremental: true
  }),
  budgetEvictions: Metric.counter("loopwire_state_cache_budget_evictions", {
    description: "Responses evicted from connection caches to stay within a budget, by budget (entries, bytes, tenant_bytes).",
    incremental: true
  }),
  bytes: Metric.gauge("loopwire_state_cache_bytes", {
    description: "Estimated bytes held by the connection caches (the last cache that changed, in a process with several)."
  })
} as const

const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []
const budgetEvictionsByBudget = new Map<string, Metric.Metric.Counter<number>>()
const budgetEvictionsOf = (budget: string): Metric.Metric.Counter<number> => {
  let found = budgetEvictionsByBudget.get(budget)
  if (found === undefined) {
    found = Metrics.labelled(metrics.budgetEvictions, { budget })
    budgetEvictionsByBudget.set(budget, found)
  }
  return found
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly policy?: Policy | undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Shape> =>
  Effect.sync(() => {
    const policy = options.policy ?? defaultPolicy
    // Plain state, changed only inside one synchronous step per operation (the clock is read through the
    // fiber's `Clock`, so `TestClock` drives TTLs): a turn's lookup and put cost no more than the work itself.
    let state = internal.empty<CachedResponse>()
    const counters = { hits: 0, misses: 0, evictions: 0 }

    const record = (evicted: ReadonlyArray<internal.Eviction>, hit?: boolean): void => {
      metrics.bytes.unsafeUpdate(state.bytes, noLabels)
      if (evicted.length === 0 && hit === undefined) return
      counters.hits += hit === true ? 1 : 0
      counters.misses += hit === false ? 1 : 0
      counters.evictions += evicted.length
      if (evicted.length > 0) metrics.evictions.unsafeUpdate(evicted.length, noLabels)
      for (const eviction of evicted) {
        const budget = eviction.reason === "lru" ? "entries" : eviction.reason
        if (budget === "entries" || budget === "bytes" || budget === "tenant_bytes") {
          budgetEvictionsOf(budget).unsafeUpdate(1, noLabels)
        }
      }
      if (hit === true) metrics.hits.unsafeUpdate(1, noLabels)
      if (hit === false) metrics.misses.unsafeUpdate(1, noLabels)
    }

    const modify = <A>(
      f: (s: internal.CacheState<CachedResponse>, now: number) => internal.Result<CachedResponse, A>
    ): Effect.Effect<internal.Result<CachedResponse, A>> =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const result = f(state, clock.unsafeCurrentTimeMillis())
          state = result.state
          return result
        })
      )

    const get = (connectionId: string, responseId: string) =>
      Effect.map(
        modify((s, now) => internal.get(s, policy, connectionId, responseId, now)),
        (result) => {
          record(result.evicted, Option.isSome(result.value))
          return Option.map(result.value, (entry): CacheHit => ({ ...entry.value, lane: entry.lane }))
        }
      )

    // Plain: looked up once per put; dropped with the connection's entries.
    const tenants = new Map<string, string>()
    const bindTenant = (connectionId: string, tenant: string) => Effect.sync(() => void tenants.set(connectionId, tenant))

    const put = (connectionId: string, lane: string, entry: CachedResponse) =>
      Effect.map(
        modify((s, now) =>
          internal.put(
            s,
            policy,
            {
              connectionId,
              tenant: tenants.get(connectionId) ?? "",
              lane,
              responseId: entry.response.id,
              value: entry,
              bytes: entry.bytes
            },
            now
          )
        ),
        (result) => record(result.evicted)
      )

    const evict = (connectionId: string, responseId: string) =>
      Effect.map(
        modify((s, now) => internal.evict(s, policy, connectionId, responseId, now)),
        (result) => {
          record(result.evicted)
          return result.value
        }
      )

    const closeConnection = (connectionId: string) =>
      Effect.map(
        modify((s, now) => {
          tenants.delete(connectionId)
          return internal.closeConnection(s, policy, connectionId, now)
        }),
        (result) => {
          record(result.evicted)
          return result.value
        }
      )

    const stats = Effect.map(
      modify((s, now) => {
        const evicted: Array<internal.Eviction> = []
        const swept = internal.sweep(s, policy, now, evicted)
        return { state: swept, evicted, value: undefined }
      }),
      (result) => {
        record(result.evicted)
        const current = result.state
        return {
          entries: internal.size(current),
          bytes: current.bytes,
          connections: internal.connectionCount(current),
          ...counters
        }
      }
    )

    return StateCache.of({ policy, get, bindTenant, put, evict, closeConnection, stats })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<StateCache> => Layer.effect(StateCache, make(options))

/**
 * The policy from configuration, composed with {@link all}:
 * `LOOPWIRE_CACHE_LATEST_PER_LANE` (boolean, default true), `LOOPWIRE_CACHE_MAX_ENTRIES` (integer, default none),
 * `LOOPWIRE_CACHE_MAX_BYTES` (integer, default 256 MiB), `LOOPWIRE_CACHE_MAX_TENANT_BYTES` (integer, default
 * 128 MiB), `LOOPWIRE_CACHE_TTL` (duration such as `10 minutes`, default
 * none).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  latestPerLane: Config.withDefault(Config.boolean("LOOPWIRE_CACHE_LATEST_PER_LANE"), true),
  maxEntries: Config.option(nonNegativeRequired("LOOPWIRE_CACHE_MAX_ENTRIES")),
  maxBytes: nonNegative("LOOPWIRE_CACHE_MAX_BYTES", defaultMaxBytes),
  maxTenantBytes: nonNegative("LOOPWIRE_CACHE_MAX_TENANT_BYTES", defaultMaxTenantBytes),
  ttl: Config.option(Config.duration("LOOPWIRE_CACHE_TTL"))
}).pipe(Config.map(({ latestPerLane: latest, maxBytes, maxEntries, maxTenantBytes, ttl: timeToLive }) => ({
  policy: all(
    latest ? latestPerLane : unbounded,
    Option.match(maxEntries, { onNone: () => unbounded, onSome: lru }),
    byteBudget(maxBytes),
    tenantBudget(maxTenantBytes),
    Option.match(timeToLive, { onNone: () => unbounded, onSome: ttl })
  )
})))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<StateCache, ConfigError.ConfigError> => Layer.effect(StateCache, Effect.flatMap(options, make))
