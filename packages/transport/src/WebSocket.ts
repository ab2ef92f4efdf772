/**
 * The WebSocket `Transport` (client side), on the `ws` library: handshake headers (Authorization), subprotocols,
 * `maxPayload`, permessage-deflate off by default, upgrade response headers and refusals surfaced.
 *
 * @since 0.1.0
 */
import * as Socket from "@effect/platform/Socket"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as NodeTls from "node:tls"
import * as WS from "ws"
import type { Connection, Handshake } from "./Connection.js"
import { DEFAULT_HIGH_WATER_MARK } from "./Connection.js"
import { attachWs, headersOf, lowerCaseKeys } from "./internal/ws.js"
import type { OpenOptions, TransportShape } from "./Transport.js"
import { Transport, TransportError } from "./Transport.js"

/**
 * Default maximum inbound frame size: 16 MiB. A larger frame closes the connection with 1009.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024

/**
 * Most bytes of a refused upgrade's response body kept in `TransportError.body`.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_REFUSAL_BODY = 64 * 1024

/**
 * Options of the WebSocket transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Maximum inbound frame size in bytes (default 16 MiB). */
  readonly maxPayload?: number | undefined
  /** Negotiate permessage-deflate (default false: compression costs memory and CPU for little gain here). */
  readonly perMessageDeflate?: boolean | undefined
  /** Time allowed for the TCP connect and the handshake (default 10 seconds, on the Effect Clock). */
  readonly openTimeout?: Duration.DurationInput | undefined
  /** Outbound high-water mark in bytes (default 1 MiB), see `Connection.DEFAULT_HIGH_WATER_MARK`. */
  readonly highWaterMark?: number | undefined
  /** Inbound high-water mark in bytes (default 4 MiB), see `Connection.DEFAULT_INBOUND_HIGH_WATER_MARK`. */
  readonly inboundHighWaterMark?: number | undefined
  /** Headers sent on every handshake; per-call `open` headers override them. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /**
   * TLS options for `wss://` URLs, passed to `tls.connect` (e.g. `ca` to trust a private or self-signed
   * certificate, a client `cert`/`key`, `servername`). Default: Node's trust store, full verification.
   */
  readonly tls?: TlsOptions | undefined
  /**
   * The `http.Agent` that makes the TCP (or TLS) connection, e.g. an `https-proxy-agent` for a proxy
   * (`HTTPS_PROXY`). Default: a direct connection.
   */
  readonly agent?: import("node:http").Agent | undefined
}

/**
 * The TLS options a `wss://` connection accepts (a subset of `tls.ConnectionOptions`).
 *
 * @since 0.1.0
 * @category models
 */
export type TlsOptions = Pick<
  NodeTls.ConnectionOptions,
  "ca" | "cert" | "key" | "passphrase" | "pfx" | "servername" | "rejectUnauthorized" | "minVersion" | "ciphers"
>

/**
 * The message of a `Refused` `TransportError`.
 *
 * @since 0.1.0
 * @category utils
 */
export const refusalMessage = (url: string, status: number, body: string): string =>
  `upgrade to ${url} refused with HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ""}`

const readBody = (response: import("node:http").IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const finish = () => resolve(Buffer.concat(chunks).toString("utf8"))
    response.on("data", (chunk: Buffer) => {
      if (size < MAX_REFUSAL_BODY) {
        chunks.push(chunk.subarray(0, MAX_REFUSAL_BODY - size))
        size += chunk.length
      }
    })
    response.on("end", finish)
    response.on("error", finish)
    response.on("close", finish)
  })

