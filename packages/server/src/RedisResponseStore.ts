/**
 * The `ResponseStore` on Redis, for several gateway processes: a response stored by one can be continued on
 * another. One string key per record, `<prefix>:{<tenant>}:resp:<id>`, holding the `StoredResponse` encoded as
 * JSON; retention is the key's TTL.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
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
}

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

const Json = Schema.parseJson(StoredResponse)
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

    const put = (tenant: Tenant, record: StoredResponse) =>
      Effect.gen(function*() {
        const json = yield* encode(record).pipe(
          Effect.mapError((e) =>
            new ResponseStoreError({
              reason: "Decode",
              message: `Cannot encode response '${record.response.id}': ${formatError(e)}`
            })
          )
        )
        const k = key(redis.prefix, tenant, record.response.id)
        yield* Effect.mapError(
          redis.use((c) => (ttlMillis === undefined ? c.set(k, json) : c.set(k, json, "PX", ttlMillis))),
          unavailable
        )
      })

    const get = (tenant: Tenant, responseId: string) =>
      Effect.gen(function*() {
        const json = yield* Effect.mapError(redis.use((c) => c.get(key(redis.prefix, tenant, responseId))), unavailable)
        if (json === null) return Option.none<StoredResponse>()
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

    const remove = (tenant: Tenant, responseId: string) =>
      Effect.mapError(redis.use((c) => c.del(key(redis.prefix, tenant, responseId))), unavailable).pipe(
        Effect.map((n) => n > 0)
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
 * Options from configuration: `LOOPWIRE_STORE_TTL` (duration, default `30 days`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  ttl: Config.withDefault(Config.duration("LOOPWIRE_STORE_TTL"), defaultTtl)
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<ResponseStore, ConfigError.ConfigError, Redis.Redis> =>
  Layer.effect(ResponseStore, Effect.flatMap(options, make))
