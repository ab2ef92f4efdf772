/**
 * The server side of an opening handshake: what an upgrade request looks like, and the decision to accept it
 * (with extra 101 response headers) or reject it before the upgrade (with an HTTP status, body and headers).
 * Shared by `WebSocketServer` (real sockets) and `Memory` (in-process), so a gateway runs the same code on both.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { Connection } from "./Connection.js"

/**
 * An upgrade request as seen before the upgrade. Header names are lower case.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpgradeRequest {
  /** The request target as sent (path and query), e.g. `/v1/responses?x=1`. */
  readonly url: string
  /** The path part of `url`. */
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly remoteAddress?: string | undefined
  /** Subprotocols offered by the client. */
  readonly protocols: ReadonlyArray<string>
}

/**
 * Accept the upgrade; `headers` are added to the 101 response, `protocol` picks the subprotocol (default: the
 * first offered, if any).
 *
 * @since 0.1.0
 * @category models
 */
export interface Accept {
  readonly _tag: "Accept"
  readonly headers: Readonly<Record<string, string>>
  readonly protocol?: string | undefined
}

/**
 * Reject the upgrade with an ordinary HTTP response; no WebSocket is created.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reject {
  readonly _tag: "Reject"
  readonly status: number
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
}

/**
 * @since 0.1.0
 * @category models
 */
export type Decision = Accept | Reject

/**
 * @since 0.1.0
 * @category constructors
 */
export const accept = (options: {
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly protocol?: string | undefined
} = {}): Accept => ({
  _tag: "Accept",
  headers: options.headers ?? {},
  ...(options.protocol !== undefined ? { protocol: options.protocol } : {})
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const reject = (
  status: number,
  body = "",
  headers: Readonly<Record<string, string>> = {}
): Reject => ({ _tag: "Reject", status, body, headers })

/**
 * How a server treats upgrades: `onUpgrade` decides before the upgrade (default: accept everything; a failure or
 * defect becomes a 500 rejection), `handle` runs for each accepted connection. The connection is closed with 1000
 * when `handle` ends (1001 if the server shuts down while it runs), so `handle` should live as long as the
 * connection is wanted — typically until `connection.frames` ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handler<R> {
  readonly onUpgrade?: ((request: UpgradeRequest) => Effect.Effect<Decision, unknown, R>) | undefined
  readonly handle: (connection: Connection, request: UpgradeRequest) => Effect.Effect<void, unknown, R>
  /**
   * An upgrade `onUpgrade` accepted whose socket went before the 101 was written (`handle` will not run for it):
   * undo what the decision reserved.
   */
  readonly onAbandoned?: ((request: UpgradeRequest) => Effect.Effect<void, never, R>) | undefined
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * Whether a header name and value can be written to an HTTP head as is (no CR/LF injection).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isValidHeader = (name: string, value: string): boolean => TOKEN.test(name) && FIELD_VALUE.test(value)
