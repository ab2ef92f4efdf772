/**
 * In-process connections: a connected pair, and a `Transport` whose `open` dials an in-process "server" that
 * receives the server-side `Connection`s through the same `Upgrade.Handler` a `WebSocketServer` uses.
 *
 * Frames are delivered synchronously and in order; a close is seen by both sides at once with the same code;
 * `terminate` is seen as 1006 by both; pings are answered at once.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Connection, Handshake } from "./Connection.js"
import { byteLength, type Core, unsafeMakeCore } from "./internal/core.js"
import { decide, serveConnection } from "./internal/serve.js"
import { lowerCaseKeys } from "./internal/ws.js"
import type { TransportShape } from "./Transport.js"
import { Transport, TransportError } from "./Transport.js"
import type { Handler, UpgradeRequest } from "./Upgrade.js"
import { DEFAULT_MAX_PAYLOAD, refusalMessage } from "./WebSocket.js"

/**
 * Options of an in-memory pair.
 *
 * @since 0.1.0
 * @category models
 */
export interface PairOptions {
  readonly clientHandshake?: Partial<Handshake> | undefined
  readonly serverHandshake?: Partial<Handshake> | undefined
  /** Maximum frame size each side accepts (default 16 MiB); larger frames close the pair with 1009. */
  readonly maxPayload?: number | undefined
  readonly highWaterMark?: number | undefined
}

const handshakeOf = (partial: Partial<Handshake> | undefined): Handshake => ({
  url: partial?.url ?? "memory://",
  protocol: partial?.protocol ?? "",
  requestHeaders: partial?.requestHeaders ?? {},
  responseHeaders: partial?.responseHeaders ?? {},
  ...(partial?.remoteAddress !== undefined ? { remoteAddress: partial.remoteAddress } : {})
})

/**
 * A connected client/server pair, built synchronously.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMakePair = (options: PairOptions = {}): readonly [client: Connection, server: Connection] => {
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD
  let client: Core | undefined
  let server: Core | undefined
  const closeBoth = (code: number, reason: string) => {
    server!.onClose(code, reason)
    client!.onClose(code, reason)
  }
  const driverFor = (self: () => Core, peer: () => Core) => ({
    send: (frame: string, done: (error?: Error | null) => void) => {
      if (!self().isClosed() && !peer().isClosed()) {
        if (byteLength(frame) > maxPayload) {
          const id = peer().connection.id
          peer().onError("MessageTooLarge", `connection ${id}: Max payload size exceeded (closed with 1009)`, 1009)
          closeBoth(1009, "")
        } else {
          peer().onFrame(frame)
        }
      }
      done()
    },
    close: (code: number, reason: string) => closeBoth(code, reason),
    terminate: () => closeBoth(1006, ""),
    ping: () => self().onActivity()
  })
  client = unsafeMakeCore({
    side: "client",
    handshake: handshakeOf(options.clientHandshake),
    highWaterMark: options.highWaterMark,
    driver: driverFor(() => client!, () => server!)
  })
  server = unsafeMakeCore({
    side: "server",
    handshake: handshakeOf(options.serverHandshake),
    highWaterMark: options.highWaterMark,
    driver: driverFor(() => server!, () => client!)
  })
  return [client.connection, server.connection] as const
}

/**
 * A connected pair, both ends closed with 1000 when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePair = (
  options: PairOptions = {}
): Effect.Effect<readonly [client: Connection, server: Connection], never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => unsafeMakePair(options)),
    ([client]) => client.close(1000)
  )

const toRequest = (url: string, headers: Record<string, string>, protocols: ReadonlyArray<string>): UpgradeRequest => {
  let path = "/"
  let target = "/"
  try {
    const parsed = new URL(url)
    path = parsed.pathname || "/"
    target = path + parsed.search
  } catch {
    // The URL was validated by the caller; keep the defaults.
  }
  return { url: target, path, headers, remoteAddress: "memory", protocols }
}

/**
 * Options of an in-process server.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions<R> extends Handler<R> {
  readonly maxPayload?: number | undefined
  readonly highWaterMark?: number | undefined
}

/**
 * A `Transport` whose `open` runs `onUpgrade` and, once accepted, hands the server side of a fresh pair to
 * `handle` (in a fiber of this scope) and returns the client side. A rejection fails `open` with a `Refused`
 * `TransportError` carrying the status, headers and body, exactly like a real socket. Any URL is accepted.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeServer = <R>(options: ServerOptions<R>): Effect.Effect<TransportShape, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const run = yield* FiberSet.makeRuntime<R>()
    const context = yield* Effect.context<R>()
    const open: TransportShape["open"] = (url, openOptions) =>
      Effect.gen(function*() {
        try {
          new URL(url)
        } catch {
          return yield* new TransportError({ reason: "InvalidUrl", url, message: `invalid URL ${url}` })
        }
        const headers = lowerCaseKeys(openOptions?.headers)
        const protocols = openOptions?.protocols ?? []
        const request = toRequest(url, headers, protocols)
        const decision = yield* Effect.provide(decide(options, request), context)
        if (decision._tag === "Reject") {
          return yield* new TransportError({
            reason: "Refused",
            url,
            status: decision.status,
            headers: lowerCaseKeys(decision.headers),
            body: decision.body,
            message: refusalMessage(url, decision.status, decision.body)
          })
        }
        const protocol = decision.protocol ?? protocols[0] ?? ""
        const responseHeaders = lowerCaseKeys(decision.headers)
        const [client, server] = yield* Effect.acquireRelease(
          Effect.sync(() =>
            unsafeMakePair({
              clientHandshake: { url, protocol, requestHeaders: headers, responseHeaders },
              serverHandshake: {
                url: request.url,
                protocol,
                requestHeaders: headers,
                responseHeaders,
                remoteAddress: "memory"
              },
              maxPayload: options.maxPayload,
              highWaterMark: options.highWaterMark
            })
          ),
          ([client]) => client.close(1000)
        )
        run(serveConnection(options, server, request))
        return client
      })
    return { open }
  })

/**
 * The in-process `Transport` as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(options: ServerOptions<R>): Layer.Layer<Transport, never, Exclude<R, Scope.Scope>> =>
  Layer.scoped(Transport, makeServer(options)) as Layer.Layer<Transport, never, Exclude<R, Scope.Scope>>
