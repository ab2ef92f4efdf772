/**
 * The gateway: one HTTP server (on `@effect/platform`, Node) with WebSocket mode on `GET /v1/responses`
 * (upgrade), HTTP mode on `POST /v1/responses`, and `GET /healthz`.
 *
 * The upgrade is authenticated before it happens (a bad key gets a plain HTTP 401, no socket); in
 * `rejectWebSocket` mode every upgrade is answered with 426 so clients fall back to HTTP. Accepted sockets are
 * served by `ConnectionHandler.handle`, over the transport package's server-side upgrade (which sets the frame
 * size limit, `maxFrameBytes`).
 *
 * Every accepted socket gets a heartbeat (`GatewayConfig.heartbeatInterval` / `heartbeatTimeout`): a peer that
 * answers no ping is cut, which is a drop, so a half-open connection's session becomes resumable. A resume token
 * presented while its connection is still open on this process gets that connection probed at once (one ping,
 * `probeTimeout`): no answer, and it is cut and claimed (`loopwire-resumed: 1`); an answer, and it is left alone.
 *
 * Reconnect-with-resume (docs/resume.md, on unless `GatewayConfig.resume` is false): each accepted upgrade gets a
 * fresh `loopwire-resume-token` and `loopwire-resume-grace`; a presented `loopwire-resume-token` is claimed from
 * the `ResumeLog` (the context's, e.g. Redis, else an in-memory one) and answered with `loopwire-resumed: 1|0`.
 *
 * @since 0.1.0
 */
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerModule from "@effect/platform/HttpServer"
import type * as Upgrade from "@loopwire/transport/Upgrade"
import { accept, reject } from "@loopwire/transport/Upgrade"
import * as WebSocketServer from "@loopwire/transport/WebSocketServer"
import type { Connection } from "@loopwire/transport/Connection"
import * as Heartbeat from "@loopwire/transport/Heartbeat"
import { ResumeHeaders } from "@loopwire/protocol/Resume"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Deferred from "effect/Deferred"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Http from "node:http"
import { none as FiberIdNone } from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as AccessLog from "./AccessLog.js"
import * as AuthModule from "./Auth.js"
import * as BrowserGuard from "./BrowserGuard.js"
import * as ConnectionHandler from "./ConnectionHandler.js"
import * as ConnectionLimit from "./ConnectionLimit.js"
import * as DrainModule from "./Drain.js"
import * as GatewayConfig from "./GatewayConfig.js"
import * as HttpApi from "./HttpApi.js"
import * as Metrics from "./Metrics.js"
import type { ModelBackend } from "./ModelBackend.js"
import * as ResponseStoreModule from "./ResponseStore.js"
import * as ResumeLogModule from "./ResumeLog.js"
import type * as Scenario from "./Scenario.js"
import * as ScriptedBackend from "./ScriptedBackend.js"
import * as StateCacheModule from "./StateCache.js"

