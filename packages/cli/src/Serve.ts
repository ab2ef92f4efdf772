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
import * as AccessLog from "@loopwire/server/AccessLog"
import * as Auth from "@loopwire/server/Auth"
import * as BrowserGuard from "@loopwire/server/BrowserGuard"
import * as Drain from "@loopwire/server/Drain"
import * as Gateway from "@loopwire/server/Gateway"
import * as GatewayConfig from "@loopwire/server/GatewayConfig"
import * as Redis from "@loopwire/server/Redis"
import * as RedisResponseStore from "@loopwire/server/RedisResponseStore"
import * as RedisResumeLog from "@loopwire/server/RedisResumeLog"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as StateCache from "@loopwire/server/StateCache"
import * as MemoryReclaim from "@loopwire/server/MemoryReclaim"
import * as Telemetry from "@loopwire/server/Telemetry"
import * as Upstream from "@loopwire/upstream/Upstream"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
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
  maxConnections: optionalInt(
    "max-connections",
    "WebSocket connections and running HTTP requests at once; more get 503 connection_limit_reached. Default 2048."
  ),
  maxTenantConnections: optionalInt("max-tenant-connections", "The same per tenant. Default 1024."),
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
  allowedOrigins: Options.text("allowed-origins").pipe(
    Options.withDescription(
      "Comma-separated browser origins (scheme://host[:port], or *) allowed to connect; a request carrying another Origin gets 403 origin_not_allowed. Env LOOPWIRE_ALLOWED_ORIGINS, default none (requests without Origin are unaffected)."
    ),
    Options.map(BrowserGuard.parseList),
    Options.optional
  ),
  allowedHosts: Options.text("allowed-hosts").pipe(
    Options.withDescription(
      "Comma-separated Host names accepted besides IP literals, localhost and --host (* any, .example.com its subdomains); others get 403 host_not_allowed (DNS rebinding). Checked while --api-keys is unset, always once set. Env LOOPWIRE_ALLOWED_HOSTS, default none."
    ),
    Options.map(BrowserGuard.parseList),
    Options.optional
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
  ),
  allowAnonymous: Options.boolean("allow-anonymous").pipe(
    Options.withDescription(
      "Serve without API keys on a non-loopback address (anyone who reaches the port can use the gateway and its backend). Without it, allow-all auth is refused there."
    )
  ),
  logFormat: Options.choice("log-format", ["pretty", "json", "logfmt"]).pipe(
    Options.withDescription("Log and access-log lines: pretty (for people), json (one object a line), logfmt. Default pretty."),
    Options.withDefault("pretty" as const)
  ),
  drainTimeout: durationOrZero(
    "drain-timeout",
    "On SIGTERM/SIGINT, how long running responses may finish before the remaining sockets are closed with 1001, e.g. '30 seconds' (0 closes at once). A second signal exits at once. Default 30 seconds."
  )
}

/**
 * The default `--drain-timeout`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultDrainTimeout: Duration.Duration = Duration.seconds(30)

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
  ...some(o.maxConnections, "maxConnections"),
  ...some(o.maxTenantConnections, "maxTenantConnections"),
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
  ...some(o.httpKeepAliveTimeout, "httpKeepAliveTimeout"),
  ...some(o.allowedOrigins, "allowedOrigins"),
  ...some(o.allowedHosts, "allowedHosts")
})

// The flag and environment variable of each GatewayConfig field a flag sets.
const fieldFlags: Readonly<Record<string, readonly [flag: string, env: string]>> = {
  port: ["--port", "LOOPWIRE_PORT"],
  host: ["--host", "LOOPWIRE_HOST"],
  maxConnectionAge: ["--max-connection-age", "LOOPWIRE_MAX_CONNECTION_AGE"],
  maxInFlight: ["--max-in-flight", "LOOPWIRE_MAX_IN_FLIGHT"],
  maxConnections: ["--max-connections", "LOOPWIRE_MAX_CONNECTIONS"],
  maxTenantConnections: ["--max-tenant-connections", "LOOPWIRE_MAX_TENANT_CONNECTIONS"],
  maxLanes: ["--max-lanes", "LOOPWIRE_MAX_LANES"],
  maxQueued: ["--max-queued", "LOOPWIRE_MAX_QUEUED"],
  maxPendingSteers: ["--max-pending-steers", "LOOPWIRE_MAX_PENDING_STEERS"],
  maxFrameBytes: ["--max-frame-bytes", "LOOPWIRE_MAX_FRAME_BYTES"],
  resumeLogBytes: ["--resume-log-bytes", "LOOPWIRE_RESUME_LOG_BYTES"]
}

/**
 * A configuration error as the user can act on it: a field's error names its flag and environment variable (never
 * the internal key), e.g. `--max-lanes (or LOOPWIRE_MAX_LANES): must be an integer from 0 to …, got -1`.
 *
 * @since 0.1.0
 * @category errors
 */
