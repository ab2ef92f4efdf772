/**
 * The `ResponseStore` on Redis, for several gateway processes: a response stored by one can be continued on
 * another. One string key per record, `<prefix>:{<tenant>}:resp:<id>`, holding JSON; retention is the key's TTL.
 *
 * A continuation's record holds only its own context segment (the parent's output + its new items) and its parent's
 * id, so a write is O(new input), not O(history); every `checkpointEvery`-th segment (and any record without a
 * parent) is written in full, so hydrating a record reads at most `checkpointEvery` keys. A record whose ancestors
 * expired or were removed does not hydrate: it is not found (`previous_response_not_found`; the client resends).
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
        yield* Effect.mapError(
          redis.use((c) => (ttlMillis === undefined ? c.set(k, json) : c.set(k, json, "PX", ttlMillis))),
          unavailable
        )
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
 * Options from configuration: `LOOPWIRE_STORE_TTL` (duration, default `30 days`) and
 * `LOOPWIRE_STORE_CHECKPOINT_EVERY` (integer, default 64).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  ttl: Config.withDefault(Config.duration("LOOPWIRE_STORE_TTL"), defaultTtl),
  checkpointEvery: Config.withDefault(Config.integer("LOOPWIRE_STORE_CHECKPOINT_EVERY"), defaultCheckpointEvery)
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<ResponseStore, ConfigError.ConfigError, Redis.Redis> =>
  Layer.effect(ResponseStore, Effect.flatMap(options, make))
