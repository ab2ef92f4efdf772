/**
 * What the parts of one multiplexed socket share: its options, its mutable state, and the operations that cross
 * concerns (end it, handle a drop, send what may go out, write a frame). Built once per socket by `mux.ts`.
 *
 * @internal
 */
import type * as Connection from "@loopwire/transport/Connection"
import type * as Clock from "effect/Clock"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ResumePolicy } from "../../ClientConfig.js"
import type * as ConnectionPool from "../../ConnectionPool.js"
import type { ResponsesError } from "../../ResponsesError.js"
import type * as Resume from "../../Resume.js"
import type * as Lanes from "./lanes.js"
import type { Pending } from "./pending.js"

/**
 * What happened to a socket: the pool's `SocketEvent` before the pool adds the socket's index.
 *
 * @internal
 */
export type SocketEvent = ConnectionPool.SocketEvent extends infer E
  ? E extends { readonly socket: number } ? Omit<E, "socket"> : never
  : never

/** @internal */
export interface Options {
  readonly connection: Connection.Connection
  readonly generation: number
  readonly maxInFlight: number
  readonly maxLanes: number
  readonly resume?: ResumePolicy | undefined
  readonly reopen?:
    | ((headers: Readonly<Record<string, string>>) => Effect.Effect<Connection.Connection, ResponsesError, Scope.Scope>)
    | undefined
  readonly onEvent?: ((event: SocketEvent) => void) | undefined
}

/** @internal */
export interface Socket {
  readonly options: Options
  /** The multiplexer's scope: reader, watchdog and reconnect fibers live in it. */
  readonly scope: Scope.Scope
  /** Read synchronously per frame on the hot path (the reader's own Clock: TestClock in tests). */
  readonly clock: Clock.Clock
  readonly lanes: Lanes.Lanes
  dead: ResponsesError | undefined
  retired: boolean
  bytesSent: number
  lastInbound: number
  resumes: number
  /** The live connection (undefined while resuming). */
  current: Connection.Connection | undefined
  /** The live connection's own scope (the first one lives in the multiplexer's). */
  currentScope: Scope.CloseableScope | undefined
  /** What the live connection's 101 offered. */
  offer: Resume.Offer | undefined
  resuming: boolean
  /** Requests are tagged with `loopwire_request_id` (resume is on and the server offered it). */
  readonly tagging: () => boolean
  /** A drop would be resumed (an offer with a grace period). */
  readonly resumableDrop: () => boolean
  /** Ends the socket: every request fails with `error`. */
  readonly die: (error: ResponsesError) => Effect.Effect<void>
  /** The connection ended without the client closing it: resume, or die. Once per connection. */
  readonly lost: (connection: Connection.Connection, error: ResponsesError) => Effect.Effect<void>
  /** Sends what may go out now. */
  readonly pump: () => Effect.Effect<void>
  /** Writes a frame; a failed write is a lost connection. */
  readonly write: (connection: Connection.Connection, frame: string) => Effect.Effect<void>
  /** A retired socket closes once nothing runs. */
  readonly maybeCloseRetired: () => Effect.Effect<void>
  /** Ends a request's wait (once): success, or `error`. */
  readonly settle: (p: Pending, error: ResponsesError | undefined) => void
  readonly startReader: (connection: Connection.Connection) => Effect.Effect<void>
}