/**
 * Everything the gateway needs: its configuration, `Auth`, `ModelBackend`, `StateCache`, `ResponseStore`. A
 * `ResumeLog` is optional: when the context has none, the gateway keeps one in memory.
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
 * The WebSocket side as a transport `Handler`: `onUpgrade` authenticates (401), applies `rejectWebSocket` (426)
 * and offers / claims resume; `handle` serves the connection. Each call makes one gateway "process": its own
 * in-process resume sessions (a claim of another handler's token behaves as a resume on another process).
 * Usable with `WebSocketServer` (real sockets) and `Memory.makeServer` (in-process), so tests run the very same
 * upgrade path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const upgradeHandler: Effect.Effect<Upgrade.Handler<never>, never, Requirements> = Effect.gen(function*() {
  const context = yield* Effect.context<Requirements>()
  const auth = yield* AuthModule.Auth
  const config = yield* GatewayConfig.GatewayConfig
  const heartbeat = GatewayConfig.heartbeatOf(config)
  // Open connections of this process by resume token, and the claims waiting for a cut one to be suspended.
  const live = new Map<string, { readonly connection: Connection; readonly tenant: AuthModule.Tenant }>()
  const awaitingSuspend = new Map<string, Deferred.Deferred<void>>()
  // Claims made here whose connection has not confirmed yet (no frame): presented token → the new connection's.
  // A token presented again while its successor still looks open here gets that successor probed.
  const successors = new Map<string, string>()
  const resumeLog = config.resume
    ? withSuspendSignal(yield* resumeLogFor(config), (token) => {
      const waiter = awaitingSuspend.get(token)
      if (waiter !== undefined) Deferred.unsafeDone(waiter, Exit.void)
    })
    : undefined
  const sessions = new ConnectionHandler.Sessions()
  const graceHeader = String(Math.max(0, Math.round(Duration.toMillis(config.resumeGrace))))
  const accepted = new WeakMap<Upgrade.UpgradeRequest, ConnectionHandler.HandleOptions>()
  const authenticate = (request: Upgrade.UpgradeRequest) =>
    Effect.either(auth.authenticate(request.headers["authorization"]))
  const drain = yield* DrainModule.current
  // The socket caps (shared with HTTP requests): a slot from the accepted upgrade until the socket is gone.
  const connectionLimit = ConnectionLimit.forConfig(config)
  const slots = new WeakMap<Upgrade.UpgradeRequest, () => void>()
  const takeSlot = (request: Upgrade.UpgradeRequest, tenant: AuthModule.Tenant): Effect.Effect<Upgrade.Decision | undefined> => {
    const slot = connectionLimit.acquire(tenant)
    if (typeof slot === "function") {
      slots.set(request, slot)
      return Effect.as(Metric.set(ConnectionLimit.metrics.held, connectionLimit.total), undefined)
    }
    const limit = slot === "tenant" ? connectionLimit.limits.perTenant : connectionLimit.limits.total
    return Effect.as(
      Metric.increment(Metric.tagged(ConnectionLimit.metrics.refused, "limit", slot)),
      reject(ConnectionLimit.refusedStatus, ConnectionLimit.refusedBody(slot, limit), ConnectionLimit.refusedHeaders)
    )
  }
  const releaseSlot = (request: Upgrade.UpgradeRequest) =>
    Effect.suspend(() => {
      const release = slots.get(request)
      slots.delete(request)
      release?.()
      return Metric.set(ConnectionLimit.metrics.held, connectionLimit.total)
    })

  // Names the connection (a fresh token bound to the tenant) and claims the lost connection it presents. A log
  // that fails (Redis down) costs the client the extension, never the connection.
  const offerResume = (
    request: Upgrade.UpgradeRequest,
    tenant: AuthModule.Tenant,
    log: ResumeLogModule.Shape
  ): Effect.Effect<{ readonly options: ConnectionHandler.HandleOptions; readonly headers: Record<string, string> }> =>
    Effect.gen(function*() {
      const token = yield* ResumeLogModule.makeToken
      const session = { tenant, token }
      const opened = yield* Effect.either(log.openSession(session))
      if (Either.isLeft(opened)) {
        yield* Effect.logWarning("resume log unavailable: connection served without resume", opened.left)
        return { options: { tenant }, headers: {} }
      }
      const headers: Record<string, string> = {
        [ResumeHeaders.token]: token,
        [ResumeHeaders.grace]: graceHeader
      }
      const presented = request.headers[ResumeHeaders.token]?.trim()
      let claimed: ResumeLogModule.ClaimedSession | undefined
      if (presented !== undefined) {
        yield* probe(presented, tenant)
        const result = yield* Effect.either(log.claim({ tenant, token: presented, into: token }))
        if (Either.isLeft(result)) yield* Effect.logWarning("resume claim failed", result.left)
        else claimed = Option.getOrUndefined(result.right)
        headers[ResumeHeaders.resumed] = claimed === undefined ? "0" : "1"
        if (claimed !== undefined) successors.set(presented, token)
      }
      const resume: ConnectionHandler.ResumeOptions = { log, sessions, session, grace: config.resumeGrace, claimed }
      return { options: { tenant, resume }, headers }
    })

  // A token presented while its connection is still open here: the client has lost that socket, but the gateway
  // may not have seen it drop yet (half-open). One ping settles it: no answer within the probe time and the old
  // socket is cut (a drop: suspended, then claimable at once); an answer means it is alive, and it is left alone.
  const probe = (token: string, tenant: AuthModule.Tenant): Effect.Effect<void> =>
    Effect.suspend(() => {
      const successor = successors.get(token)
      if (!live.has(token) && successor !== undefined) token = successor
      const entry = live.get(token)
      // Another tenant's connection is never touched (its claim will fail anyway).
      if (entry === undefined || entry.tenant !== tenant || heartbeat === undefined) return Effect.void
      const old = entry.connection
      const suspended = Deferred.unsafeMake<void>(FiberIdNone)
      awaitingSuspend.set(token, suspended)
      const wait = probeTimeout(heartbeat.timeout)
      return old.ping.pipe(
        Effect.timeout(wait),
        Effect.either,
        Effect.flatMap((answer) =>
          // Alive, or already closed (then its own close is being handled): nothing to do.
          Either.isRight(answer) || answer.left._tag !== "TimeoutException" ? Effect.void : Effect.zipRight(
            Effect.zipRight(
              Effect.logDebug(`connection ${old.id}: its resume token was presented and it answers no ping; cut`),
              old.terminate
            ),
            Effect.ignore(Effect.timeout(Deferred.await(suspended), wait))
          )
        ),
        Effect.ensuring(Effect.sync(() => awaitingSuspend.delete(token)))
      )
    })

  const serve = (
    connection: Connection,
    options: ConnectionHandler.HandleOptions,
    request: Upgrade.UpgradeRequest
  ) =>
    Effect.suspend(() => {
      const token = options.resume?.session.token
      const entry = { connection, tenant: options.tenant }
      const presented = options.resume?.claimed?.presented
      // When the socket is gone (which may be after the handler: a drop whose session waits for a resume): its
      // socket slot is released (the slot bounds its outbound buffer) and its live token forgotten.
      const forget = token === undefined ? undefined : () => {
        if (live.get(token) === entry) live.delete(token)
        if (presented !== undefined && successors.get(presented) === token) successors.delete(presented)
      }
      const onClose = Effect.zipRight(releaseSlot(request), Effect.sync(() => forget?.()))
      return Effect.zipRight(
        observeConnection(connection, options.tenant, options.resume?.claimed !== undefined, onClose),
        // A peer silent past the heartbeat's timeout is cut (1006): a drop, so its session is kept for a resume.
        heartbeat === undefined ? Effect.succeed(undefined) : Heartbeat.unsafeStart(connection, heartbeat)
      ).pipe(
        Effect.flatMap((stop) =>
          Effect.ensuring(
            Effect.suspend(() => {
              if (token !== undefined) live.set(token, entry)
              return ConnectionHandler.handle(connection, options)
            }),
            Effect.sync(() => {
              stop?.()
              forget?.()
            })
          )
        )
      )
    })

  const policy = HttpApi.guardPolicy(config, auth)
  return {
    onUpgrade: (request) =>
      Effect.flatMap(authenticate(request), (result): Effect.Effect<Upgrade.Decision> => {
        const refused = BrowserGuard.check(policy, request.headers)
        if (refused !== undefined) {
          return Effect.succeed(
            reject(BrowserGuard.refusedStatus, JSON.stringify({ error: refused.error }), { "content-type": "application/json" })
          )
        }
        if (Either.isLeft(result)) {
          return Effect.succeed(reject(401, HttpApi.unauthorizedBody(result.left), {
            "content-type": "application/json",
            "www-authenticate": "Bearer"
          }))
        }
        if (drain?.draining() === true) {
          return Effect.succeed(reject(
            503,
            HttpApi.serviceUnavailableBody("This gateway is shutting down; connect again (to another instance)."),
            { "content-type": "application/json", "retry-after": "1" }
          ))
        }
        if (config.rejectWebSocket) {
          return Effect.succeed(reject(
            426,
            HttpApi.upgradeRequiredBody("WebSocket mode is disabled on this server; use POST /v1/responses (HTTP)."),
            { "content-type": "application/json" }
          ))
        }
        const tenant = result.right
        return Effect.flatMap(takeSlot(request, tenant), (refusal): Effect.Effect<Upgrade.Decision> => {
          if (refusal !== undefined) return Effect.succeed(refusal)
          if (resumeLog === undefined) {
            accepted.set(request, { tenant })
            return Effect.succeed(accept())
          }
          return Effect.map(offerResume(request, tenant, resumeLog), ({ headers, options }) => {
            accepted.set(request, options)
            return accept({ headers })
          })
        })
      }),
    // No scope and no generator per connection (each is a few KB that a long-lived connection keeps): what must
    // stop with the handler is one `ensuring`.
    handle: (connection, request) => {
      const options = accepted.get(request)
      accepted.delete(request)
      const known = options === undefined
        ? Effect.map(authenticate(request), Either.map((tenant): ConnectionHandler.HandleOptions => ({ tenant })))
        : Effect.succeed(Either.right(options))
      return Effect.flatMap(known, (result) =>
        Either.isLeft(result)
          ? Effect.zipRight(releaseSlot(request), connection.close(1008, "unauthorized"))
          : serve(connection, result.right, request)).pipe(
          Effect.withSpan("loopwire.connection", {
            kind: "server",
            attributes: { "loopwire.connection.id": connection.id, "network.peer.address": request.remoteAddress ?? "" }
          }),
          Effect.provide(context)
        )
    },
    // The socket went before its 101 was written: its fresh session is a drop (so a claim it made can be followed
    // by the client's next reconnect, which still presents the old token).
    onAbandoned: (request) =>
      Effect.zipRight(releaseSlot(request), Effect.suspend(() => {
        const options = accepted.get(request)
        accepted.delete(request)
        const resume = options?.resume
        if (resume === undefined) return Effect.void
        const presented = resume.claimed?.presented
        if (presented !== undefined && successors.get(presented) === resume.session.token) successors.delete(presented)
        return Effect.catchAll(resume.log.suspend(resume.session), (error) =>
          Effect.logWarning("resume log: suspend of an abandoned upgrade failed", error))
      }))
  }
})

// Gauges, counters and the access log of one accepted connection: its open now, its close (with the code) when
// the socket ends, which may be after the handler (a drop whose session waits for a resume); `onClose` then too.
// One fiber per connection waits for that close.
const observeConnection = (
  connection: Connection,
  tenant: AuthModule.Tenant,
  resumed: boolean,
  onClose: Effect.Effect<void>
) =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const opened = clock.unsafeCurrentTimeMillis()
    yield* Metric.increment(Metrics.connectionsOpened)
    yield* Metric.increment(Metrics.connectionsActive)
    yield* Effect.annotateCurrentSpan({ "loopwire.tenant": tenant, "loopwire.resumed": resumed })
    yield* AccessLog.connectionOpen({ connection: connection.id, tenant, resumed })
    const closed = Effect.flatMap(connection.closed, ({ code, reason }) =>
      Effect.all([
        onClose,
        Metric.incrementBy(Metrics.connectionsActive, -1),
        Metric.increment(Metric.tagged(Metrics.connectionsClosed, "code", String(code))),
        AccessLog.connectionClose({
          connection: connection.id,
          tenant,
          code,
          reason: reason === "" ? undefined : reason,
          duration_ms: clock.unsafeCurrentTimeMillis() - opened
        })
      ], { discard: true }))
    // Not tied to the handler's scope: the close is counted even when the handler is interrupted first.
    yield* Effect.forkDaemon(closed)
  })

/**
 * How long a claim waits for the answer to its probe ping (and then for the cut connection to be suspended):
 * the heartbeat timeout, at most 5 seconds (the 101 waits for it).
 *
 * @since 0.1.0
 * @category decisions
 */
