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
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { parseList } from "./BrowserGuard.js"

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
  /**
   * Deepest nesting of objects and arrays in a client frame or HTTP body (the frame is level 1); deeper ones get
   * `nesting_above_max_depth`. Default 128.
   */
  readonly maxDepth: number
  /** Longest `input` array of one request (or steer); longer ones get `array_above_max_length`. Default 10,000. */
  readonly maxInputItems: number
  /**
   * Longest string value or object key in a client frame, in UTF-16 code units; longer ones get
   * `string_above_max_length`. Default 10,485,760 (10 MiB).
   */
  readonly maxStringLength: number
  /** Answer every upgrade with 426 so clients fall back to HTTP. Default false. */
  readonly rejectWebSocket: boolean
  /** `model` reported when a request names none. Default `loopwire`. */
  readonly defaultModel: string
  /** Offer reconnect-with-resume (docs/resume.md): name connections and keep dropped ones. Default true. */
  readonly resume: boolean
  /** How long a dropped connection's state is kept for a resume; zero keeps nothing. Default 60 seconds. */
  readonly resumeGrace: Duration.Duration
  /** Byte budget of one response's resume log (UTF-8 bytes of its frames). Default 8 MiB. */
  readonly resumeLogBytes: number
  /**
   * Byte budget of every in-memory resume log together (sessions in their grace period included): past it the
   * oldest suspended sessions go first (their token then gets `loopwire-resumed: 0`), then the oldest ended logs,
   * then the growing log's oldest frames. Default 256 MiB.
   */
  readonly resumeLogTotalBytes: number
  /** The same budget per tenant. Default 64 MiB. */
  readonly resumeLogTenantBytes: number
  /**
   * Time between WebSocket pings on every connection; zero turns the heartbeat off. Default 30 seconds. A peer
   * that sends nothing (no frame, no pong) within `heartbeatTimeout` of a ping is cut as a drop, so a half-open
   * connection is found and its session becomes resumable.
   */
  readonly heartbeatInterval: Duration.Duration
  /** How long a ping may go unanswered before the peer is cut; zero turns the heartbeat off. Default 10 seconds. */
  readonly heartbeatTimeout: Duration.Duration
  /**
   * How long an idle HTTP keep-alive connection stays open after a response (Node's `server.keepAliveTimeout`,
   * whose own default is 5 seconds). Default 65 seconds: longer than the usual load-balancer idle timeout (60 s),
   * and long enough that a busy client reusing its connection for the next `POST /v1/responses` does not race the
   * server's close (a reset on the client's side). Headers must arrive within this plus one second.
   */
  readonly httpKeepAliveTimeout: Duration.Duration
  /**
   * Browser origins allowed to open WebSocket upgrades and send HTTP requests (exact `scheme://host[:port]`, `*`
   * for any). Requests that carry an `Origin` not listed get 403 `origin_not_allowed`; requests without one
   * (non-browser clients) are unaffected. Default none.
   */
  readonly allowedOrigins: ReadonlyArray<string>
  /**
   * Host names accepted in `Host` besides IP literals, `localhost` and `host` (`*` any, `.example.com` its
   * subdomains); others get 403 `host_not_allowed` (DNS rebinding). Checked while authentication is allow-all,
   * and always when this list is not empty. Default none.
   */
  readonly allowedHosts: ReadonlyArray<string>
  /**
   * Error answers a connection may get for its own frames (invalid frames, refused creates) in a burst; past it,
   * and past `errorRate` per second after it, it gets `too_many_errors` and is closed with 1008. Default 100.
   */
  readonly errorBurst: number
  /** Error answers per second a connection earns back after a burst. Default 10. */
  readonly errorRate: number
  /**
   * Bytes of requests (frame text) one connection may have waiting or running; a create past it gets 429
   * `request_bytes_limit_reached` (a connection holding nothing is always admitted). Default 64 MiB.
   */
  readonly maxHeldRequestBytes: number
  /** The same per tenant (all its connections and HTTP requests). Default 128 MiB. */
  readonly maxTenantHeldRequestBytes: number
  /** The same for the whole gateway. Default 256 MiB. */
  readonly maxTotalHeldRequestBytes: number
  /**
   * Sockets the gateway serves at once: WebSocket connections (until the socket is gone) and running HTTP requests.
   * Past it an upgrade or a request gets 503 `connection_limit_reached` with `Retry-After: 1`. With the transport's
   * 1 MiB outbound buffer per connection, this bounds every outbound buffer together. Default 2,048.
   */
  readonly maxConnections: number
  /** The same per tenant. Default 1,024. */
  readonly maxTenantConnections: number
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
  maxDepth: 128,
  maxInputItems: 10_000,
  maxStringLength: 10_485_760,
  rejectWebSocket: false,
  defaultModel: "loopwire",
  resume: true,
  resumeGrace: Duration.seconds(60),
  resumeLogBytes: 8 * 1024 * 1024,
  resumeLogTotalBytes: 256 * 1024 * 1024,
  resumeLogTenantBytes: 64 * 1024 * 1024,
  heartbeatInterval: Duration.seconds(30),
  heartbeatTimeout: Duration.seconds(10),
  httpKeepAliveTimeout: Duration.seconds(65),
  allowedOrigins: [],
  allowedHosts: [],
  errorBurst: 100,
  errorRate: 10,
  maxHeldRequestBytes: 64 * 1024 * 1024,
  maxTenantHeldRequestBytes: 128 * 1024 * 1024,
  maxTotalHeldRequestBytes: 256 * 1024 * 1024,
  maxConnections: 2048,
  maxTenantConnections: 1024
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

