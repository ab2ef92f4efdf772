/**
 * `loopwire serve`: runs the gateway. Every flag falls back to its environment variable (see docs/server.md), then
 * to the documented default.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type { FileSystem } from "@effect/platform/FileSystem"
import * as Auth from "@loopwire/server/Auth"
import * as Gateway from "@loopwire/server/Gateway"
import * as GatewayConfig from "@loopwire/server/GatewayConfig"
import * as Redis from "@loopwire/server/Redis"
import * as RedisResponseStore from "@loopwire/server/RedisResponseStore"
import * as RedisResumeLog from "@loopwire/server/RedisResumeLog"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as StateCache from "@loopwire/server/StateCache"
import * as Upstream from "@loopwire/upstream/Upstream"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

const optionalInt = (name: string, description: string) =>
  Options.integer(name).pipe(Options.withDescription(description), Options.optional)

// A positive duration such as '90 seconds'.
const durationOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((text) =>
      Option.match(Option.filter(Duration.decodeUnknown(text), (d) => Duration.toMillis(d) > 0), {
        onNone: () => Effect.fail(invalid(`--${name}: '${text}' is not a positive duration such as '90 seconds'`)),
        onSome: Effect.succeed
      })
    ),
    Options.optional
  )

// A duration flag where a bare `0` means zero (turns a timer off).
const durationOrZero = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((text) =>
      Option.match(Duration.decodeUnknown(/^\s*0\s*$/.test(text) ? 0 : text), {
        onNone: () => Effect.fail(invalid(`--${name}: '${text}' is not a duration such as '30 seconds' (or 0)`)),
        onSome: Effect.succeed
      })
    ),
    Options.optional
  )

/**
 * The flags of `loopwire serve`.
 *
 * @since 0.1.0
 * @category options
 */