export const probeTimeout = (heartbeatTimeout: Duration.Duration): Duration.Duration =>
  Duration.min(heartbeatTimeout, Duration.seconds(5))

// The log, telling `onSuspended` each token it suspends (after the suspend).
const withSuspendSignal = (
  log: ResumeLogModule.Shape,
  onSuspended: (token: string) => void
): ResumeLogModule.Shape => ({
  ...log,
  suspend: (session) => Effect.ensuring(log.suspend(session), Effect.sync(() => onSuspended(session.token)))
})

// The `ResumeLog` of the context (e.g. Redis, shared by several processes), else one in memory for this handler.
const resumeLogFor = (config: GatewayConfig.GatewayConfigShape): Effect.Effect<ResumeLogModule.Shape> =>
  Effect.flatMap(
    Effect.serviceOption(ResumeLogModule.ResumeLog),
    Option.match({
      onSome: Effect.succeed,
      onNone: () =>
        ResumeLogModule.makeMemory({
          grace: config.resumeGrace,
          maxBytes: config.resumeLogBytes,
          maxTotalBytes: config.resumeLogTotalBytes,
          maxTenantBytes: config.resumeLogTenantBytes
        })
    })
  )

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
    HttpServerModule.serve(HttpApi.app).pipe(Layer.provide(Metrics.layerExposition)),
    WebSocketServer.layer({ path, maxPayload: config.maxFrameBytes, ...handler })
  )
}))