// A duration, where a bare `0` (no unit) also means zero: the way to turn a timer off.
const durationOrZero = (name: string, fallback: Duration.Duration) =>
  Config.string(name).pipe(
    Config.mapOrFail((text) =>
      /^\s*0\s*$/.test(text)
        ? Either.right(Duration.zero)
        : Option.match(Duration.decodeUnknown(text), {
          onNone: () => Either.left(InvalidData([name], `must be a duration such as '30 seconds' or 0, got '${text}'`)),
          onSome: Either.right
        })
    ),
    Config.withDefault(fallback)
  )

// A comma-separated list; unset or empty = none.
const commaList = (name: string): Config.Config<ReadonlyArray<string>> =>
  Config.string(name).pipe(
    Config.map(parseList),
    Config.withDefault([] as ReadonlyArray<string>)
  )

/**
 * Reads every field from the environment (`LOOPWIRE_HOST`, `LOOPWIRE_PORT`, `LOOPWIRE_MAX_CONNECTION_AGE`
 * (a duration such as `60 minutes`), `LOOPWIRE_MAX_IN_FLIGHT`, `LOOPWIRE_MAX_LANES`, `LOOPWIRE_MAX_QUEUED`,
 * `LOOPWIRE_MAX_PENDING_STEERS`, `LOOPWIRE_MAX_FRAME_BYTES`, `LOOPWIRE_MAX_DEPTH`, `LOOPWIRE_MAX_INPUT_ITEMS`,
 * `LOOPWIRE_MAX_STRING_LENGTH`, `LOOPWIRE_REJECT_WEBSOCKET`,
 * `LOOPWIRE_DEFAULT_MODEL`, `LOOPWIRE_RESUME`, `LOOPWIRE_RESUME_GRACE` (a duration), `LOOPWIRE_RESUME_LOG_BYTES`,
 * `LOOPWIRE_RESUME_LOG_TOTAL_BYTES`, `LOOPWIRE_RESUME_LOG_TENANT_BYTES`,
 * `LOOPWIRE_HEARTBEAT_INTERVAL` and `LOOPWIRE_HEARTBEAT_TIMEOUT` (durations; `0` turns the heartbeat off),
 * `LOOPWIRE_HTTP_KEEP_ALIVE_TIMEOUT` (a duration), `LOOPWIRE_ALLOWED_ORIGINS` and `LOOPWIRE_ALLOWED_HOSTS`
 * (comma-separated lists), `LOOPWIRE_ERROR_BURST`, `LOOPWIRE_ERROR_RATE`, `LOOPWIRE_MAX_HELD_REQUEST_BYTES`,
 * `LOOPWIRE_MAX_TENANT_HELD_REQUEST_BYTES`, `LOOPWIRE_MAX_TOTAL_HELD_REQUEST_BYTES`, `LOOPWIRE_MAX_CONNECTIONS`,
 * `LOOPWIRE_MAX_TENANT_CONNECTIONS`), each
 * falling back to its default. Limits are validated (`maxInFlight`, `maxFrameBytes`, `maxDepth`,
 * `maxStringLength` and `resumeLogBytes` at least 1, the others at least 0).
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
  maxDepth: atLeast(1)("LOOPWIRE_MAX_DEPTH", defaults.maxDepth),
  maxInputItems: atLeast(0)("LOOPWIRE_MAX_INPUT_ITEMS", defaults.maxInputItems),
  maxStringLength: atLeast(1)("LOOPWIRE_MAX_STRING_LENGTH", defaults.maxStringLength),
  rejectWebSocket: Config.boolean("LOOPWIRE_REJECT_WEBSOCKET").pipe(Config.withDefault(defaults.rejectWebSocket)),
  defaultModel: Config.string("LOOPWIRE_DEFAULT_MODEL").pipe(Config.withDefault(defaults.defaultModel)),
  resume: Config.boolean("LOOPWIRE_RESUME").pipe(Config.withDefault(defaults.resume)),
  resumeGrace: Config.duration("LOOPWIRE_RESUME_GRACE").pipe(Config.withDefault(defaults.resumeGrace)),
  resumeLogBytes: atLeast(1)("LOOPWIRE_RESUME_LOG_BYTES", defaults.resumeLogBytes),
  resumeLogTotalBytes: atLeast(0)("LOOPWIRE_RESUME_LOG_TOTAL_BYTES", defaults.resumeLogTotalBytes),
  resumeLogTenantBytes: atLeast(0)("LOOPWIRE_RESUME_LOG_TENANT_BYTES", defaults.resumeLogTenantBytes),
  heartbeatInterval: durationOrZero("LOOPWIRE_HEARTBEAT_INTERVAL", defaults.heartbeatInterval),
  heartbeatTimeout: durationOrZero("LOOPWIRE_HEARTBEAT_TIMEOUT", defaults.heartbeatTimeout),
  httpKeepAliveTimeout: Config.duration("LOOPWIRE_HTTP_KEEP_ALIVE_TIMEOUT").pipe(
    Config.withDefault(defaults.httpKeepAliveTimeout)
  ),
  allowedOrigins: commaList("LOOPWIRE_ALLOWED_ORIGINS"),
  allowedHosts: commaList("LOOPWIRE_ALLOWED_HOSTS"),
  errorBurst: atLeast(1)("LOOPWIRE_ERROR_BURST", defaults.errorBurst),
  errorRate: atLeast(0)("LOOPWIRE_ERROR_RATE", defaults.errorRate),
  maxHeldRequestBytes: atLeast(0)("LOOPWIRE_MAX_HELD_REQUEST_BYTES", defaults.maxHeldRequestBytes),
  maxTenantHeldRequestBytes: atLeast(0)("LOOPWIRE_MAX_TENANT_HELD_REQUEST_BYTES", defaults.maxTenantHeldRequestBytes),
  maxTotalHeldRequestBytes: atLeast(0)("LOOPWIRE_MAX_TOTAL_HELD_REQUEST_BYTES", defaults.maxTotalHeldRequestBytes),
  maxConnections: atLeast(1)("LOOPWIRE_MAX_CONNECTIONS", defaults.maxConnections),
  maxTenantConnections: atLeast(1)("LOOPWIRE_MAX_TENANT_CONNECTIONS", defaults.maxTenantConnections)
})

/**
 * Whether the configuration runs a heartbeat (both durations above zero), and with which options.
 *
 * @since 0.1.0
 * @category decisions
 */
