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
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ClientConfig } from "./ClientConfig.js"
import type * as Mux from "./internal/mux.js"
import * as Slot from "./internal/slot.js"
import { ResponsesError } from "./ResponsesError.js"
import type * as Resume from "./Resume.js"

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
    /** Reconnecting after a drop, with a resume token. */
    readonly resuming: boolean
    readonly dials: number
    /** Successful resumes of the current socket. */
    readonly resumes: number
  }>
}

/**
 * What happens to the pool's sockets: a drop (and whether the socket tries to resume), a resume (how many
 * requests were asked for again), a refused or expired resume (its requests take the standard ladder).
 *
 * @since 0.1.0
 * @category models
 */
export type SocketEvent =
  | {
    readonly _tag: "Dropped"
    readonly socket: number
    readonly generation: number
    readonly closeCode: number | undefined
    readonly inFlight: number
    readonly resuming: boolean
  }
  | {
    readonly _tag: "Resumed"
    readonly socket: number
    readonly generation: number
    readonly requests: number
    readonly attempts: number
    readonly downMillis: number
  }
  | {
    readonly _tag: "ResumeRefused"
    readonly socket: number
    readonly generation: number
    readonly reason: Resume.RefusalReason
    readonly requests: number
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
  /** Socket events from now on (drops, resumes, refusals). */
  readonly events: Stream.Stream<SocketEvent>
  /** Subscribes before acting, so no event is missed. */
  readonly subscribe: Effect.Effect<Stream.Stream<SocketEvent>, never, Scope.Scope>
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
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<SocketEvent>(), PubSub.shutdown)
    const slots = yield* Effect.forEach(
      Array.from({ length: size }, (_, i) => i),
      (index) =>
        Slot.make({
          index,
          config,
          transport,
          onEvent: (event: Mux.SocketEvent) => void pubsub.unsafeOffer({ ...event, socket: index })
        })
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
        resuming: s.current()?.isResuming() ?? false,
        dials: s.dials(),
        resumes: s.current()?.resumes() ?? 0
      }))
    }))

    return {
      config,
      size,
      sessionsPerSocket,
      acquire,
      primary: slots[0]!,
      stats,
      events: Stream.fromPubSub(pubsub),
      subscribe: Effect.map(PubSub.subscribe(pubsub), (q) => Stream.fromQueue(q))
    }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: ClientConfig,
  options?: Options
): Layer.Layer<ConnectionPool, never, Transport.Transport> => Layer.scoped(ConnectionPool, make(config, options))
