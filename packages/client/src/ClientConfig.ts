/**
 * Where and how the client connects: the WebSocket URL (derived from an HTTP base URL as the SDKs do), the
 * HTTP/SSE URL for fallback, the handshake headers, and the endpoint's limits. Presets for OpenAI, xAI, Azure
 * and a Loopwire gateway.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as RedactedM from "effect/Redacted"

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
}

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
}

/**
 * The WebSocket URL for an HTTP base URL: `https→wss`, `http→ws`, `/responses` appended, query kept.
 * A `ws(s)` URL is returned as is.
 *
 * @since 0.1.0
 * @category urls
 */
export const websocketUrl = (base: string): string => {
  const url = new URL(base)
  if (url.protocol === "ws:" || url.protocol === "wss:") return url.toString()
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`Unsupported URL scheme: ${base}`)
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
  const url = new URL(wsUrl)
  if (url.protocol === "wss:") url.protocol = "https:"
  else if (url.protocol === "ws:") url.protocol = "http:"
  return url.toString()
}

/**
 * Resolves options into a configuration (defaults: lanes on, 16 in flight, 32 lanes, 55-minute sockets).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): ClientConfig => {
  const base = options.url ?? options.baseUrl
  if (base === undefined) throw new TypeError("ClientConfig: give `url` or `baseUrl`")
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
    maxAge: Duration.decode(options.maxAge ?? Duration.minutes(55))
  }
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