export const heartbeatOf = (
  config: Pick<GatewayConfigShape, "heartbeatInterval" | "heartbeatTimeout">
): { readonly interval: Duration.Duration; readonly timeout: Duration.Duration } | undefined =>
  Duration.toMillis(config.heartbeatInterval) > 0 && Duration.toMillis(config.heartbeatTimeout) > 0
    ? { interval: config.heartbeatInterval, timeout: config.heartbeatTimeout }
    : undefined

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
    ["maxFrameBytes", 1, Number.MAX_SAFE_INTEGER],
    ["maxDepth", 1, Number.MAX_SAFE_INTEGER],
    ["maxInputItems", 0, Number.MAX_SAFE_INTEGER],
    ["maxStringLength", 1, Number.MAX_SAFE_INTEGER],
    ["resumeLogBytes", 1, Number.MAX_SAFE_INTEGER],
    ["resumeLogTotalBytes", 0, Number.MAX_SAFE_INTEGER],
    ["resumeLogTenantBytes", 0, Number.MAX_SAFE_INTEGER],
    ["errorBurst", 1, Number.MAX_SAFE_INTEGER],
    ["errorRate", 0, Number.MAX_SAFE_INTEGER],
    ["maxHeldRequestBytes", 0, Number.MAX_SAFE_INTEGER],
    ["maxTenantHeldRequestBytes", 0, Number.MAX_SAFE_INTEGER],
    ["maxTotalHeldRequestBytes", 0, Number.MAX_SAFE_INTEGER],
    ["maxConnections", 1, Number.MAX_SAFE_INTEGER],
    ["maxTenantConnections", 1, Number.MAX_SAFE_INTEGER]
  ]
  for (const [field, min, max] of checks) {
    const value = config[field] as number
    if (!Number.isInteger(value) || value < min || value > max) {
      return { field, message: `${field} must be an integer from ${min} to ${max}, got ${value}` }
    }
  }
  return undefined
}