/**
 * The Node HTTP server the gateway listens on: idle keep-alive connections stay open for the configuration's
 * `httpKeepAliveTimeout` (Node's own default is 5 s), and the headers and request timeouts are raised to at least
 * that plus one second, as Node needs for a request that arrives late on a kept-alive connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeHttpServer = (
  config: Pick<GatewayConfig.GatewayConfigShape, "httpKeepAliveTimeout">
): Http.Server => {
  const server = Http.createServer()
  const keepAlive = Math.max(0, Math.round(Duration.toMillis(config.httpKeepAliveTimeout)))
  server.keepAliveTimeout = keepAlive
  server.headersTimeout = Math.max(server.headersTimeout, keepAlive + 1000)
  // Node rejects a headers timeout above a (non-zero) request timeout.
  if (server.requestTimeout > 0) server.requestTimeout = Math.max(server.requestTimeout, server.headersTimeout)
  return server
}

/**
 * The gateway listening on `GatewayConfig`'s host and port. Its output `HttpServer` tells the bound address
 * (port 0 picks a free one); its `Drain` counts running responses and drains them (`Drain.drain`: stop accepting,
 * let them finish up to a deadline) before the layer is released (which closes what is left with 1001).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<HttpServer.HttpServer | DrainModule.Drain, ServeError, Requirements> = Layer
  .unwrapEffect(
    Effect.gen(function*() {
      const config = yield* GatewayConfig.GatewayConfig
      let server: Http.Server | undefined
      const drain = yield* DrainModule.make({
        stopAccepting: Effect.sync(() => {
          server?.close()
          server?.closeIdleConnections()
        })
      })
      return layerRoutes.pipe(
        Layer.provideMerge(
          WebSocketServer.layerHttpServer(() => (server = makeHttpServer(config)), {
            port: config.port,
            host: config.host
          })
        ),
        Layer.provideMerge(Layer.succeed(DrainModule.Drain, drain))
      )
    })
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
  /** The resume log (e.g. `RedisResumeLog`); default: in memory, sized by the config's `resumeGrace`, `resumeLogBytes`. */
  readonly resumeLog?: Layer.Layer<ResumeLogModule.ResumeLog> | undefined
}

/**
 * A complete gateway from code, with in-process defaults for every service: for tests, benchmarks and demos.
 * Its output `HttpServer` gives the address (`baseUrl`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLocal = (
  options: LocalOptions = {}
): Layer.Layer<HttpServer.HttpServer | DrainModule.Drain, ServeError> =>
  layer.pipe(
    Layer.provide(Layer.mergeAll(
      GatewayConfig.layer(options.config),
      AuthModule.layer(options.auth),
      options.backend ?? ScriptedBackend.layer({ scenario: options.scenario }),
      StateCacheModule.layer(options.cache),
      ResponseStoreModule.layerMemory(options.store),
      options.resumeLog ?? Layer.empty
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
