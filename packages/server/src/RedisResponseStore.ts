/**
 * The `ResponseStore` on Redis, for several gateway processes: a response stored by one can be continued on
 * another. One string key per record, `<prefix>:{<tenant>}:resp:<id>`, holding JSON; retention is the key's TTL.
 *
 * A continuation's record holds only its own context segment (the parent's output + its new items) and its parent's
 * id, so a write is O(new input), not O(history); every `checkpointEvery`-th segment (and any record without a
 * parent) is written in full, so hydrating a record reads at most `checkpointEvery` keys. A record whose ancestors
 * expired or were removed does not hydrate: it is not found (`previous_response_not_found`; the client resends).
 *
 * Byte budgets (UTF-8 bytes of the records' JSON as stored): `maxTenantBytes` per tenant and `maxBytes` for every
 * tenant of the prefix together. A write is one Lua script that stores the record and accounts for it in Redis
 * itself (so several gateway processes share the budget): past a budget the oldest records go first (the tenant's
 * own for its budget, anyone's for the total), and a record larger than a budget is not stored. A continuation of
 * an evicted record, or of a delta record whose ancestor was evicted, is not found (`previous_response_not_found`).
 * Records that expired by their TTL are discounted at the next write. The total's accounting keys carry no
 * tenant hash tag: on Redis Cluster set `maxBytes` to 0 (off) and keep the tenant budget.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import { nonNegative } from "./internal/config.js"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InputItem } from "@loopwire/protocol/Items"
import * as ChainContext from "./ChainContext.js"
import type { Tenant } from "./Auth.js"
import * as Redis from "./Redis.js"
import * as ResponseStoreModule from "./ResponseStore.js"
import { ResponseStore, ResponseStoreError, StoredResponse } from "./ResponseStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long a record lives after it was (last) stored. Default 30 days; `Duration.infinity` keeps it forever. */
  readonly ttl?: Duration.DurationInput | undefined
  /**
   * Write a full record (the whole context) every this many context segments, bounding a hydration to this many
   * reads; the other records hold only their own segment. Default 64.
   */
  readonly checkpointEvery?: number | undefined
  /** Bytes of records of every tenant together; 0 turns the budget off. Default 512 MiB. */
  readonly maxBytes?: number | undefined
  /** Bytes of records of one tenant; 0 turns the budget off. Default 128 MiB. */
  readonly maxTenantBytes?: number | undefined
}

