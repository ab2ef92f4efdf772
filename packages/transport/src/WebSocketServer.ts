/**
 * The server side over real sockets: WebSocket upgrades on the same Node `http.Server` that `@effect/platform`'s
 * `NodeHttpServer` serves, each accepted upgrade turned into a `Connection`.
 *
 * Why not `HttpServerRequest.upgrade`: `@effect/platform-node` upgrades through an internal `ws` server with
 * default options, so neither the 101 response headers nor `maxPayload` can be set. Instead this module owns a
 * `ws.WebSocketServer({ noServer: true })` with our options and claims the upgrades for its paths before the
 * platform's upgrade listener sees them; every other request (and upgrade) still goes through the
 * `@effect/platform` HttpApp.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as NodeContext from "@effect/platform-node/NodeContext"
import type * as Etag from "@effect/platform/Etag"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type { LazyArg } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Net from "node:net"
import type { Duplex } from "node:stream"
import * as WS from "ws"
import type { Connection, Handshake } from "./Connection.js"
import { decide, serveConnection } from "./internal/serve.js"
import { attachWs, headersOf } from "./internal/ws.js"
import type { Handler, Reject, UpgradeRequest } from "./Upgrade.js"
import { isValidHeader } from "./Upgrade.js"
import { DEFAULT_MAX_PAYLOAD } from "./WebSocket.js"

/**
 * The Node `http.Server` shared by `@effect/platform`'s `HttpServer` and the WebSocket upgrades.
 *
 * @since 0.1.0
 * @category tags
 */
export class NodeServer
  extends Context.Tag("@loopwire/transport/WebSocketServer/NodeServer")<NodeServer, Http.Server>()
{}

/**
 * `NodeHttpServer.layer` that also provides the underlying `http.Server` as `NodeServer`, so `layer` can attach
 * WebSocket routes to the same port.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpServer = (
  evaluate: LazyArg<Http.Server>,
  options: Net.ListenOptions
): Layer.Layer<
  HttpPlatform.HttpPlatform | Etag.Generator | NodeContext.NodeContext | HttpServer.HttpServer | NodeServer,
  ServeError
> =>
  Layer.unwrapEffect(Effect.sync(() => {
    const server = evaluate()
    return Layer.merge(NodeHttpServer.layer(() => server, options), Layer.succeed(NodeServer, server))
  }))

/**
 * Options of one WebSocket route.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<R> extends Handler<R> {
  /** The path upgrades are accepted on (exact match, query ignored), e.g. `/v1/responses`. */
  readonly path: string
  /** Maximum inbound frame size in bytes (default 16 MiB); larger frames close the connection with 1009. */
  readonly maxPayload?: number | undefined
  /** Accept permessage-deflate (default false). */
  readonly perMessageDeflate?: boolean | undefined
  /** Outbound high-water mark in bytes per connection (default 1 MiB). */
  readonly highWaterMark?: number | undefined
  /** Inbound high-water mark in bytes per connection (default 4 MiB): reading pauses above it. */
  readonly inboundHighWaterMark?: number | undefined
}

type Route = (request: Http.IncomingMessage, socket: Duplex, head: Buffer) => void

const routesByServer = new WeakMap<Http.Server, Map<string, Route>>()

const pathOf = (url: string | undefined): string => {
  try {
    return new URL(url ?? "/", "http://localhost").pathname
  } catch {
    return ""
  }
}

// Claims upgrade events for registered paths before any other 'upgrade' listener (the platform's) runs.
const routesFor = (server: Http.Server): Map<string, Route> => {
  const existing = routesByServer.get(server)
  if (existing) return existing
  const routes = new Map<string, Route>()
  routesByServer.set(server, routes)
  const emit = server.emit
  server.emit = function(this: Http.Server, event: string | symbol, ...args: Array<any>): boolean {
    if (event === "upgrade") {
      const route = routes.get(pathOf((args[0] as Http.IncomingMessage).url))
      if (route) {
        route(args[0], args[1], args[2])
        return true
      }
    }
    return (emit as (...a: Array<any>) => boolean).apply(this, [event, ...args])
  } as typeof server.emit
  // Node only emits 'upgrade' when someone listens; this listener also answers upgrades no one else handles.
  const unrouted = (_request: Http.IncomingMessage, socket: Duplex) => {
    if (server.listenerCount("upgrade") === 1) {
      socket.on("error", () => socket.destroy())
      writeRejection(socket, { _tag: "Reject", status: 404, body: "not found", headers: {} })
    }
  }
  server.on("upgrade", unrouted)
  return routes
}

/**
 * Writes a plain HTTP response on a not-yet-upgraded socket and ends it.
 *
 * @since 0.1.0
 * @category utils
 */