export const describeConfigError = (error: ConfigError.ConfigError): string => {
  if (error._op === "InvalidData" || error._op === "MissingData") {
    const key = error.path.join(".")
    const names = fieldFlags[key]
    const message = error.message.startsWith(`${key} `) ? error.message.slice(key.length + 1) : error.message
    return names === undefined ? `${key}: ${message}` : `${names[0]} (or ${names[1]}): ${message}`
  }
  if (error._op === "And" || error._op === "Or") return describeConfigError(error.left)
  return String(error)
}

/**
 * Flags that conflict, or that the other flags make meaningless (an ignored flag is an error, not a surprise).
 * `redis` says whether Redis is in use (by `--redis` or `LOOPWIRE_REDIS_URL`).
 *
 * @since 0.1.0
 * @category validation
 */
export const flagProblems = (o: ServeOptions, redis: boolean): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const given = (option: Option.Option<unknown>, flag: string) => (Option.isSome(option) ? [flag] : [])
  if (o.backend !== "upstream") {
    for (const flag of [
      ...given(o.upstreamUrl, "--upstream-url"),
      ...given(o.upstreamKey, "--upstream-key"),
      ...given(o.upstreamModel, "--upstream-model"),
      ...given(o.upstreamTransport, "--upstream-transport"),
      ...given(o.upstreamPoolSize, "--upstream-pool-size"),
      ...(o.upstreamHeader.length > 0 ? ["--upstream-header"] : [])
    ]) problems.push(`${flag} is only used with --backend upstream`)
  }
  if (o.backend === "upstream" && Option.isSome(o.script)) {
    problems.push("--script is only used with --backend scripted (the default)")
  }
  if (o.noResume) {
    for (const flag of [
      ...given(o.resumeGrace, "--resume-grace"),
      ...given(o.resumeLogBytes, "--resume-log-bytes"),
      ...given(o.resumeLiveTtl, "--resume-live-ttl")
    ]) problems.push(`${flag} has no effect with --no-resume`)
  }
  if (!redis) {
    for (const flag of [...given(o.redisPrefix, "--redis-prefix"), ...given(o.resumeLiveTtl, "--resume-live-ttl")]) {
      problems.push(`${flag} is only used with --redis (or LOOPWIRE_REDIS_URL)`)
    }
  }
  if (o.allowAnonymous && Option.isSome(o.apiKeys)) problems.push("--allow-anonymous conflicts with --api-keys")
  return problems
}

/**
 * Whether `host` only accepts connections from this machine (`localhost`, 127.0.0.0/8, `::1`).
 *
 * @since 0.1.0
 * @category decisions
 */
export const isLoopback = (host: string): boolean => {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "")
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h)
}

/**
 * Why the gateway refuses to start with these auth settings on `host`, if it does: allow-all auth on a non-loopback
 * address is an open relay (with the upstream backend, one that spends the upstream key) unless
 * `--allow-anonymous` says so.
 *
 * @since 0.1.0
 * @category decisions
 */
