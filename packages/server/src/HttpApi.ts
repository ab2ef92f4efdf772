/**
 * HTTP mode of the gateway: `POST /v1/responses` with the same semantics as a WebSocket `response.create`
 * (JSON response, or Server-Sent Events with `event:` / `data:` framing when `stream: true`), `GET /healthz`, and
 * a plain `GET /v1/responses` (no upgrade) answered with 426.
 *
 * Continuations over HTTP come from the tenant's `ResponseStore` only (there is no connection cache); a
 * `store: false` response is therefore not continuable over HTTP (`previous_response_not_found`).
 *
 * @since 0.1.0
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type { RouteNotFound } from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as ProtocolError from "@loopwire/protocol/ProtocolError"
import type { FrameLimits } from "@loopwire/protocol/FrameLimits"
import type { ErrorEnvelope } from "@loopwire/protocol/ServerEvent"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { Auth, type AuthError, type Shape as AuthShape } from "./Auth.js"
import * as BrowserGuard from "./BrowserGuard.js"
import { GatewayConfig, type GatewayConfigShape } from "./GatewayConfig.js"
import * as HttpBody from "./internal/httpBody.js"
import * as Protocol from "./internal/protocol.js"
import * as Turn from "./internal/turn.js"
import * as Drain from "./Drain.js"
import * as Lanes from "./Lanes.js"
import * as Metrics from "./Metrics.js"
import * as RequestBudget from "./RequestBudget.js"
import * as ConnectionLimit from "./ConnectionLimit.js"
import { ModelBackend } from "./ModelBackend.js"
import { ResponseStore } from "./ResponseStore.js"

/**
 * What the HTTP endpoints need.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = GatewayConfig | ModelBackend | ResponseStore | Auth

/**
 * The JSON body of an HTTP error: `{ error: { type, code, message, param } }`, as the Responses API answers.
 *
 * @since 0.1.0
 * @category responses
 */
export const errorResponse = (frame: ErrorEnvelope): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson({ error: frame.error }, { status: frame.status })

/**
 * The 401 answer for a failed authentication (used for HTTP requests and refused upgrades alike).
 *
 * @since 0.1.0
 * @category responses
 */
export const unauthorizedBody = (error: AuthError): string =>
  JSON.stringify({ error: { type: "invalid_request_error", code: "invalid_api_key", message: error.message, param: null } })

/**
 * The body of a 426 answer: WebSocket mode is off (or the request did not upgrade), use `POST /v1/responses`.
 *
 * @since 0.1.0
 * @category responses
 */
export const upgradeRequiredBody = (message: string): string =>
  JSON.stringify({ error: { type: "invalid_request_error", code: "upgrade_required", message, param: null } })

/**
 * The JSON body of a 503 while the gateway drains (shutting down).
 *
 * @since 0.1.0
 * @category encoding
 */
export const serviceUnavailableBody = (message: string): string =>
  JSON.stringify({ error: { type: "server_error", code: "server_shutting_down", message, param: null } })

/**
 * One Server-Sent Event, framed as OpenAI frames Responses streaming events.
 *
 * @since 0.1.0
 * @category encoding
 */
export const sseFrame = (event: { readonly type: string }): string => sseText(event.type, JSON.stringify(event))

// An event already encoded (by the turn, once).
const sseText = (type: string, json: string): string => `event: ${type}\ndata: ${json}\n\n`

/** The request's tenant, or the 401 answer. */
const authenticate = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.flatMap(Auth, (auth) =>
    Effect.either(
      Effect.mapError(auth.authenticate(request.headers["authorization"]), (error) =>
        HttpServerResponse.text(unauthorizedBody(error), {
          status: 401,
          contentType: "application/json",
          headers: { "www-authenticate": "Bearer" }
        }))
    ))