export const writeRejection = (socket: Duplex, rejection: Reject): void => {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" }
  for (const [name, value] of Object.entries(rejection.headers)) {
    if (isValidHeader(name, value)) headers[name.toLowerCase()] = value
  }
  headers["connection"] = "close"
  headers["content-length"] = String(Buffer.byteLength(rejection.body, "utf8"))
  const status = Number.isInteger(rejection.status) && rejection.status >= 400 && rejection.status <= 599
    ? rejection.status
    : 500
  const head = [`HTTP/1.1 ${status} ${Http.STATUS_CODES[status] ?? "Error"}`]
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`)
  socket.end(head.join("\r\n") + "\r\n\r\n" + rejection.body)
}

const toUpgradeRequest = (request: Http.IncomingMessage): UpgradeRequest => {
  const headers = headersOf(request.headers)
  return {
    url: request.url ?? "/",
    path: pathOf(request.url),
    headers,
    remoteAddress: request.socket.remoteAddress,
    protocols: (headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim()).filter((p) => p.length > 0)
  }
}

/**
 * Serves WebSocket upgrades on `options.path` of a Node `http.Server` for the life of the scope. Accepted
 * upgrades become server-side `Connection`s handed to `options.handle`; `options.onUpgrade` decides first
 * (accept with extra 101 headers, or reject with status/body/headers before any upgrade). Closing the scope
 * stops accepting, interrupts the handlers and closes their connections with 1001.
 *
 * @since 0.1.0
 * @category constructors
 */
export const attach = <R>(
  server: Http.Server,
  options: Options<R>
): Effect.Effect<void, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const extraHeaders = new WeakMap<Http.IncomingMessage, Readonly<Record<string, string>>>()
    const chosenProtocol = new WeakMap<Http.IncomingMessage, string>()
    const wss = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new WS.WebSocketServer({
          noServer: true,
          maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
          perMessageDeflate: options.perMessageDeflate ?? false,
          clientTracking: false,
          handleProtocols: (protocols, request) => {
            const chosen = chosenProtocol.get(request)
            if (chosen !== undefined) return protocols.has(chosen) ? chosen : false
            return protocols.values().next().value ?? false
          }
        })
      ),
      (wss) => Effect.async<void>((resume) => wss.close(() => resume(Effect.void)))
    )
    wss.on("headers", (headers, request) => {
      const extra = extraHeaders.get(request)
      if (extra) {
        for (const [name, value] of Object.entries(extra)) {
          if (isValidHeader(name, value)) headers.push(`${name}: ${value}`)
        }
      }
    })
    wss.on("error", () => {})

    const run = yield* FiberSet.makeRuntime<R>()

    const accept = (
      nodeRequest: Http.IncomingMessage,
      socket: Duplex,
      head: Buffer,
      request: UpgradeRequest,
      headers: Readonly<Record<string, string>>
    ): Effect.Effect<Connection | undefined> =>
      Effect.async<Connection | undefined>((resume) => {
        // The client may have gone while `onUpgrade` ran: then no 'close' event will come.
        if (socket.destroyed || !socket.writable) {
          socket.destroy()
          return resume(Effect.succeed(undefined))
        }
        extraHeaders.set(nodeRequest, headers)
        const onGone = () => resume(Effect.succeed(undefined))
        socket.once("close", onGone)
        try {
          wss.handleUpgrade(nodeRequest, socket, head, (ws) => {
            socket.off("close", onGone)
            const handshake: Handshake = {
              url: request.url,
              protocol: ws.protocol,
              requestHeaders: request.headers,
              responseHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
              remoteAddress: request.remoteAddress
            }
            const core = attachWs(ws, {
              side: "server",
              handshake,
              highWaterMark: options.highWaterMark,
              inboundHighWaterMark: options.inboundHighWaterMark
            })
            resume(Effect.succeed(core.connection))
          })
        } catch {
          socket.destroy()
        }
      })

    const route: Route = (nodeRequest, socket, head) => {
      // ws removes its own listener once upgraded; until then an error must not crash the process.
      socket.on("error", () => socket.destroy())
      const request = toUpgradeRequest(nodeRequest)
      // Plain continuations, no generator: what stays on the fiber's stack for the connection's life is the least.
      run(
        Effect.flatMap(decide(options, request), (decision): Effect.Effect<void, never, R> => {
          if (decision._tag === "Reject") return Effect.sync(() => writeRejection(socket, decision))
          if (decision.protocol !== undefined) chosenProtocol.set(nodeRequest, decision.protocol)
          return Effect.flatMap(
            accept(nodeRequest, socket, head, request, decision.headers),
            (connection): Effect.Effect<void, never, R> =>
              connection !== undefined
                ? serveConnection(options, connection, request)
                : options.onAbandoned !== undefined
                ? options.onAbandoned(request)
                : Effect.void
          )
        }).pipe(Effect.onInterrupt(() => Effect.sync(() => socket.destroy())))
      )
    }

    const routes = routesFor(server)
    if (routes.has(options.path)) {
      return yield* Effect.dieMessage(`WebSocketServer: path ${options.path} is already served`)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => routes.set(options.path, route)),
      () => Effect.sync(() => routes.delete(options.path))
    )
  })

/**
 * `attach` on the `NodeServer` of the context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(options: Options<R>): Effect.Effect<void, never, Scope.Scope | NodeServer | R> =>
  Effect.flatMap(NodeServer, (server) => attach(server, options))

/**
 * A layer serving a WebSocket route on the `NodeServer` (see `layerHttpServer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(options: Options<R>): Layer.Layer<never, never, NodeServer | Exclude<R, Scope.Scope>> =>
  Layer.scopedDiscard(make(options)) as Layer.Layer<never, never, NodeServer | Exclude<R, Scope.Scope>>