export const options = {
  port: optionalInt("port", "TCP port (0 picks a free one). Env LOOPWIRE_PORT, default 8080."),
  host: Options.text("host").pipe(
    Options.withDescription("Interface to bind. Env LOOPWIRE_HOST, default 127.0.0.1."),
    Options.optional
  ),
  apiKeys: Options.redacted("api-keys").pipe(
    Options.withDescription(
      "Accepted keys as key1:tenantA,key2:tenantB (a key without :tenant is tenant 'default'). Env LOOPWIRE_API_KEYS; unset = allow all."
    ),
    Options.optional
  ),
  maxConnectionAge: Options.text("max-connection-age").pipe(
    Options.withDescription("Connection age limit, e.g. '60 minutes'. Env LOOPWIRE_MAX_CONNECTION_AGE, default 60 minutes."),
    Options.mapEffect((text) =>
      Option.match(Duration.decodeUnknown(text), {
        onNone: () => Effect.fail(invalid(`--max-connection-age: '${text}' is not a duration such as '60 minutes'`)),
        onSome: Effect.succeed
      })
    ),
    Options.optional
  ),
  maxInFlight: optionalInt("max-in-flight", "Responses generating at once per connection. Default 16."),
  maxLanes: optionalInt("max-lanes", "Distinct named stream_id lanes per connection. Default 32."),
  maxQueued: optionalInt("max-queued", "Queued creates per connection. Default 1024."),
  maxPendingSteers: optionalInt("max-pending-steers", "Accepted steers waiting on one response. Default 8."),
  maxFrameBytes: optionalInt("max-frame-bytes", "Largest inbound frame / HTTP body in bytes. Default 16777216."),
  maxDepth: optionalInt("max-depth", "Deepest nesting of objects and arrays in a frame or body. Default 128."),
  maxInputItems: optionalInt("max-input-items", "Longest input array of one request. Default 10000."),
  maxStringLength: optionalInt("max-string-length", "Longest string or key in a frame, in UTF-16 units. Default 10485760."),
  rejectWebSocket: Options.boolean("reject-websocket").pipe(
    Options.withDescription("Answer every WebSocket upgrade with 426 (clients fall back to HTTP).")
  ),
  defaultModel: Options.text("default-model").pipe(
    Options.withDescription("Model reported when a request names none. Default 'loopwire'."),
    Options.optional
  ),
  backend: Options.choice("backend", ["scripted", "upstream"]).pipe(
    Options.withDescription("Model backend. Default scripted."),
    Options.withDefault("scripted" as const)
  ),
  script: Options.text("script").pipe(
    Options.withDescription("Scenario file for the scripted backend, or builtin:demo. Env LOOPWIRE_SCRIPT."),
    Options.optional
  ),
  upstreamUrl: Options.text("upstream-url").pipe(
    Options.withDescription("Upstream Responses API base URL, e.g. https://api.openai.com/v1. Env LOOPWIRE_UPSTREAM_URL."),
    Options.optional
  ),
  upstreamKey: Options.redacted("upstream-key").pipe(
    Options.withDescription("Upstream API key. Env LOOPWIRE_UPSTREAM_API_KEY."),
    Options.optional
  ),
  upstreamModel: Options.text("upstream-model").pipe(
    Options.withDescription("Model sent upstream instead of the request's. Env LOOPWIRE_UPSTREAM_MODEL."),
    Options.optional
  ),
  upstreamTransport: Options.choice("upstream-transport", ["auto", "websocket", "http"]).pipe(
    Options.withDescription(
      "How turns go upstream: auto (WebSocket mode with deltas, HTTP when the upgrade is refused), websocket, or " +
        "http (the full context every turn). Default auto. Env LOOPWIRE_UPSTREAM_TRANSPORT."
    ),
    Options.optional
  ),
  upstreamPoolSize: optionalInt(
    "upstream-pool-size",
    "Upstream WebSocket sockets (each holds up to 32 chains warm). Default 4. Env LOOPWIRE_UPSTREAM_POOL_SIZE."
  ),
  upstreamHeader: Options.text("upstream-header").pipe(
    Options.withDescription(
      "An extra upstream header 'Name: value' (repeatable), e.g. 'OpenAI-Project: proj_1' or Azure's 'api-key: …'. " +
        "Env LOOPWIRE_UPSTREAM_HEADERS (newline-separated)."
    ),
    Options.repeated
  ),
  noResume: Options.boolean("no-resume").pipe(
    Options.withDescription("Do not offer reconnect-with-resume (no resume headers; nothing kept after a drop).")
  ),
  resumeGrace: Options.text("resume-grace").pipe(
    Options.withDescription(
      "How long a dropped connection's state is kept for a resume, e.g. '60 seconds' (0 keeps nothing). Env LOOPWIRE_RESUME_GRACE, default 60 seconds."
    ),
    Options.mapEffect((text) =>
      Option.match(Duration.decodeUnknown(/^\s*0\s*$/.test(text) ? 0 : text), {
        onNone: () => Effect.fail(invalid(`--resume-grace: '${text}' is not a duration such as '60 seconds'`)),
        onSome: Effect.succeed
      })
    ),
    Options.optional
  ),
  resumeLogBytes: optionalInt(
    "resume-log-bytes",
    "Byte budget of one response's resume log. Env LOOPWIRE_RESUME_LOG_BYTES, default 8388608 (8 MiB)."
  ),
  heartbeatInterval: durationOrZero(
    "heartbeat-interval",
    "Time between WebSocket pings on every connection, e.g. '30 seconds' (0 turns the heartbeat off). Env LOOPWIRE_HEARTBEAT_INTERVAL, default 30 seconds."
  ),
  heartbeatTimeout: durationOrZero(
    "heartbeat-timeout",
    "How long a ping may go unanswered before the peer is cut as a drop, e.g. '10 seconds' (0 turns the heartbeat off). Env LOOPWIRE_HEARTBEAT_TIMEOUT, default 10 seconds."
  ),
  httpKeepAliveTimeout: durationOption(
    "http-keep-alive-timeout",
    "How long an idle HTTP keep-alive connection stays open after a response, e.g. '65 seconds' (keep it above your load balancer's idle timeout). Env LOOPWIRE_HTTP_KEEP_ALIVE_TIMEOUT, default 65 seconds."
  ),
  redis: Options.redacted("redis").pipe(
    Options.withDescription(
      "Share stored responses and resume logs through Redis (redis://host:6379), for several gateway processes. Env LOOPWIRE_REDIS_URL; unset = in memory."
    ),
    Options.optional
  ),
  redisPrefix: Options.text("redis-prefix").pipe(
    Options.withDescription("Prefix of every Redis key (several deployments on one Redis). Env LOOPWIRE_REDIS_PREFIX, default 'lw'."),
    Options.optional
  ),
  storeTtl: durationOption(
    "store-ttl",
    "How long a stored (store: true) response is kept, e.g. '7 days'. Env LOOPWIRE_STORE_TTL; default 30 days on Redis, no expiry in memory."
  ),
  resumeLiveTtl: durationOption(
    "resume-live-ttl",
    "Redis only: how long a live session or a running response's log survives without activity (cleans up after a dead process). Env LOOPWIRE_RESUME_LIVE_TTL, default 65 minutes."
  )
}

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/**
 * The parsed flags.
 *
 * @since 0.1.0
 * @category models
 */
