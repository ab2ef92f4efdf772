import type * as Http from "node:http"
import type * as WS from "ws"
import type { Handshake } from "../Connection.js"
import { type Core, unsafeMakeCore } from "./core.js"

/** @internal */
export const headersOf = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

/** @internal */
export const lowerCaseKeys = (headers: Readonly<Record<string, string>> | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (headers) for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value
  return out
}

/**
 * Wires a `ws` WebSocket (client or server side) to a connection core. Must be called in the same tick the socket
 * is created / accepted so no event is missed. Listeners stay attached for the socket's life, including an
 * `'error'` listener, so a socket error never becomes an uncaught exception.
 * @internal
 */
export const attachWs = (ws: WS.WebSocket, options: {
  readonly id?: string | undefined
  readonly side: "client" | "server"
  readonly handshake: Handshake
  readonly highWaterMark?: number | undefined
  readonly inboundHighWaterMark?: number | undefined
}): Core => {
  const core = unsafeMakeCore({
    ...options,
    driver: {
      send: (frame, done) => ws.send(frame, done),
      close: (code, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
      ping: () => ws.ping(),
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      // `ws` corks the socket around each frame it writes; an outer cork makes a batch one write.
      cork: () => (ws as unknown as { readonly _socket?: { cork(): void } })._socket?.cork(),
      uncork: () => (ws as unknown as { readonly _socket?: { uncork(): void } })._socket?.uncork()
    }
  })
  ws.on("message", (data, isBinary) => {
    if (isBinary) return core.onBinary()
    core.onFrame(
      Buffer.isBuffer(data)
        ? data.toString("utf8")
        : Array.isArray(data)
        ? Buffer.concat(data).toString("utf8")
        : Buffer.from(data).toString("utf8")
    )
  })
  ws.on("pong", core.onActivity)
  ws.on("ping", core.onActivity)
  ws.on("error", (error: Error & { code?: string }) => {
    if (error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
      core.onError("MessageTooLarge", `connection ${core.connection.id}: ${error.message} (closed with 1009)`, 1009)
    } else {
      core.onError("Network", `connection ${core.connection.id}: ${error.message}`)
    }
  })
  ws.on("close", (code, reason) => core.onClose(code, reason.toString("utf8")))
  return core
}