export const anonymousRefusal = (options: {
  readonly host: string
  readonly auth: Auth.Options
  readonly allowAnonymous: boolean
  readonly backend: "scripted" | "upstream"
}): string | undefined => {
  if (options.auth._tag !== "AllowAll" || options.allowAnonymous || isLoopback(options.host)) return undefined
  const spend = options.backend === "upstream" ? ", and spend the upstream API key" : ""
  return `refusing to serve without API keys on ${options.host}: anyone who can reach it could use the gateway${spend}. ` +
    "Give --api-keys key:tenant (or LOOPWIRE_API_KEYS), bind a loopback --host, or pass --allow-anonymous."
}

/**
 * A bind failure as one line naming the address and the cause, e.g. `EADDRINUSE 127.0.0.1:8080 (address already in
 * use)`.
 *
 * @since 0.1.0
 * @category errors
 */
export const describeBindError = (cause: unknown, host: string, port: number): string => {
  const error = cause as { readonly code?: unknown; readonly message?: unknown } | undefined
  const code = typeof error?.code === "string" ? error.code : "listen failed"
  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`
  const why = code === "EADDRINUSE"
    ? "address already in use: another process listens there; choose another --port"
    : code === "EACCES"
    ? "permission denied: ports below 1024 need privileges"
    : code === "EADDRNOTAVAIL"
    ? "address not available on this machine: check --host"
    : typeof error?.message === "string" ? error.message : String(cause)
  return `cannot listen: ${code} ${address} (${why})`
}

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
      maxBytes: config.resumeLogBytes,
      maxTenantBytes: config.resumeLogTenantBytes
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

/**
 * The auth settings: `--api-keys`, else `LOOPWIRE_API_KEYS`, else allow-all.
 *
 * @since 0.1.0
 * @category config
 */
export const authOptions = (o: ServeOptions): Effect.Effect<Auth.Options, Error> =>
  Option.match(o.apiKeys, {
    onNone: () => Effect.mapError(Auth.config, (error) => new Error(describeConfigError(error))),
    onSome: (keys) =>
      Either.match(Auth.parseApiKeys(Redacted.value(keys)), {
        onLeft: (message) => Effect.fail(new Error(`--api-keys: ${message}`)),
        onRight: (parsed) => Effect.succeed<Auth.Options>({ _tag: "StaticKeys", keys: parsed })
      })
  })

const authLayer = (o: ServeOptions) => Layer.unwrapEffect(Effect.map(authOptions(o), Auth.layer))

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
    // Gives memory back when the gateway goes idle after a load (LOOPWIRE_IDLE_GC=false turns it off).
    MemoryReclaim.layerConfig(),
    Layer.unwrapEffect(Effect.map(GatewayConfig.GatewayConfig, (config) => sharedStateLayer(o, config)))
  ).pipe(
    Layer.provideMerge(Layer.succeed(AccessLog.AccessLog, true)),
    Layer.provideMerge(
      GatewayConfig.layerConfig(configOverrides(o)).pipe(
        Layer.mapError((error) => new Error(describeConfigError(error)))
      )
    )
  )

// Exactly one logger, in the chosen format (the runtime's own pretty logger is replaced, not joined).
const loggerLayer = (format: ServeOptions["logFormat"]) => {
  const logger = format === "json"
    ? Logger.withLeveledConsole(Logger.jsonLogger)
    : format === "logfmt"
    ? Logger.withLeveledConsole(Logger.logfmtLogger)
    : Logger.prettyLoggerDefault
  return Layer.scopedDiscard(Effect.locallyScopedWith(FiberRef.currentLoggers, () => HashSet.make(logger)))
}

const authLine = (auth: Auth.Options): string => {
  switch (auth._tag) {
    case "AllowAll":
      return `allow-all (no API key needed; every connection is tenant '${auth.tenant ?? Auth.defaultTenant}')`
    case "StaticKeys": {
      const tenants = [...new Set(auth.keys.map(([, tenant]) => tenant))]
      return `API keys (${auth.keys.length} key${auth.keys.length === 1 ? "" : "s"}; tenants ${tenants.join(", ")})`
    }
    default:
      return "custom verifier"
  }
}

// The backend and what it talks to, without secrets.
const backendLine = (o: ServeOptions): Effect.Effect<string> =>
  Effect.orElseSucceed(
    o.backend === "scripted"
      ? Effect.map(
        Option.isSome(o.script) ? Effect.succeed(o.script) : ScriptedBackend.scriptConfig,
        Option.match({
          onNone: () => "scripted (empty scenario: every response is the fallback text)",
          onSome: (script) => `scripted (scenario ${script})`
        })
      )
      : Effect.map(
        Config.all({
          url: Option.isSome(o.upstreamUrl)
            ? Config.succeed(Option.some(o.upstreamUrl.value))
            : Config.option(Config.string("LOOPWIRE_UPSTREAM_URL")),
          model: Option.isSome(o.upstreamModel)
            ? Config.succeed(Option.some(o.upstreamModel.value))
            : Config.option(Config.string("LOOPWIRE_UPSTREAM_MODEL")),
          transport: Option.isSome(o.upstreamTransport)
            ? Config.succeed(o.upstreamTransport.value)
            : Config.withDefault(Config.string("LOOPWIRE_UPSTREAM_TRANSPORT"), "auto")
        }),
        ({ model, transport, url }) =>
          `upstream ${Option.getOrElse(url, () => "(no URL)")} over ${transport}${
            Option.isSome(model) ? `, model ${model.value}` : ", the request's model"
          }`
      ),
    () => o.backend
  )

// Drains the gateway when the program is interrupted (SIGTERM/SIGINT): stop accepting, let running responses
// finish up to the deadline, log what finished and what is cut; a second signal exits at once.
const drainOnExit = (timeout: Duration.Duration) =>
  Effect.flatMap(Drain.Drain, (drain) =>
    Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const exitNow = (signal: NodeJS.Signals) => () => {
          process.stderr.write(`loopwire: second ${signal}: exiting without finishing the drain\n`)
          process.exit(1)
        }
        const onInt = exitNow("SIGINT")
        const onTerm = exitNow("SIGTERM")
        process.once("SIGINT", onInt)
        process.once("SIGTERM", onTerm)
        yield* Effect.logInfo("draining").pipe(
          Effect.annotateLogs({ in_flight: drain.inFlight(), drain_timeout_ms: Duration.toMillis(timeout) })
        )
        const report = yield* drain.drain(timeout)
        yield* Effect.logInfo(report.idle ? "drained" : "drain deadline reached: closing the rest with 1001").pipe(
          Effect.annotateLogs({
            in_flight_at_start: report.inFlightAtStart,
            finished: report.drained,
            cut: report.cut,
            elapsed_ms: Duration.toMillis(report.elapsed)
          })
        )
        process.off("SIGINT", onInt)
        process.off("SIGTERM", onTerm)
      })
    ))

/**
 * Starts the gateway and prints where it listens; runs until SIGTERM/SIGINT, then drains (`--drain-timeout`).
 * Refuses to start on conflicting or ignored flags, and with allow-all auth on a non-loopback address unless
 * `--allow-anonymous`.
 *
 * @since 0.1.0
 * @category handlers
 */
export const run = (o: ServeOptions): Effect.Effect<void, unknown, FileSystem> =>
  Effect.gen(function*() {
    const redis = Option.isSome(yield* Effect.mapError(redisUrl(o), (e) => new Error(describeConfigError(e))))
    const problems = flagProblems(o, redis)
    if (problems.length > 0) return yield* Effect.fail(new Error(problems.join("; ")))
    const config = yield* Effect.mapError(
      GatewayConfig.config.pipe(Config.map((fromEnv) => ({ ...fromEnv, ...configOverrides(o) }))),
      (e) => new Error(describeConfigError(e))
    )
    const auth = yield* authOptions(o)
    const refusal = anonymousRefusal({ host: config.host, auth, allowAnonymous: o.allowAnonymous, backend: o.backend })
    if (refusal !== undefined) return yield* Effect.fail(new Error(refusal))
    const tracing = yield* Effect.orElseSucceed(Telemetry.tracingConfig, () => Option.none())
    const drainTimeout = Option.getOrElse(o.drainTimeout, () => defaultDrainTimeout)
    const backend = yield* backendLine(o)
    return yield* serve(o, { redis, auth, backend, drainTimeout, tracing }).pipe(
      Effect.provide(Gateway.layer.pipe(Layer.provideMerge(layer(o)))),
      Effect.mapError((error) =>
        Predicate.isTagged(error, "ServeError")
          ? new Error(describeBindError((error as { readonly cause?: unknown }).cause, config.host, config.port))
          : error
      ),
      Effect.provide(Option.match(tracing, { onNone: () => Layer.empty, onSome: Telemetry.layerTracing }))
    )
  }).pipe(Effect.provide(loggerLayer(o.logFormat)))

const serve = (
  o: ServeOptions,
  about: {
    readonly redis: boolean
    readonly auth: Auth.Options
    readonly backend: string
    readonly drainTimeout: Duration.Duration
    readonly tracing: Option.Option<Telemetry.TracingSettings>
  }
) =>
  Effect.gen(function*() {
    const url = yield* Gateway.baseUrl
    const config = yield* GatewayConfig.GatewayConfig
    const { redis } = about
    const resume = config.resume
      ? `on (grace ${Duration.format(config.resumeGrace)}, log ${config.resumeLogBytes} bytes per response, ${
        redis ? "Redis" : "memory"
      })`
      : "off"
    const beat = GatewayConfig.heartbeatOf(config)
    const heartbeat = beat === undefined
      ? "off"
      : `ping every ${Duration.format(beat.interval)}, cut after ${Duration.format(beat.timeout)} of silence`
    const storeTtl = Option.match(o.storeTtl, { onNone: () => "", onSome: (ttl) => `, kept ${Duration.format(ttl)}` })
    const drain = Duration.toMillis(about.drainTimeout) === 0 ? "off (close at once)" : `up to ${Duration.format(about.drainTimeout)}`
    const tracing = Option.match(about.tracing, {
      onNone: () => "off (set OTEL_EXPORTER_OTLP_ENDPOINT)",
      onSome: (t) => `OTLP/HTTP to ${t.endpoint} as ${t.serviceName}`
    })
    if (Duration.toMillis(about.drainTimeout) > 0) yield* drainOnExit(about.drainTimeout)
    // One write, so whoever waits for the address line gets the whole banner.
    yield* Console.log([
      `loopwire gateway listening on ${url}`,
      config.rejectWebSocket
        ? `  WebSocket mode: disabled (upgrades get 426)`
        : `  WebSocket mode: ${url.replace(/^http/, "ws")}/v1/responses`,
      `  HTTP mode:      POST ${url}/v1/responses`,
      `  health:         ${url}/healthz`,
      `  metrics:        ${url}/metrics`,
      `  auth:           ${authLine(about.auth)}`,
      `  backend:        ${about.backend}`,
      `  store:          ${redis ? "Redis (stored responses, resume logs)" : "memory"}${storeTtl}`,
      `  resume:         ${resume}`,
      `  heartbeat:      ${heartbeat}`,
      `  drain:          ${drain}`,
      `  tracing:        ${tracing}`
    ].join("\n"))
    return yield* Effect.never
  }).pipe(Effect.scoped)

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("serve", options, run).pipe(
  Command.withDescription("Run the Responses API WebSocket-mode gateway (WebSocket and HTTP modes on one port).")
)
