/**
 * The gateway's limits and listening address. Every limit the protocol names is configuration here, with the
 * documented default (60-minute connections, 16 responses in flight, 32 named lanes).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import { type ConfigError, InvalidData } from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category models
 */
export interface GatewayConfigShape {
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host: string
  /** TCP port; 0 picks a free one. Default `8080`. */
  readonly port: number
  /** Age after which a socket gets `websocket_connection_limit_reached` and is closed. Default 60 minutes. */
  readonly maxConnectionAge: Duration.Duration
  /** Responses generating at once per connection, across lanes; more are queued. Default 16. */
  readonly maxInFlight: number
  /** Distinct named `stream_id` lanes per connection lifetime (the default lane is not counted). Default 32. */
  readonly maxLanes: number
  /** Creates waiting behind busy lanes or the in-flight cap, per connection. Default 1024. */
  readonly maxQueued: number
  /** Accepted `response.steer`s waiting on one response (more get `too_many_pending_steers`). Default 8. */
  readonly maxPendingSteers: number
  /** Largest inbound WebSocket frame (and HTTP body) in bytes; larger frames close the socket with 1009. Default 16 MiB. */
  readonly maxFrameBytes: number
  /** Answer every upgrade with 426 so clients fall back to HTTP. Default false. */
  readonly rejectWebSocket: boolean
  /** `model` reported when a request names none. Default `loopwire`. */
  readonly defaultModel: string
}

/**
 * The documented defaults.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: GatewayConfigShape = {
  host: "127.0.0.1",
  port: 8080,
  maxConnectionAge: Duration.minutes(60),
  maxInFlight: 16,
  maxLanes: 32,
  maxQueued: 1024,
  maxPendingSteers: 8,
  maxFrameBytes: 16 * 1024 * 1024,
  rejectWebSocket: false,
  defaultModel: "loopwire"
}

/**
 * @since 0.1.0
 * @category tags
 */
export class GatewayConfig extends Context.Tag("@loopwire/server/GatewayConfig")<GatewayConfig, GatewayConfigShape>() {}

/**
 * The defaults overridden by `options`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Partial<GatewayConfigShape> = {}): GatewayConfigShape => ({ ...defaults, ...options })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Partial<GatewayConfigShape> = {}): Layer.Layer<GatewayConfig> =>
  Layer.succeed(GatewayConfig, make(options))

const atLeast = (min: number) => (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `must be an integer >= ${min}`, validation: (n) => n >= min }),
    Config.withDefault(fallback)
  )

/**
 * Reads every field from the environment (`LOOPWIRE_HOST`, `LOOPWIRE_PORT`, `LOOPWIRE_MAX_CONNECTION_AGE`
 * (a duration such as `60 minutes`), `LOOPWIRE_MAX_IN_FLIGHT`, `LOOPWIRE_MAX_LANES`, `LOOPWIRE_MAX_QUEUED`,
 * `LOOPWIRE_MAX_PENDING_STEERS`, `LOOPWIRE_MAX_FRAME_BYTES`, `LOOPWIRE_REJECT_WEBSOCKET`,
 * `LOOPWIRE_DEFAULT_MODEL`), each falling back to its default. Limits are validated (`maxInFlight` and
 * `maxFrameBytes` at least 1, the others at least 0).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<GatewayConfigShape> = Config.all({
  host: Config.string("LOOPWIRE_HOST").pipe(Config.withDefault(defaults.host)),
  port: Config.integer("LOOPWIRE_PORT").pipe(
    Config.validate({ message: "must be a port number (0-65535)", validation: (n) => n >= 0 && n <= 65535 }),
    Config.withDefault(defaults.port)
  ),
  maxConnectionAge: Config.duration("LOOPWIRE_MAX_CONNECTION_AGE").pipe(Config.withDefault(defaults.maxConnectionAge)),
  maxInFlight: atLeast(1)("LOOPWIRE_MAX_IN_FLIGHT", defaults.maxInFlight),
  maxLanes: atLeast(0)("LOOPWIRE_MAX_LANES", defaults.maxLanes),
  maxQueued: atLeast(0)("LOOPWIRE_MAX_QUEUED", defaults.maxQueued),
  maxPendingSteers: atLeast(0)("LOOPWIRE_MAX_PENDING_STEERS", defaults.maxPendingSteers),
  maxFrameBytes: atLeast(1)("LOOPWIRE_MAX_FRAME_BYTES", defaults.maxFrameBytes),
  rejectWebSocket: Config.boolean("LOOPWIRE_REJECT_WEBSOCKET").pipe(Config.withDefault(defaults.rejectWebSocket)),
  defaultModel: Config.string("LOOPWIRE_DEFAULT_MODEL").pipe(Config.withDefault(defaults.defaultModel))
})

/**
 * `config` read from the environment, then `overrides` (e.g. command-line flags) on top.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (overrides: Partial<GatewayConfigShape> = {}): Layer.Layer<GatewayConfig, ConfigError> =>
  Layer.effect(
    GatewayConfig,
    Effect.flatMap(config, (fromEnv) => {
      const merged = { ...fromEnv, ...overrides }
      const problem = validate(merged)
      return problem === undefined ? Effect.succeed(merged) : Effect.fail(InvalidData([problem.field], problem.message))
    })
  )

/**
 * The first field of `config` outside its range, if any (limits must be integers; `maxInFlight` and
 * `maxFrameBytes` at least 1, the others at least 0; the port 0-65535).
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (
  config: GatewayConfigShape
): { readonly field: string; readonly message: string } | undefined => {
  const checks: ReadonlyArray<readonly [keyof GatewayConfigShape, number, number]> = [
    ["port", 0, 65535],
    ["maxInFlight", 1, Number.MAX_SAFE_INTEGER],
    ["maxLanes", 0, Number.MAX_SAFE_INTEGER],
    ["maxQueued", 0, Number.MAX_SAFE_INTEGER],
    ["maxPendingSteers", 0, Number.MAX_SAFE_INTEGER],
    ["maxFrameBytes", 1, Number.MAX_SAFE_INTEGER]
  ]
  for (const [field, min, max] of checks) {
    const value = config[field] as number
    if (!Number.isInteger(value) || value < min || value > max) {
      return { field, message: `${field} must be an integer from ${min} to ${max}, got ${value}` }
    }
  }
  return undefined
}