/**
 * Default byte budget of the Redis store (every tenant of the prefix): 512 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxBytes = 512 * 1024 * 1024

/**
 * Default byte budget of one tenant in the Redis store: 128 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxTenantBytes = 128 * 1024 * 1024

/**
 * `loopwire_redis_store_bytes` (bytes of records in the Redis store, all tenants, as of this process's last write),
 * `loopwire_redis_store_evictions` (exposed as `_total`; records dropped to stay within a budget, tagged
 * `budget=bytes|tenant_bytes`) and `loopwire_redis_store_rejected` (records larger than a budget, never stored).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  bytes: Metric.gauge("loopwire_redis_store_bytes", {
    description: "Bytes of records in the Redis response store (all tenants), as of this process's last write."
  }),
  evictions: Metric.counter("loopwire_redis_store_evictions", {
    description: "Records dropped from the Redis response store to stay within a budget (bytes, tenant_bytes).",
    incremental: true
  }),
  rejected: Metric.counter("loopwire_redis_store_rejected", {
    description: "Responses larger than a Redis store budget, never stored.",
    incremental: true
  })
} as const

// KEYS[1] the record. ARGV: json, ttl ms (0 = none), tenant budget, total budget (0 = off), total-keys base.
// The tenant's index (a sorted set of its record keys by write time) and byte counter share the record's hash
// tag; the total's live under the prefix. Each record's size is kept in the total's hash (for every tenant).
const PUT: Redis.Script = {
  name: "loopwireStorePut",
  numberOfKeys: 1,
  lua: `
local key = KEYS[1]
local json = ARGV[1]
local ttl = tonumber(ARGV[2])
local maxTenant = tonumber(ARGV[3])
local maxAll = tonumber(ARGV[4])
local allIndex = ARGV[5] .. ':index'
local allSizes = ARGV[5] .. ':sizes'
local allBytes = ARGV[5] .. ':bytes'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function tenantKeys(k)
  local i = string.find(k, ':resp:', 1, true)
  local base = string.sub(k, 1, i - 1)
  return base .. ':store:index', base .. ':store:bytes'
end
local function drop(k, delete)
  local size = tonumber(redis.call('HGET', allSizes, k) or '0')
  local index, bytes = tenantKeys(k)
  redis.call('HDEL', allSizes, k)
  redis.call('ZREM', allIndex, k)
  redis.call('ZREM', index, k)
  redis.call('DECRBY', bytes, size)
  redis.call('DECRBY', allBytes, size)
  if delete then redis.call('DEL', k) end
end
-- Records gone by their TTL: discounted (a bounded number per write).
if ttl > 0 then
  for _, k in ipairs(redis.call('ZRANGEBYSCORE', allIndex, '-inf', now - ttl, 'LIMIT', 0, 64)) do drop(k, false) end
end
if redis.call('HEXISTS', allSizes, key) == 1 then drop(key, true) end
local size = string.len(json)
if (maxTenant > 0 and size > maxTenant) or (maxAll > 0 and size > maxAll) then
  return {0, 0, 0, tonumber(redis.call('GET', allBytes) or '0')}
end
if ttl > 0 then redis.call('SET', key, json, 'PX', ttl) else redis.call('SET', key, json) end
local index, bytes = tenantKeys(key)
redis.call('ZADD', index, now, key)
redis.call('ZADD', allIndex, now, key)
redis.call('HSET', allSizes, key, size)
local tenantHeld = redis.call('INCRBY', bytes, size)
local allHeld = redis.call('INCRBY', allBytes, size)
local byTenant, byAll = 0, 0
while maxTenant > 0 and tenantHeld > maxTenant do
  local victim = redis.call('ZRANGE', index, 0, 0)[1]
  if victim == nil or victim == key then break end
  drop(victim, true)
  byTenant = byTenant + 1
  tenantHeld = tonumber(redis.call('GET', bytes) or '0')
end
allHeld = tonumber(redis.call('GET', allBytes) or '0')
while maxAll > 0 and allHeld > maxAll do
  local victim = redis.call('ZRANGE', allIndex, 0, 0)[1]
  if victim == nil or victim == key then break end
  drop(victim, true)
  byAll = byAll + 1
  allHeld = tonumber(redis.call('GET', allBytes) or '0')
end
return {1, byTenant, byAll, allHeld}
`
}

// KEYS[1] the record. ARGV: total-keys base. Deletes it and its accounting; 1 when it existed.
const REMOVE: Redis.Script = {
  name: "loopwireStoreRemove",
  numberOfKeys: 1,
  lua: `
local key = KEYS[1]
local allSizes = ARGV[1] .. ':sizes'
local existed = redis.call('DEL', key)
if redis.call('HEXISTS', allSizes, key) == 1 then
  local size = tonumber(redis.call('HGET', allSizes, key))
  local i = string.find(key, ':resp:', 1, true)
  local base = string.sub(key, 1, i - 1)
  redis.call('HDEL', allSizes, key)
  redis.call('ZREM', ARGV[1] .. ':index', key)
  redis.call('ZREM', base .. ':store:index', key)
  redis.call('DECRBY', base .. ':store:bytes', size)
  redis.call('DECRBY', ARGV[1] .. ':bytes', size)
end
return existed
`
}

/**
 * Default checkpoint interval: 64 segments.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultCheckpointEvery = 64

/**
 * Default retention of a stored response: 30 days.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTtl: Duration.Duration = Duration.days(30)

/**
 * The key of a stored response.
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (prefix: string, tenant: Tenant, responseId: string): string =>
  `${Redis.tenantBase(prefix, tenant)}:resp:${responseId}`

// A delta record: this turn's segment and the id of the parent record holding the rest of the context.
const Delta = Schema.Struct({
  response: StoredResponse.fields.response,
  turn: StoredResponse.fields.turn,
  request: StoredResponse.fields.request,
  parent: Schema.String,
  segment: Schema.Array(InputItem)
})
const Record = Schema.Union(StoredResponse, Delta)
const Json = Schema.parseJson(Record)
const encode = Schema.encode(Json)
const decode = Schema.decodeUnknown(Json)

const formatError = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)

const unavailable = (error: Redis.RedisError) =>
  new ResponseStoreError({ reason: "Unavailable", message: `Response store: ${error.message}` })

/**
 * Needs the shared `Redis` connection. Never blocks: while Redis is down every operation fails at once with
 * `ResponseStoreError` of reason `Unavailable`; a record that does not decode fails with reason `Decode`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const ttl = Duration.decode(options.ttl ?? defaultTtl)
    const ttlMillis = Duration.isFinite(ttl) ? Math.max(1, Math.round(Duration.toMillis(ttl))) : undefined
    const checkpointEvery = Math.max(1, Math.floor(options.checkpointEvery ?? defaultCheckpointEvery))
    const maxBytes = Math.max(0, Math.floor(options.maxBytes ?? defaultMaxBytes))
    const maxTenantBytes = Math.max(0, Math.floor(options.maxTenantBytes ?? defaultMaxTenantBytes))
    const totalBase = `${redis.prefix}:store`

    // Delta when the context's older part is exactly the parent's context (the gateway builds it so), else full.
    const toRecord = (record: StoredResponse): typeof Record.Type => {
      const context = record.context
      const parentId = record.response.previous_response_id
      if (
        typeof parentId === "string" && context.parent !== undefined && context.depth % checkpointEvery !== 0
      ) {
        return { response: record.response, turn: record.turn, request: record.request, parent: parentId, segment: context.items }
      }
      return record
    }

    const put = (tenant: Tenant, record: StoredResponse) =>
      Effect.gen(function*() {
        const json = yield* encode(toRecord(record)).pipe(
          Effect.mapError((e) =>
            new ResponseStoreError({
              reason: "Decode",
              message: `Cannot encode response '${record.response.id}': ${formatError(e)}`
            })
          )
        )
        const k = key(redis.prefix, tenant, record.response.id)
        const result = yield* Effect.mapError(
          redis.eval(PUT, [k], [json, ttlMillis ?? 0, maxTenantBytes, maxBytes, totalBase]),
          unavailable
        )
        const [stored, byTenant, byTotal, held] = (result as ReadonlyArray<number>).map(Number)
        yield* Metric.set(metrics.bytes, held ?? 0)
        if (stored === 0) yield* Metric.increment(metrics.rejected)
        if (byTenant! > 0) yield* Metric.incrementBy(Metric.tagged(metrics.evictions, "budget", "tenant_bytes"), byTenant!)
        if (byTotal! > 0) yield* Metric.incrementBy(Metric.tagged(metrics.evictions, "budget", "bytes"), byTotal!)
      })

    const read = (tenant: Tenant, responseId: string) =>
      Effect.gen(function*() {
        const json = yield* Effect.mapError(redis.use((c) => c.get(key(redis.prefix, tenant, responseId))), unavailable)
        if (json === null) return Option.none<typeof Record.Type>()
        const record = yield* decode(json).pipe(
          Effect.mapError((e) =>
            new ResponseStoreError({
              reason: "Decode",
              message: `Stored response '${responseId}' does not decode: ${formatError(e)}`
            })
          )
        )
        return Option.some(record)
      })

    // Hydration walks the delta records back to a full one (at most `checkpointEvery` reads for records this store
    // wrote; bounded anyway), then rebuilds the context as segments from the oldest.
    const get = (tenant: Tenant, responseId: string) =>
      Effect.gen(function*() {
        const first = yield* read(tenant, responseId)
        if (Option.isNone(first)) return Option.none<StoredResponse>()
        const segments: Array<ReadonlyArray<InputItem>> = []
        let current = first.value
        while ("parent" in current && typeof current.parent === "string" && "segment" in current) {
          segments.push(current.segment)
          if (segments.length > 100_000) return Option.none<StoredResponse>()
          const next = yield* read(tenant, current.parent)
          // An ancestor expired or was removed: the record cannot be rebuilt, so it is not found.
          if (Option.isNone(next)) return Option.none<StoredResponse>()
          current = next.value
        }
        let context = (current as StoredResponse).context
        for (let i = segments.length - 1; i >= 0; i--) context = ChainContext.append(context, segments[i]!)
        const top = first.value
        return Option.some<StoredResponse>({ response: top.response, turn: top.turn, request: top.request, context })
      })

    const remove = (tenant: Tenant, responseId: string) =>
      Effect.mapError(redis.eval(REMOVE, [key(redis.prefix, tenant, responseId)], [totalBase]), unavailable).pipe(
        Effect.map((n) => Number(n) > 0)
      )

    return ResponseStore.of(ResponseStoreModule.counted({ put, get, remove }, "redis"))
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<ResponseStore, never, Redis.Redis> =>
  Layer.effect(ResponseStore, make(options))

/**
 * Options from configuration: `LOOPWIRE_STORE_TTL` (duration, default `30 days`),
 * `LOOPWIRE_STORE_CHECKPOINT_EVERY` (integer, default 64), `LOOPWIRE_REDIS_STORE_MAX_BYTES` (default 512 MiB) and
 * `LOOPWIRE_REDIS_STORE_MAX_TENANT_BYTES` (default 128 MiB; 0 turns a budget off).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  ttl: Config.withDefault(Config.duration("LOOPWIRE_STORE_TTL"), defaultTtl),
  checkpointEvery: Config.withDefault(Config.integer("LOOPWIRE_STORE_CHECKPOINT_EVERY"), defaultCheckpointEvery),
  maxBytes: nonNegative("LOOPWIRE_REDIS_STORE_MAX_BYTES", defaultMaxBytes),
  maxTenantBytes: nonNegative("LOOPWIRE_REDIS_STORE_MAX_TENANT_BYTES", defaultMaxTenantBytes)
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<ResponseStore, ConfigError.ConfigError, Redis.Redis> =>
  Layer.effect(ResponseStore, Effect.flatMap(options, make))