/**
 * Opens one client connection with `ws`. The connection core is attached before the socket can emit anything,
 * so no frame is lost between `open` and the first read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  url: string,
  openOptions: OpenOptions = {},
  options: Options = {}
): Effect.Effect<Connection, TransportError> =>
  Effect.async<Connection, TransportError>((resume) => {
    const requestHeaders = { ...lowerCaseKeys(options.headers), ...lowerCaseKeys(openOptions.headers) }
    let ws: WS.WebSocket
    try {
      const parsed = new URL(url)
      if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
        throw new Error(`unsupported scheme ${parsed.protocol}`)
      }
      ws = new WS.WebSocket(url, openOptions.protocols ? [...openOptions.protocols] : [], {
        headers: requestHeaders,
        maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
        perMessageDeflate: options.perMessageDeflate ?? false,
        followRedirects: false,
        ...options.tls,
        ...(options.agent !== undefined ? { agent: options.agent } : {})
      })
    } catch (cause) {
      const message = `invalid WebSocket URL ${url}: ${String(cause)}`
      resume(Effect.fail(new TransportError({ reason: "InvalidUrl", url, message })))
      return
    }
    let settled = false
    const settle = (effect: Effect.Effect<Connection, TransportError>) => {
      if (settled) return
      settled = true
      resume(effect)
    }
    const handshake: { -readonly [K in keyof Handshake]: Handshake[K] } = {
      url,
      protocol: "",
      requestHeaders,
      responseHeaders: {}
    }
    const core = attachWs(ws, {
      side: "client",
      handshake,
      highWaterMark: options.highWaterMark,
      inboundHighWaterMark: options.inboundHighWaterMark
    })
    ws.on("upgrade", (response) => {
      handshake.responseHeaders = headersOf(response.headers)
      handshake.remoteAddress = response.socket?.remoteAddress
    })
    ws.on("unexpected-response", (_request, response) => {
      const status = response.statusCode ?? 0
      const headers = headersOf(response.headers)
      readBody(response).then((body) => {
        settle(Effect.fail(
          new TransportError({
            reason: "Refused",
            url,
            status,
            headers,
            body,
            message: refusalMessage(url, status, body)
          })
        ))
        ws.terminate()
      })
    })
    ws.on("error", (error) => {
      if (ws.readyState !== WS.WebSocket.OPEN) {
        const message = `cannot connect to ${url}: ${error.message}`
        settle(Effect.fail(new TransportError({ reason: "Network", url, message })))
      }
    })
    ws.on("close", (code) => {
      const message = `connection to ${url} closed during the handshake (${code})`
      settle(Effect.fail(new TransportError({ reason: "Network", url, message })))
    })
    ws.on("open", () => {
      handshake.protocol = ws.protocol
      settle(Effect.succeed(core.connection))
    })
    return Effect.sync(() => {
      settled = true
      ws.terminate()
    })
  }).pipe(
    Effect.timeoutFail({
      duration: options.openTimeout ?? Duration.seconds(10),
      onTimeout: () =>
        new TransportError({ reason: "Timeout", url, message: `no WebSocket handshake with ${url} in time` })
    })
  )

/**
 * The WebSocket transport. Each opened connection is closed with 1000 when its scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): TransportShape => ({
  open: (url, openOptions) =>
    // The dial itself stays interruptible (open timeout, a caller giving up); an interrupted dial terminates the
    // socket, a completed one is released by closing with 1000.
    Effect.acquireRelease(
      Effect.interruptible(connect(url, openOptions, options)),
      (connection) => connection.close(1000)
    )
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Transport> => Layer.succeed(Transport, make(options))

/**
 * `layer` with its options read from `Config` (`maxPayload`, `perMessageDeflate`, `openTimeout`,
 * `highWaterMark`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (config: {
  readonly maxPayload?: Config.Config<number> | undefined
  readonly perMessageDeflate?: Config.Config<boolean> | undefined
  readonly openTimeout?: Config.Config<Duration.Duration> | undefined
  readonly highWaterMark?: Config.Config<number> | undefined
}): Layer.Layer<Transport, ConfigError.ConfigError> =>
  Layer.effect(
    Transport,
    Effect.map(
      Config.all({
        maxPayload: config.maxPayload ?? Config.succeed(DEFAULT_MAX_PAYLOAD),
        perMessageDeflate: config.perMessageDeflate ?? Config.succeed(false),
        openTimeout: config.openTimeout ?? Config.succeed(Duration.seconds(10)),
        highWaterMark: config.highWaterMark ?? Config.succeed(DEFAULT_HIGH_WATER_MARK)
      }),
      make
    )
  )

/**
 * A `@effect/platform` `Socket.WebSocketConstructor` built on `ws` that sends the given handshake headers and
 * leaves permessage-deflate off — for code that wants `@effect/platform`'s `Socket` directly (the stock Node
 * constructor cannot send headers).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebSocketConstructor = (options: Options = {}): Layer.Layer<Socket.WebSocketConstructor> =>
  Layer.succeed(
    Socket.WebSocketConstructor,
    (url, protocols) =>
      new WS.WebSocket(url, protocols, {
        headers: lowerCaseKeys(options.headers),
        maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
        perMessageDeflate: options.perMessageDeflate ?? false,
        ...options.tls
      }) as unknown as globalThis.WebSocket
  )
