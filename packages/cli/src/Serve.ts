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
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { FileSystem } from "@effect/platform/FileSystem"
import * as Auth from "@loopwire/server/Auth"
import * as Gateway from "@loopwire/server/Gateway"
import * as GatewayConfig from "@loopwire/server/GatewayConfig"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as StateCache from "@loopwire/server/StateCache"
import * as UpstreamBackend from "@loopwire/server/UpstreamBackend"
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
  ...some(o.defaultModel, "defaultModel"),
  ...(o.rejectWebSocket ? { rejectWebSocket: true } : {})
})

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
  const fromEnv = UpstreamBackend.config
  const upstream = Config.all({
    baseUrl: Option.isSome(o.upstreamUrl) ? Config.succeed(o.upstreamUrl.value) : Config.map(fromEnv, (c) => c.baseUrl),
    apiKey: Option.isSome(o.upstreamKey)
      ? Config.succeed<Redacted.Redacted | string | undefined>(o.upstreamKey.value)
      : Config.map(Config.option(Config.redacted("LOOPWIRE_UPSTREAM_API_KEY")), Option.getOrUndefined),
    model: Option.isSome(o.upstreamModel)
      ? Config.succeed<string | undefined>(o.upstreamModel.value)
      : Config.map(Config.option(Config.nonEmptyString("LOOPWIRE_UPSTREAM_MODEL")), Option.getOrUndefined)
  })
  return UpstreamBackend.layerConfig(upstream).pipe(
    Layer.provide(NodeHttpClient.layerUndici),
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
    GatewayConfig.layerConfig(configOverrides(o)),
    authLayer(o),
    backendLayer(o),
    StateCache.layerConfig(),
    ResponseStore.layerMemoryConfig()
  )

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
    // One write, so whoever waits for the address line gets the whole banner.
    yield* Console.log([
      `loopwire gateway listening on ${url}`,
      config.rejectWebSocket
        ? `  WebSocket mode: disabled (upgrades get 426)`
        : `  WebSocket mode: ${url.replace(/^http/, "ws")}/v1/responses`,
      `  HTTP mode:      POST ${url}/v1/responses`,
      `  health:         ${url}/healthz`,
      `  backend:        ${o.backend}`
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
