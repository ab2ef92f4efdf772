/**
 * A pool of N sockets for services that run many conversations at once. Each Session leases one socket (and
 * one lane on it) for its whole life, because the server's continuation cache is connection-local; new sessions
 * go to the least loaded socket; per-socket limits (distinct lanes, in-flight responses) are respected; a dead
 * socket is replaced by a fresh dial on its next use.
 *
 * @since 0.1.0
 */
import * as Transport from "@loopwire/transport/Transport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { ClientConfig } from "./ClientConfig.js"
import * as Slot from "./internal/slot.js"
import { ResponsesError } from "./ResponsesError.js"

/**
 * A session's place in the pool: a socket and a lane (`undefined` = the default lane, when the endpoint has no
 * lanes and the socket is the session's alone).
 *
 * @since 0.1.0
 * @category models
 */
export interface Lease {
  readonly socket: number
  readonly lane: string | undefined
  /** @internal */
  readonly slot: Slot.Slot
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly sockets: ReadonlyArray<{
    readonly socket: number
    readonly sessions: number
    readonly inFlight: number
    readonly connected: boolean
    readonly dials: number
  }>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  readonly config: ClientConfig
  readonly size: number
  /** Sessions per socket: the lane limit with lanes, else 1. */
  readonly sessionsPerSocket: number
  /** Leases a socket and lane for the life of the scope. */
  readonly acquire: Effect.Effect<Lease, ResponsesError, Scope.Scope>
  /** The first socket, used by `ResponsesClient.create`. */
  readonly primary: Slot.Slot
  readonly stats: Effect.Effect<Stats>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ConnectionPool extends Context.Tag("@loopwire/client/ConnectionPool")<ConnectionPool, Shape>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Sockets (default 1). Dialled lazily, on first use. */
  readonly size?: number | undefined
  /** Sessions per socket (default: the lane limit when the endpoint has lanes, else 1). */
  readonly sessionsPerSocket?: number | undefined
}

/**
 * Picks the socket for a new session: fewest sessions, then fewest requests in flight, among sockets with room.
 *
 * @since 0.1.0
 * @category decisions
 */
export const place = (
  sockets: ReadonlyArray<{ readonly sessions: number; readonly load: number }>,
  perSocket: number
): number | undefined => {
  let best: number | undefined
  for (let i = 0; i < sockets.length; i++) {
    const s = sockets[i]!
    if (s.sessions >= perSocket) continue
    const b = best === undefined ? undefined : sockets[best]!
    if (b === undefined || s.sessions < b.sessions || (s.sessions === b.sessions && s.load < b.load)) best = i
  }
  return best
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: ClientConfig,
  options: Options = {}
): Effect.Effect<Shape, never, Scope.Scope | Transport.Transport> =>
  Effect.gen(function*() {
    const transport = yield* Transport.Transport
    const size = Math.max(1, options.size ?? 1)
    const sessionsPerSocket = Math.max(1, options.sessionsPerSocket ?? (config.lanes ? config.maxLanes : 1))
    const slots = yield* Effect.forEach(
      Array.from({ length: size }, (_, i) => i),
      (index) => Slot.make({ index, config, transport })
    )

    const acquire = Effect.acquireRelease(
      Effect.suspend(() => {
        const index = place(slots.map((s) => ({ sessions: s.sessions, load: s.current()?.load() ?? 0 })), sessionsPerSocket)
        if (index === undefined) {
          return Effect.fail(
            new ResponsesError({
              reason: "LaneLimit",
              message: `The pool is full: ${size} socket(s) × ${sessionsPerSocket} session(s).`
            })
          )
        }
        const slot = slots[index]!
        slot.sessions++
        const lane = config.lanes ? (slot.freeLanes.shift() ?? `lw-${slot.nextLane++}`) : undefined
        return Effect.succeed<Lease>({ socket: index, lane, slot })
      }),
      (lease) =>
        Effect.sync(() => {
          lease.slot.sessions--
          if (lease.lane !== undefined) lease.slot.freeLanes.push(lease.lane)
        })
    )

    const stats = Effect.sync((): Stats => ({
      sockets: slots.map((s) => ({
        socket: s.index,
        sessions: s.sessions,
        inFlight: s.current()?.load() ?? 0,
        connected: s.current()?.isAlive() ?? false,
        dials: s.dials()
      }))
    }))

    return { config, size, sessionsPerSocket, acquire, primary: slots[0]!, stats }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: ClientConfig,
  options?: Options
): Layer.Layer<ConnectionPool, never, Transport.Transport> => Layer.scoped(ConnectionPool, make(config, options))