/**
 * Decodes a `POST /v1/responses` body exactly as WebSocket mode decodes a frame (same codec entry, so the same
 * structural limits, own-property lookups and `__proto__` guard): the body is made the text of a
 * `response.create` frame by adding `"type":"response.create"` as its last member (a `type` in the body is thus
 * overridden, as it always was), under the gateway's structural `limits`. Pure.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeBody = (
  text: string,
  limits: FrameLimits
): Either.Either<Protocol.ResponseCreate, ErrorEnvelope> => {
  const trimmed = text.trim()
  if (!trimmed.startsWith("{") || !trimmed.endsWith("}")) {
    // Not an object: the codec's own answer for invalid JSON, else ours for a JSON value that is no object.
    const asFrame = Protocol.decode(trimmed, limits)
    return Either.isLeft(asFrame) && asFrame.left.error.code === "invalid_json"
      ? Either.left(asFrame.left)
      : Either.left(Protocol.invalidBody("The request body must be a JSON object."))
  }
  const members = trimmed.slice(1, -1)
  const frame = `{${members}${members.trim() === "" ? "" : ","}"type":"response.create"}`
  // The body's own size was checked as it was read; the added `type` does not count against it.
  const decoded = Protocol.decode(frame, { ...limits, maxFrameBytes: limits.maxFrameBytes + frame.length - text.length })
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const create = decoded.right as Protocol.ResponseCreate
  if (Object.hasOwn(create, "stream_id")) return Either.left(Protocol.streamIdOverHttp())
  return Either.right(create)
}

// A turn that died (a bug, or an input the server could not handle): logged, answered as a 500 `server_error`.
const failedTurn = (defect: unknown): Effect.Effect<Turn.Outcome> =>
  Effect.as(
    Effect.logError("HTTP response failed", defect),
    { _tag: "Rejected", error: Protocol.serverError(), parent: undefined } as const
  )

/**
 * `POST /v1/responses`.
 *
 * @since 0.1.0
 * @category handlers
 */
export const createResponse: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  Requirements | HttpServerRequest.HttpServerRequest
> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const config = yield* GatewayConfig
  const authenticated = yield* authenticate(request)
  if (Either.isLeft(authenticated)) return authenticated.left
  const body = yield* HttpBody.read(NodeHttpServerRequest.toIncomingMessage(request), config.maxFrameBytes)
  if (body._tag === "TooLarge") return errorResponse(Protocol.bodyTooLarge(config.maxFrameBytes))
  if (body._tag === "Failed") {
    return errorResponse(Protocol.invalidBody(`The request body could not be read (${body.message}).`))
  }
  const decoded = decodeBody(body.text, Protocol.frameLimits(config))
  if (Either.isLeft(decoded)) return errorResponse(decoded.left)
  const create = decoded.right
  if (create.background === true) return errorResponse(Protocol.backgroundUnsupported())
  // The body counts against the gateway's request budget while its response runs (one HTTP request is a
  // connection holding nothing else, so only the tenant and total budgets can refuse it).
  const budget = RequestBudget.forConfig(config)
  const bytes = body.text.length
  const refused = budget.hold(authenticated.right, 0, bytes)
  if (refused !== undefined) {
    yield* Metric.increment(Metric.tagged(RequestBudget.metrics.refused, "budget", refused as string))
    const limit = refused === "tenant" ? config.maxTenantHeldRequestBytes : config.maxTotalHeldRequestBytes
    return errorResponse(Protocol.requestBytesLimitReached(refused === "tenant" ? "tenant" : "gateway", limit))
  }
  // A running request holds a socket slot too (the gateway's connection caps, shared with WebSocket mode).
  const limit = ConnectionLimit.forConfig(config)
  const slot = limit.acquire(authenticated.right)
  if (typeof slot !== "function") {
    budget.release(authenticated.right, bytes)
    yield* Metric.increment(Metric.tagged(ConnectionLimit.metrics.refused, "limit", slot))
    return HttpServerResponse.text(ConnectionLimit.refusedBody(slot, slot === "tenant" ? limit.limits.perTenant : limit.limits.total), {
      status: ConnectionLimit.refusedStatus,
      contentType: "application/json",
      headers: { "retry-after": "1" }
    })
  }
  yield* Metric.set(RequestBudget.metrics.held, budget.total)
  yield* Metric.set(ConnectionLimit.metrics.held, limit.total)
  let released = false
  const release = Effect.suspend(() => {
    if (released) return Effect.void
    released = true
    budget.release(authenticated.right, bytes)
    slot()
    return Effect.zipRight(
      Metric.set(RequestBudget.metrics.held, budget.total),
      Metric.set(ConnectionLimit.metrics.held, limit.total)
    )
  })

  const env: Turn.TurnEnv = {
    // No connection cache over HTTP: continuations come from the store only.
    connectionId: "http",
    tenant: authenticated.right,
    config,
    backend: yield* ModelBackend,
    cache: undefined,
    store: yield* ResponseStore,
    drain: yield* Drain.current
  }
  const base = { lane: Lanes.defaultLane, streamId: undefined }

  if (create.stream !== true) {
    const outcome = yield* Turn.run(env, create, { ...base, sink: () => Effect.void }).pipe(
      Effect.catchAllDefect(failedTurn),
      Effect.ensuring(release)
    )
    return outcome._tag === "Rejected"
      ? errorResponse(outcome.error)
      : HttpServerResponse.unsafeJson(outcome.response)
  }

  // SSE: the status must be known before the first byte, so wait for the first event (or the rejection).
  type Item = { readonly _tag: "Frame"; readonly text: string } | { readonly _tag: "End"; readonly outcome: Turn.Outcome }
  const queue = yield* Queue.unbounded<Item>()
  let started = false
  const fiber = yield* Turn.run(env, create, {
    ...base,
    sink: (frames) => {
      started = true
      return Queue.offerAll(queue, frames.map((frame): Item => ({ _tag: "Frame", text: sseText(frame.type, frame.text) })))
    }
  }).pipe(
    // A defect after the first event: the stream ends with an `error` event instead of hanging.
    Effect.catchAllDefect((defect) =>
      Effect.tap(failedTurn(defect), (outcome) =>
        started && outcome._tag === "Rejected"
          ? Queue.offer(queue, { _tag: "Frame", text: sseFrame(outcome.error) })
          : Effect.void)
    ),
    Effect.flatMap((outcome) => Queue.offer(queue, { _tag: "End", outcome })),
    Effect.forkDaemon
  )
  const first = yield* Queue.take(queue)
  if (first._tag === "End" && first.outcome._tag === "Rejected") {
    return yield* Effect.as(release, errorResponse(first.outcome.error))
  }
  const rest = Stream.fromQueue(queue).pipe(
    Stream.takeWhile((item) => item._tag === "Frame"),
    Stream.map((item) => (item as { readonly text: string }).text)
  )
  const frames = first._tag === "Frame" ? Stream.concat(Stream.make(first.text), rest) : Stream.empty
  return HttpServerResponse.stream(
    frames.pipe(
      Stream.encodeText,
      Stream.ensuring(Effect.zipRight(Fiber.interrupt(fiber), release))
    ),
    { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } }
  )
}).pipe(
  Effect.catchAllDefect((defect) =>
    Effect.as(Effect.logError("HTTP request failed", defect), errorResponse(Protocol.serverError()))
  )
)