export type ServeOptions = Command.Command.ParseConfig<typeof options>

const some = <A>(option: Option.Option<A>, key: string): Record<string, A> =>
  Option.isSome(option) ? { [key]: option.value } : {}

/**
 * The gateway configuration overrides given by flags.
 *
 * @since 0.1.0
 * @category config
 */
export const configOverrides = (o: ServeOptions): Partial<GatewayConfig.GatewayConfigShape> => ({
  ...some(o.port, "port"),
  ...some(o.host, "host"),
  ...some(o.maxConnectionAge, "maxConnectionAge"),
  ...some(o.maxInFlight, "maxInFlight"),
  ...some(o.maxLanes, "maxLanes"),
  ...some(o.maxQueued, "maxQueued"),
  ...some(o.maxPendingSteers, "maxPendingSteers"),
  ...some(o.maxFrameBytes, "maxFrameBytes"),
  ...some(o.maxDepth, "maxDepth"),
  ...some(o.maxInputItems, "maxInputItems"),
  ...some(o.maxStringLength, "maxStringLength"),
  ...some(o.defaultModel, "defaultModel"),
  ...(o.rejectWebSocket ? { rejectWebSocket: true } : {}),
  ...(o.noResume ? { resume: false } : {}),
  ...some(o.resumeGrace, "resumeGrace"),
  ...some(o.resumeLogBytes, "resumeLogBytes"),
  ...some(o.heartbeatInterval, "heartbeatInterval"),
  ...some(o.heartbeatTimeout, "heartbeatTimeout"),
  ...some(o.httpKeepAliveTimeout, "httpKeepAliveTimeout")
})

/**
 * The Redis URL: `--redis`, else `LOOPWIRE_REDIS_URL`, else none (state in memory).
 *
 * @since 0.1.0
 * @category config
 */
export const redisUrl = (o: ServeOptions): Config.Config<Option.Option<Redacted.Redacted>> =>
  Option.isSome(o.redis)
    ? Config.succeed(o.redis)
    : Config.option(Config.redacted("LOOPWIRE_REDIS_URL")).pipe(
      Config.map(Option.filter((url) => Redacted.value(url).trim() !== ""))
    )

// Stored responses and resume logs: in memory (the gateway makes its resume log from GatewayConfig), or on Redis.
const sharedStateLayer = (
  o: ServeOptions,
  config: GatewayConfig.GatewayConfigShape
): Layer.Layer<ResponseStore.ResponseStore, unknown> =>
  Layer.unwrapEffect(Effect.map(redisUrl(o), (url) => {
    const storeTtl = Option.getOrUndefined(o.storeTtl)
    if (Option.isNone(url)) {
      return ResponseStore.layerMemoryConfig(
        Config.map(ResponseStore.memoryConfig, (fromEnv) => (storeTtl === undefined ? fromEnv : { ...fromEnv, ttl: storeTtl }))
      )
    }
    const resumeOptions = Config.map(RedisResumeLog.config, (fromEnv): RedisResumeLog.Options => ({
      ...fromEnv,
      ...(Option.isSome(o.resumeLiveTtl) ? { liveTtl: o.resumeLiveTtl.value } : {}),
      grace: config.resumeGrace,
      maxBytes: config.resumeLogBytes
    }))
    const redis = Redis.layerConfig(Config.all({
      url: Config.succeed(url.value),
      prefix: Option.isSome(o.redisPrefix)
        ? Config.succeed(o.redisPrefix.value)
        : Config.withDefault(Config.string("LOOPWIRE_REDIS_PREFIX"), Redis.defaultPrefix)
    })).pipe(
      Layer.mapError((error) => new Error(`--redis: cannot connect to Redis: ${error.message}`))
    )
    const resumeLog = config.resume ? RedisResumeLog.layerConfig(resumeOptions) : Layer.empty
    const store = RedisResponseStore.layerConfig(
      Config.map(RedisResponseStore.config, (fromEnv) => (storeTtl === undefined ? fromEnv : { ...fromEnv, ttl: storeTtl }))
    )
    return Layer.mergeAll(store, resumeLog).pipe(Layer.provide(redis))
  }))

