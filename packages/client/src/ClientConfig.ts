/**
 * Where and how the client connects: the WebSocket URL (derived from an HTTP base URL as the SDKs do), the
 * HTTP/SSE URL for fallback, the handshake headers, and the endpoint's limits. Presets for OpenAI, xAI, Azure
 * and a Loopwire gateway.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as RedactedM from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * Options that do not describe an endpoint: no `url`/`baseUrl` (`MissingUrl`), a string that is not a URL
 * (`InvalidUrl`), or a scheme other than http(s)/ws(s) (`UnsupportedScheme`). {@link make} and the presets throw
 * it; {@link makeEffect} fails with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientConfigError extends Schema.TaggedError<ClientConfigError>("@loopwire/client/ClientConfigError")(
  "ClientConfigError",
  {
    reason: Schema.Literal("MissingUrl", "InvalidUrl", "UnsupportedScheme"),
    message: Schema.String
  }
) {}

const parseUrl = (text: string): URL => {
  try {
    return new URL(text)
  } catch {
    throw new ClientConfigError({ reason: "InvalidUrl", message: `ClientConfig: not a URL: ${text}` })
  }
}

/**
 * A resolved client configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientConfig {
  /** `ws(s)://…/responses` */
  readonly url: string
  /** `http(s)://…/responses`, for the HTTP/SSE transport. */
  readonly httpUrl: string
  /** Handshake (and HTTP) headers, `Authorization: Bearer …` included. */
  readonly headers: Readonly<Record<string, string>>
  /** Whether the endpoint multiplexes lanes (`stream_id`). Without lanes, one session per socket. */
  readonly lanes: boolean
  /** In-flight responses per connection (beyond, the client queues). */
  readonly maxInFlight: number
  /** Distinct named lanes per connection. */
  readonly maxLanes: number
  /** Rotate a socket between turns once it is this old (the server's limit minus a margin). */
  readonly maxAge: Duration.Duration
  /** Reconnect-with-resume (the Loopwire extension, used only when the server offers it). */
  readonly resume: ResumePolicy
  /** The pool's ping on every socket (`false` = none): a silent socket is cut and handled as a drop. */
  readonly heartbeat: HeartbeatPolicy | false
}

/**
 * The client-side heartbeat of every pooled socket: a WebSocket ping every `interval`; a socket that shows no sign
 * of life (a frame or the pong) within `timeout` of a ping is cut (1006) and handled like any drop (a resume when
 * the server offered one, else the recovery ladder). OpenAI and xAI document no server pings, so a client ping is
 * how a dead (half-open) socket is found.
 *
 * @since 0.1.0
 * @category models
 */
export interface HeartbeatPolicy {
  /** Time between pings (default 30 s). */
  readonly interval: Duration.Duration
  /** How long a ping may go unanswered (default 10 s). */
  readonly timeout: Duration.Duration
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultHeartbeat: HeartbeatPolicy = { interval: Duration.seconds(30), timeout: Duration.seconds(10) }

/**
 * How a socket whose server offered a resume token (`loopwire-resume-token`) comes back after a drop: reconnect
 * attempts back off from `initialMillis` doubling to `maxMillis` (jitter in (0.75, 1]), all inside the grace
 * period the server announced; an answer `loopwire-resumed: 0` is retried `refusedRetries` times (the server
 * may not have seen the drop yet) before the socket gives up and its requests take the standard ladder.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResumePolicy {
  /** Default true. `false` never resumes (and never tags requests), even when offered. */
  readonly enabled: boolean
  /** Delay before the first reconnect attempt (default 100 ms). */
  readonly initialMillis: number
  /** Largest delay between attempts (default 2000 ms). */
  readonly maxMillis: number
  /** Further attempts after a `loopwire-resumed: 0` answer (default 2). */
  readonly refusedRetries: number
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultResume: ResumePolicy = { enabled: true, initialMillis: 100, maxMillis: 2000, refusedRetries: 2 }

/**
 * Options to build a configuration. Give `url` (ws/wss) or `baseUrl` (http/https, e.g.
 * `https://api.openai.com/v1`); an `apiKey` becomes `Authorization: Bearer <key>` (or the `api-key` header
 * with `apiKeyHeader: "api-key"`, as Azure also accepts).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly url?: string | undefined
  readonly baseUrl?: string | undefined
  readonly apiKey?: string | Redacted.Redacted<string> | undefined
  readonly apiKeyHeader?: "authorization" | "api-key" | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly lanes?: boolean | undefined
  readonly maxInFlight?: number | undefined
  readonly maxLanes?: number | undefined
  readonly maxAge?: Duration.DurationInput | undefined
  /** Reconnect-with-resume: `false` disables it; a partial policy overrides the defaults. */
  readonly resume?: boolean | Partial<ResumePolicy> | undefined
  /**
   * The pooled sockets' heartbeat: `false` (or a zero interval or timeout) turns it off; a partial policy
   * overrides the defaults (30 s / 10 s).
   */
  readonly heartbeat?:
    | boolean
    | { readonly interval?: Duration.DurationInput | undefined; readonly timeout?: Duration.DurationInput | undefined }
    | undefined
}

/**
 * The WebSocket URL for an HTTP base URL: `https→wss`, `http→ws`, `/responses` appended, query kept.
 * A `ws(s)` URL is returned as is.
 *
 * @since 0.1.0
 * @category urls
 * @throws ClientConfigError when `base` is not an http(s) or ws(s) URL.
 */
