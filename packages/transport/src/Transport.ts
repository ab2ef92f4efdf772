/**
 * The `Transport` service: how a `Connection` is opened.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Connection } from "./Connection.js"

/**
 * Why a connection could not be opened.
 *
 * - `Refused`: the server answered the upgrade with an HTTP status other than 101; `status`, `headers` (lower
 *   case) and `body` carry its response (e.g. 401, 426 "use HTTP", 503 with `retry-after`).
 * - `Network`: the connection could not be established (refused, reset, DNS, TLS, bad handshake).
 * - `Timeout`: no completed handshake within the open timeout.
 * - `InvalidUrl`: the URL is not a ws:// or wss:// URL.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@loopwire/transport/TransportError")(
  "TransportError",
  {
    reason: Schema.Literal("Refused", "Network", "Timeout", "InvalidUrl"),
    url: Schema.String,
    status: Schema.optional(Schema.Number),
    headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
    body: Schema.optional(Schema.String),
    message: Schema.String
  }
) {}

/**
 * Options of one `open` call.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenOptions {
  /** Extra handshake headers (e.g. `Authorization: Bearer …`, a resume token). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Subprotocols offered in `Sec-WebSocket-Protocol`. */
  readonly protocols?: ReadonlyArray<string> | undefined
}

/**
 * Opens connections. The connection lives as long as the surrounding `Scope`; closing the scope closes it with
 * 1000.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransportShape {
  readonly open: (url: string, options?: OpenOptions) => Effect.Effect<Connection, TransportError, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Transport extends Context.Tag("@loopwire/transport/Transport")<Transport, TransportShape>() {}
