/**
 * The low-level client: `create` puts one `response.create` on a lane of the socket and streams its typed
 * server events until the terminal one. Lanes are multiplexed on one connection with one reader routing events
 * by `stream_id`; the in-flight cap (16) queues on the client; the distinct-lane cap (32) fails fast; `error`
 * frames surface as a typed `ResponsesError` carrying code, status and param.
 *
 * @since 0.1.0
 */
import type * as ClientEvent from "@loopwire/protocol/ClientEvent"
import { invalidStreamIdMessage, isValidStreamId } from "@loopwire/protocol/ClientEvent"
import * as Codec from "@loopwire/protocol/Codec"
import type * as Response from "@loopwire/protocol/Response"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import { isTerminal } from "@loopwire/protocol/ServerEvent"
import type * as Transport from "@loopwire/transport/Transport"
import * as WebSocket from "@loopwire/transport/WebSocket"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ClientConfig from "./ClientConfig.js"
import * as ConnectionPool from "./ConnectionPool.js"
import type * as Slot from "./internal/slot.js"
import { ResponsesError } from "./ResponsesError.js"

/**
 * A create body: every `response.create` field except `type` (added) and `stream_id` (the `lane` option).
 *
 * @since 0.1.0
 * @category models
 */
export type CreateRequest = Omit<ClientEvent.ResponseCreate, "type" | "stream_id">

/**
 * @since 0.1.0
 * @category models
 */
export interface CreateOptions {
  /** The lane (`stream_id`); the default lane when omitted. */
  readonly lane?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  readonly config: ClientConfig.ClientConfig
  /** Streams one response's events, ending after its terminal event (`response.completed|incomplete|failed`). */
  readonly create: (
    request: CreateRequest,
    options?: CreateOptions
  ) => Stream.Stream<ServerEvent.ServerEvent, ResponsesError>
  /** Warms the server's state (`generate: false`) and returns the chainable (empty) response. */
  readonly prewarm: (request: CreateRequest, options?: CreateOptions) => Effect.Effect<Response.Response, ResponsesError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ResponsesClient extends Context.Tag("@loopwire/client/ResponsesClient")<ResponsesClient, Shape>() {}

/**
 * Encodes a `response.create` frame (`type` first, `stream_id` for a named lane).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeCreate = (request: CreateRequest, lane?: string | undefined): string => {
  const { stream_id: _ignored, ...rest } = request as ClientEvent.ResponseCreate
  return Codec.encodeCreate(lane === undefined ? rest : { ...rest, stream_id: lane })
}

/** @internal */
export const validateLane = (
  config: ClientConfig.ClientConfig,
  lane: string | undefined
): Effect.Effect<void, ResponsesError> => {
  if (lane === undefined) return Effect.void
  if (!config.lanes) {
    return Effect.fail(new ResponsesError({ reason: "Invalid", message: "This endpoint has no lanes (stream_id).", streamId: lane }))
  }
  if (!isValidStreamId(lane)) {
    return Effect.fail(
      new ResponsesError({
        reason: "Invalid",
        code: "invalid_stream_id",
        param: "stream_id",
        message: invalidStreamIdMessage,
        streamId: lane
      })
    )
  }
  return Effect.void
}

/** @internal */
export const createOn = (
  slot: Slot.Slot,
  frame: string,
  lane: string | undefined
): Stream.Stream<ServerEvent.ServerEvent, ResponsesError> =>
  Stream.unwrap(Effect.flatMap(slot.get, (mux) => mux.submit(frame, lane)))

/**
 * The response carried by a terminal event, if it is one.
 *
 * @since 0.1.0
 * @category utils
 */
export const terminalResponse = (event: ServerEvent.ServerEvent): Option.Option<Response.Response> =>
  isTerminal(event) && event.type !== "error" && typeof (event as any).response === "object"
    ? Option.some((event as any).response as Response.Response)
    : Option.none()

/**
 * A client over the pool's first socket.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Shape, never, ConnectionPool.ConnectionPool> = Effect.gen(function*() {
  const pool = yield* ConnectionPool.ConnectionPool
  const config = pool.config
  const create: Shape["create"] = (request, options) =>
    Stream.unwrap(
      Effect.map(validateLane(config, options?.lane), () =>
        createOn(pool.primary, encodeCreate(request, options?.lane), options?.lane))
    )
  const prewarm: Shape["prewarm"] = (request, options) =>
    create({ ...request, generate: false }, options).pipe(
      Stream.runLast,
      Effect.flatMap((last) =>
        Option.flatMap(last, terminalResponse).pipe(
          Option.match({
            onNone: () =>
              Effect.fail(new ResponsesError({ reason: "Protocol", message: "The prewarm ended without a response." })),
            onSome: Effect.succeed
          })
        )
      )
    )
  return { config, create, prewarm }
})

/**
 * `ResponsesClient` plus the `ConnectionPool` it runs on (`size` sockets, default 1), over a `Transport`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: ClientConfig.ClientConfig,
  options?: ConnectionPool.Options
): Layer.Layer<ResponsesClient | ConnectionPool.ConnectionPool, never, Transport.Transport> =>
  Layer.effect(ResponsesClient, make).pipe(Layer.provideMerge(ConnectionPool.layer(config, options)))

/**
 * `layer` over the `ws` WebSocket transport (handshake headers, `maxPayload`, no permessage-deflate).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebSocket = (
  config: ClientConfig.ClientConfig,
  options?: ConnectionPool.Options & { readonly webSocket?: WebSocket.Options | undefined }
): Layer.Layer<ResponsesClient | ConnectionPool.ConnectionPool> =>
  layer(config, options).pipe(Layer.provide(WebSocket.layer(options?.webSocket)))

/**
 * As `layer`, reading the configuration (see `ClientConfig.fromConfig`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<ClientConfig.ClientConfig> = ClientConfig.fromConfig,
  options?: ConnectionPool.Options
): Layer.Layer<ResponsesClient | ConnectionPool.ConnectionPool, import("effect/ConfigError").ConfigError, Transport.Transport> =>
  Layer.unwrapEffect(Effect.map(config, (c) => layer(c, options)))
