/**
 * The gateway: one HTTP server (on `@effect/platform`, Node) with WebSocket mode on `GET /v1/responses`
 * (upgrade), HTTP mode on `POST /v1/responses`, and `GET /healthz`.
 *
 * The upgrade is authenticated before it happens (a bad key gets a plain HTTP 401, no socket); in
 * `rejectWebSocket` mode every upgrade is answered with 426 so clients fall back to HTTP. Accepted sockets are
 * served by `ConnectionHandler.handle`, over the transport package's server-side upgrade (which sets the frame
 * size limit, `maxFrameBytes`).
 *
 * @since 0.1.0
 */
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerModule from "@effect/platform/HttpServer"
import type * as Upgrade from "@loopwire/transport/Upgrade"
import { accept, reject } from "@loopwire/transport/Upgrade"
import * as WebSocketServer from "@loopwire/transport/WebSocketServer"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as AuthModule from "./Auth.js"
import * as ConnectionHandler from "./ConnectionHandler.js"
import * as GatewayConfig from "./GatewayConfig.js"
import * as HttpApi from "./HttpApi.js"
import type { ModelBackend } from "./ModelBackend.js"
import * as ResponseStoreModule from "./ResponseStore.js"
import type * as Scenario from "./Scenario.js"
import * as ScriptedBackend from "./ScriptedBackend.js"
import * as StateCacheModule from "./StateCache.js"

/**
 * Everything the gateway needs: its configuration, `Auth`, `ModelBackend`, `StateCache`, `ResponseStore`.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = ConnectionHandler.Requirements | HttpApi.Requirements

/**
 * The path of both modes.
 *
 * @since 0.1.0
 * @category constants
 */
export const path = "/v1/responses"

/**
 * The WebSocket side as a transport `Handler`: `onUpgrade` authenticates (401) and applies `rejectWebSocket`
 * (426); `handle` serves the connection. Usable with `WebSocketServer` (real sockets) and `Memory.makeServer`
 * (in-process), so tests run the very same upgrade path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const upgradeHandler: Effect.Effect<Upgrade.Handler<never>, never, Requirements> = Effect.gen(function*() {
  const context = yield* Effect.context<Requirements>()
  const auth = yield* AuthModule.Auth
  const config = yield* GatewayConfig.GatewayConfig
  const tenants = new WeakMap<Upgrade.UpgradeRequest, AuthModule.Tenant>()
  const authenticate = (request: Upgrade.UpgradeRequest) =>
    Effect.either(auth.authenticate(request.headers["authorization"]))
  return {
    onUpgrade: (request) =>
      Effect.map(authenticate(request), (result): Upgrade.Decision => {
        if (Either.isLeft(result)) {
          return reject(401, HttpApi.unauthorizedBody(result.left), {
            "content-type": "application/json",
            "www-authenticate": "Bearer"
          })
        }
        if (config.rejectWebSocket) {
          return reject(
            426,
            HttpApi.upgradeRequiredBody("WebSocket mode is disabled on this server; use POST /v1/responses (HTTP)."),
            { "content-type": "application/json" }
          )
        }
        tenants.set(request, result.right)
        return accept()
      }),
    handle: (connection, request) =>
      Effect.gen(function*() {
        let tenant = tenants.get(request)
        if (tenant === undefined) {
          const result = yield* authenticate(request)
          if (Either.isLeft(result)) return yield* connection.close(1008, "unauthorized")
          tenant = result.right
        }
        yield* ConnectionHandler.handle(connection, { tenant })
      }).pipe(Effect.provide(context))
  }
})

/**
 * Both modes on an existing Node server (see `WebSocketServer.layerHttpServer`), for the life of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRoutes: Layer.Layer<
  never,
  never,
  Requirements | HttpServer.HttpServer | WebSocketServer.NodeServer
> = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* GatewayConfig.GatewayConfig
  const handler = yield* upgradeHandler
  return Layer.merge(
    HttpServerModule.serve(HttpApi.router),
    WebSocketServer.layer({ path, maxPayload: config.maxFrameBytes, ...handler })
  )
}))

/**
 * The gateway listening on `GatewayConfig`'s host and port. Its output `HttpServer` tells the bound address
 * (port 0 picks a free one).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<HttpServer.HttpServer, ServeError, Requirements> = Layer.unwrapEffect(
  Effect.map(GatewayConfig.GatewayConfig, (config) =>
    layerRoutes.pipe(
      Layer.provideMerge(
        WebSocketServer.layerHttpServer(() => Http.createServer(), { port: config.port, host: config.host })
      )
    ))
)

/**
 * Options of {@link layerLocal}.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalOptions {
  /** Overrides of the defaults (e.g. `{ port: 0 }` for a free port). */
  readonly config?: Partial<GatewayConfig.GatewayConfigShape> | undefined
  /** Default: allow all. */
  readonly auth?: AuthModule.Options | undefined
  /** Default: the scripted backend with `scenario`. */
  readonly backend?: Layer.Layer<ModelBackend> | undefined
  /** The scripted backend's scenario (default: empty). */
  readonly scenario?: Scenario.Scenario | undefined
  /** Default: LatestPerLane. */
  readonly cache?: StateCacheModule.Options | undefined
  /** Default: in memory, 10 000 records. */
  readonly store?: ResponseStoreModule.MemoryOptions | undefined
}

/**
 * A complete gateway from code, with in-process defaults for every service: for tests, benchmarks and demos.
 * Its output `HttpServer` gives the address (`baseUrl`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLocal = (options: LocalOptions = {}): Layer.Layer<HttpServer.HttpServer, ServeError> =>
  layer.pipe(
    Layer.provide(Layer.mergeAll(
      GatewayConfig.layer(options.config),
      AuthModule.layer(options.auth),
      options.backend ?? ScriptedBackend.layer({ scenario: options.scenario }),
      StateCacheModule.layer(options.cache),
      ResponseStoreModule.layerMemory(options.store)
    ))
  )

/**
 * The bound address as a URL base, e.g. `http://127.0.0.1:8080`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const baseUrl: Effect.Effect<string, never, HttpServer.HttpServer> = HttpServerModule.addressWith((address) =>
  Effect.succeed(
    address._tag === "UnixAddress"
      ? `http+unix://${address.path}`
      : `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
  )
)
