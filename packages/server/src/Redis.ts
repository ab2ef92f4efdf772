/**
 * The shared Redis connection of the gateway's Redis-backed services (`RedisResponseStore`, `RedisResumeLog`).
 *
 * It is configured to fail fast rather than queue: while Redis is unreachable every command fails at once with a
 * `RedisError` of reason `Unavailable` (no offline queue, one retry per in-flight command, bounded connect and
 * command timeouts), and the client keeps reconnecting in the background, so the services recover by themselves
 * when Redis returns.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Redis as IORedis, ReplyError } from "ioredis"
import * as Retry from "@loopwire/protocol/Retry"
import type { Tenant } from "./Auth.js"

/**
 * A Redis failure: `Unavailable` (not connected, connection lost, timeout) or `Command` (Redis answered with an
 * error, e.g. a script error or a key of the wrong type).
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisError extends Schema.TaggedError<RedisError>("@loopwire/server/RedisError")("RedisError", {
  reason: Schema.Literal("Unavailable", "Command"),
  message: Schema.String
}) {}

/**
 * A Lua script run with EVALSHA (falling back to EVAL when Redis does not know it, e.g. after a restart).
 *
 * @since 0.1.0
 * @category models
 */
export interface Script {
  readonly name: string
  readonly lua: string
  readonly numberOfKeys: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** The shared connection. Never use it for blocking commands (they would stall every other caller). */
  readonly client: IORedis
  /** Prefix of every key Loopwire writes (default `lw`). */
  readonly prefix: string
  /** Runs a command on the shared connection, mapping failures to `RedisError`. */
  readonly use: <A>(f: (client: IORedis) => Promise<A>) => Effect.Effect<A, RedisError>
  /** Runs a Lua script on the shared connection. */
  readonly eval: (
    script: Script,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string | number>
  ) => Effect.Effect<unknown, RedisError>
  /**
   * A dedicated connection for blocking commands (`XREAD BLOCK`), closed with the scope. It does not reconnect:
   * a failure surfaces as `Unavailable` to its user.
   */
  readonly dedicated: Effect.Effect<IORedis, RedisError, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Redis extends Context.Tag("@loopwire/server/Redis")<Redis, Shape>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  readonly url: string | Redacted.Redacted<string>
  /** Prefix of every key. Default `lw`. */
  readonly prefix?: string | undefined
  /** How long a connection attempt may take. Default 2 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** How long a (non-blocking) command may take before it fails with `Unavailable`. Default 5 seconds. */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** Upper bound of the delay between reconnection attempts (they back off from 100 ms). Default 2 seconds. */
  readonly maxReconnectDelay?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix = "lw"

const millis = (input: Duration.DurationInput | undefined, fallback: number) =>
  input === undefined ? fallback : Math.max(1, Math.round(Duration.toMillis(Duration.decode(input))))

/**
 * Maps any ioredis failure to a `RedisError`.
 *
 * @since 0.1.0
 * @category errors
 */
export const toRedisError = (cause: unknown): RedisError => {
  const message = cause instanceof Error ? cause.message : String(cause)
  return cause instanceof ReplyError
    ? new RedisError({ reason: "Command", message: `Redis answered with an error: ${message}` })
    : new RedisError({ reason: "Unavailable", message: `Redis is unavailable: ${message}` })
}

/**
 * The key of a tenant-scoped record: `<prefix>:{<tenant>}:<kind>:<id>`. The tenant is URI-encoded (so it never
 * contains `:` or braces) and wrapped in braces, a Redis Cluster hash tag: every key of one tenant lives in one
 * slot, which the multi-key scripts rely on.
 *
 * @since 0.1.0
 * @category keys
 */
export const tenantBase = (prefix: string, tenant: Tenant): string => `${prefix}:{${encodeURIComponent(tenant)}}`

/**
 * The delay before reconnection attempt `times` (1-based, as ioredis counts): the one backoff of
 * `@loopwire/protocol/Retry`, from 100 ms doubling up to `maxMillis`, with its jitter (so several gateway processes
 * that lost the same Redis do not reconnect in step).
 *
 * @since 0.1.0
 * @category decisions
 */
export const reconnectDelay = (maxMillis: number, random: () => number = Math.random) => (times: number): number =>
  Retry.backoffMillis({ initialMillis: 100, maxMillis }, Math.max(0, times - 1), random())

const close = (client: IORedis) =>
  Effect.promise(() =>
    client.status === "ready"
      ? client.quit().then(() => undefined, () => client.disconnect())
      : Promise.resolve(client.disconnect())
  ).pipe(
    Effect.timeoutTo({ duration: "1 second", onTimeout: () => client.disconnect(), onSuccess: () => undefined })
  )

/**
 * Connects (failing with `Unavailable` when Redis cannot be reached within the connect timeout) and closes the
 * connection with the scope (QUIT, or a plain disconnect when not connected).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Shape, RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const url = Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    const connectTimeout = millis(options.connectTimeout, 2_000)
    const commandTimeout = millis(options.commandTimeout, 5_000)
    const maxReconnectDelay = millis(options.maxReconnectDelay, 2_000)
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new IORedis(url, {
          lazyConnect: true,
          connectTimeout,
          commandTimeout,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          retryStrategy: reconnectDelay(maxReconnectDelay)
        })
      ),
      close
    )
    // Errors are reported through the commands that fail; without a listener ioredis would log each one.
    client.on("error", () => {})
    yield* Effect.tryPromise({ try: () => client.connect(), catch: toRedisError })

    const defined = new Set<string>()
    const use = <A>(f: (client: IORedis) => Promise<A>) =>
      Effect.tryPromise({ try: () => f(client), catch: toRedisError })
    const evalScript = (script: Script, keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>) =>
      use((c) => {
        if (!defined.has(script.name)) {
          c.defineCommand(script.name, { lua: script.lua, numberOfKeys: script.numberOfKeys })
          defined.add(script.name)
        }
        const command = Reflect.get(c, script.name) as (...params: Array<string | number>) => Promise<unknown>
        return command.call(c, ...keys, ...args)
      })

    const dedicated = Effect.acquireRelease(
      Effect.suspend(() => {
        const connection = client.duplicate({
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          commandTimeout: undefined,
          retryStrategy: () => null
        })
        connection.on("error", () => {})
        return Effect.tryPromise({ try: () => connection.connect(), catch: toRedisError }).pipe(
          Effect.as(connection),
          Effect.tapError(() => Effect.sync(() => connection.disconnect()))
        )
      }),
      (connection) => Effect.sync(() => connection.disconnect())
    )

    return Redis.of({
      client,
      prefix: options.prefix ?? defaultPrefix,
      use,
      eval: evalScript,
      dedicated
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Redis, RedisError> => Layer.scoped(Redis, make(options))

/**
 * Options from configuration: `LOOPWIRE_REDIS_URL` (required) and `LOOPWIRE_REDIS_PREFIX` (default `lw`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  url: Config.redacted("LOOPWIRE_REDIS_URL"),
  prefix: Config.withDefault(Config.string("LOOPWIRE_REDIS_PREFIX"), defaultPrefix)
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<Redis, RedisError | ConfigError.ConfigError> => Layer.scoped(Redis, Effect.flatMap(options, make))