const authLayer = (o: ServeOptions) =>
  Option.match(o.apiKeys, {
    onNone: () => Auth.layerConfig(),
    onSome: (keys) =>
      Either.match(Auth.parseApiKeys(Redacted.value(keys)), {
        onLeft: (message) => Layer.fail(new Error(`--api-keys: ${message}`)),
        onRight: (parsed) => Auth.layer({ _tag: "StaticKeys", keys: parsed })
      })
  })

const backendLayer = (o: ServeOptions) => {
  if (o.backend === "scripted") {
    return ScriptedBackend.layerConfig(
      Option.isSome(o.script) ? Config.succeed(Option.some(o.script.value)) : ScriptedBackend.scriptConfig
    )
  }
  const headers = Upstream.parseHeaders(o.upstreamHeader)
  if (Either.isLeft(headers)) return Layer.fail(new Error(`--upstream-header: ${headers.left}`))
  if (Option.isSome(o.upstreamPoolSize) && o.upstreamPoolSize.value < 1) {
    return Layer.fail(new Error(`--upstream-pool-size must be at least 1, got ${o.upstreamPoolSize.value}`))
  }
  // Flags override the environment (Upstream.configWith), field by field.
  const overrides: Partial<Upstream.Options> = {
    ...(Option.isSome(o.upstreamUrl) ? { baseUrl: o.upstreamUrl.value } : {}),
    ...(Option.isSome(o.upstreamKey) ? { apiKey: o.upstreamKey.value } : {}),
    ...(Option.isSome(o.upstreamModel) ? { model: o.upstreamModel.value } : {}),
    ...(Option.isSome(o.upstreamTransport) ? { transport: o.upstreamTransport.value } : {}),
    ...(Option.isSome(o.upstreamPoolSize) ? { poolSize: o.upstreamPoolSize.value } : {}),
    headers: headers.right
  }
  return Upstream.layerConfig(Upstream.configWith(overrides)).pipe(
    Layer.mapError((error) =>
      new Error(`the upstream backend needs --upstream-url (or LOOPWIRE_UPSTREAM_URL): ${String(error)}`)
    )
  )
}

/**
 * Every service the gateway needs, from flags and environment.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (o: ServeOptions): Layer.Layer<Gateway.Requirements, unknown, FileSystem> =>
  Layer.mergeAll(
    authLayer(o),
    backendLayer(o),
    StateCache.layerConfig(),
    Layer.unwrapEffect(Effect.map(GatewayConfig.GatewayConfig, (config) => sharedStateLayer(o, config)))
  ).pipe(Layer.provideMerge(GatewayConfig.layerConfig(configOverrides(o))))

/**
 * Starts the gateway and prints where it listens; runs until interrupted (Ctrl-C).
 *
 * @since 0.1.0
 * @category handlers
 */
export const run = (o: ServeOptions): Effect.Effect<void, unknown, FileSystem> =>
  Effect.gen(function*() {
    const url = yield* Gateway.baseUrl
    const config = yield* GatewayConfig.GatewayConfig
    const redis = Option.isSome(yield* redisUrl(o))
    const resume = config.resume
      ? `on (grace ${Duration.format(config.resumeGrace)}, log ${config.resumeLogBytes} bytes per response, ${
        redis ? "Redis" : "memory"
      })`
      : "off"
    const beat = GatewayConfig.heartbeatOf(config)
    const heartbeat = beat === undefined
      ? "off"
      : `ping every ${Duration.format(beat.interval)}, cut after ${Duration.format(beat.timeout)} of silence`
    // One write, so whoever waits for the address line gets the whole banner.
    yield* Console.log([
      `loopwire gateway listening on ${url}`,
      config.rejectWebSocket
        ? `  WebSocket mode: disabled (upgrades get 426)`
        : `  WebSocket mode: ${url.replace(/^http/, "ws")}/v1/responses`,
      `  HTTP mode:      POST ${url}/v1/responses`,
      `  health:         ${url}/healthz`,
      `  backend:        ${o.backend}`,
      `  state:          ${redis ? "Redis (stored responses, resume logs)" : "memory"}`,
      `  resume:         ${resume}`,
      `  heartbeat:      ${heartbeat}`
    ].join("\n"))
    return yield* Effect.never
  }).pipe(
    Effect.provide(Gateway.layer.pipe(Layer.provideMerge(layer(o))))
  )

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("serve", options, run).pipe(
  Command.withDescription("Run the Responses API WebSocket-mode gateway (WebSocket and HTTP modes on one port).")
)