/**
 * `GET /v1/responses/:id`: a stored response of the caller's tenant (404 for unknown ids and other tenants').
 *
 * @since 0.1.0
 * @category handlers
 */
export const retrieveResponse: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  Requirements | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext
> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { params } = yield* HttpRouter.RouteContext
  const authenticated = yield* authenticate(request)
  if (Either.isLeft(authenticated)) return authenticated.left
  const id = params["id"] ?? ""
  const store = yield* ResponseStore
  const found = yield* store.get(authenticated.right, id).pipe(Effect.orElseSucceed(() => Option.none()))
  return Option.match(found, {
    onNone: () =>
      errorResponse(ProtocolError.errorFrame({
        status: 404,
        type: "invalid_request_error",
        code: null,
        message: `Response with id '${id}' not found.`,
        param: null
      })),
    onSome: (record) => HttpServerResponse.unsafeJson(record.response)
  })
})

/**
 * The HTTP routes: `POST /v1/responses`, `GET /v1/responses/:id`, `GET /v1/responses` without an upgrade (426),
 * `GET /healthz`, `GET /metrics` (the process's metrics, Prometheus text; see docs/server.md "Operating").
 *
 * @since 0.1.0
 * @category routers
 */
export const router: HttpRouter.HttpRouter<never, Requirements> = HttpRouter.empty.pipe(
  HttpRouter.get("/healthz", Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }))),
  HttpRouter.get(
    "/metrics",
    Effect.map(Metrics.text, (body) => HttpServerResponse.text(body, { contentType: Metrics.contentType }))
  ),
  HttpRouter.get(
    "/v1/responses",
    Effect.succeed(
      HttpServerResponse.text(
        upgradeRequiredBody("GET /v1/responses needs a WebSocket upgrade; use POST /v1/responses for HTTP mode."),
        { status: 426, contentType: "application/json" }
      )
    )
  ),
  HttpRouter.post("/v1/responses", createResponse),
  HttpRouter.get("/v1/responses/:id", retrieveResponse)
)

/**
 * The browser-facing policy of a gateway (`BrowserGuard`) from its configuration and authentication.
 *
 * @since 0.1.0
 * @category constructors
 */
export const guardPolicy = (config: GatewayConfigShape, auth: AuthShape): BrowserGuard.Policy => ({
  allowedOrigins: config.allowedOrigins,
  allowedHosts: config.allowedHosts,
  listenHost: config.host,
  openAuth: auth.open === true
})

/**
 * The gateway's HTTP app: {@link router} behind `BrowserGuard` (a foreign `Origin` or, while authentication is
 * allow-all, a foreign `Host` gets 403 before any route runs).
 *
 * @since 0.1.0
 * @category routers
 */
export const app: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  RouteNotFound,
  Requirements | HttpServerRequest.HttpServerRequest
> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const policy = guardPolicy(yield* GatewayConfig, yield* Auth)
  const refused = BrowserGuard.check(policy, { origin: request.headers["origin"], host: request.headers["host"] })
  if (refused !== undefined) return errorResponse(refused)
  return yield* router
})