export const websocketUrl = (base: string): string => {
  const url = parseUrl(base)
  if (url.protocol === "ws:" || url.protocol === "wss:") return url.toString()
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ClientConfigError({ reason: "UnsupportedScheme", message: `ClientConfig: unsupported URL scheme: ${base}` })
  }
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/responses`
  return url.toString()
}

/**
 * The HTTP URL (`POST` target) for a WebSocket URL: `wss→https`, `ws→http`.
 *
 * @since 0.1.0
 * @category urls
 */
export const httpUrl = (wsUrl: string): string => {
  const url = parseUrl(wsUrl)
  if (url.protocol === "wss:") url.protocol = "https:"
  else if (url.protocol === "ws:") url.protocol = "http:"
  return url.toString()
}

/**
 * Resolves options into a configuration (defaults: lanes on, 16 in flight, 32 lanes, 55-minute sockets, a ping
 * every 30 s with a 10 s timeout). Synchronous, for literal configurations; {@link makeEffect} is the same as an
 * Effect that fails instead of throwing.
 *
 * @since 0.1.0
 * @category constructors
 * @throws ClientConfigError when the options name no usable URL.
 */
export const make = (options: Options): ClientConfig => {
  const base = options.url ?? options.baseUrl
  if (base === undefined) {
    throw new ClientConfigError({ reason: "MissingUrl", message: "ClientConfig: give `url` or `baseUrl`" })
  }
  const url = websocketUrl(base)
  const headers: Record<string, string> = {}
  if (options.apiKey !== undefined) {
    const key = typeof options.apiKey === "string" ? options.apiKey : RedactedM.value(options.apiKey)
    if (options.apiKeyHeader === "api-key") headers["api-key"] = key
    else headers["Authorization"] = `Bearer ${key}`
  }
  Object.assign(headers, options.headers ?? {})
  const lanes = options.lanes ?? true
  return {
    url,
    httpUrl: httpUrl(url),
    headers,
    lanes,
    maxInFlight: Math.max(1, options.maxInFlight ?? 16),
    maxLanes: Math.max(0, options.maxLanes ?? 32),
    maxAge: Duration.decode(options.maxAge ?? Duration.minutes(55)),
    resume: options.resume === undefined || options.resume === true
      ? defaultResume
      : options.resume === false
      ? { ...defaultResume, enabled: false }
      : { ...defaultResume, ...options.resume },
    heartbeat: heartbeatOf(options.heartbeat)
  }
}

/**
 * {@link make} as an Effect: bad options fail with `ClientConfigError` instead of throwing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEffect = (options: Options): Effect.Effect<ClientConfig, ClientConfigError> =>
  Effect.try({
    try: () => make(options),
    catch: (error) =>
      error instanceof ClientConfigError
        ? error
        : new ClientConfigError({ reason: "InvalidUrl", message: `ClientConfig: ${String(error)}` })
  })

const heartbeatOf = (option: Options["heartbeat"]): HeartbeatPolicy | false => {
  if (option === undefined || option === true) return defaultHeartbeat
  if (option === false) return false
  const interval = Duration.decode(option.interval ?? defaultHeartbeat.interval)
  const timeout = Duration.decode(option.timeout ?? defaultHeartbeat.timeout)
  return Duration.toMillis(interval) > 0 && Duration.toMillis(timeout) > 0 ? { interval, timeout } : false
}

/**
 * OpenAI: `wss://api.openai.com/v1/responses`, lanes, 16 in flight, 60-minute limit (rotate at 55).
 *
 * @since 0.1.0
 * @category presets
 */
export const openai = (options: Omit<Options, "url"> = {}): ClientConfig =>
  make({ baseUrl: "https://api.openai.com/v1", ...options })

/**
 * xAI: `wss://api.x.ai/v1/responses`, no lanes, serial per connection, 25-minute limit (rotate at 24).
 *
 * @since 0.1.0
 * @category presets
 */
export const xai = (options: Omit<Options, "url"> = {}): ClientConfig =>
  make({ baseUrl: "https://api.x.ai/v1", lanes: false, maxInFlight: 1, maxAge: Duration.minutes(24), ...options })

/**
 * Azure OpenAI v1: `wss://{resource}.openai.azure.com/openai/v1/responses`. Lanes are not documented there, so
 * they are off (one session per socket) unless enabled.
 *
 * @since 0.1.0
 * @category presets
 */
export const azure = (resource: string, options: Omit<Options, "url"> = {}): ClientConfig =>
  make({ baseUrl: `https://${resource}.openai.azure.com/openai/v1`, lanes: false, maxInFlight: 1, ...options })

/**
 * Reads a configuration from `Config`: `RESPONSES_URL` (ws/wss) or `RESPONSES_BASE_URL` (default
 * `https://api.openai.com/v1`), `RESPONSES_API_KEY` (else `OPENAI_API_KEY`), `RESPONSES_LANES`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig: Config.Config<ClientConfig> = Config.all({
  url: Config.option(Config.string("RESPONSES_URL")),
  baseUrl: Config.string("RESPONSES_BASE_URL").pipe(Config.withDefault("https://api.openai.com/v1")),
  apiKey: Config.option(Config.redacted("RESPONSES_API_KEY").pipe(Config.orElse(() => Config.redacted("OPENAI_API_KEY")))),
  lanes: Config.boolean("RESPONSES_LANES").pipe(Config.withDefault(true))
}).pipe(
  Config.mapAttempt((c) =>
    make({
      url: Option.getOrUndefined(c.url),
      baseUrl: c.baseUrl,
      apiKey: Option.getOrUndefined(c.apiKey),
      lanes: c.lanes
    })
  )
)
