/**
 * Idle timeout and maximum age: a connection should be replaced before the server's own limit (OpenAI closes
 * WebSocket-mode connections at 60 minutes), and may be closed when unused.
 *
 * `deadline` only signals (so a client can rotate between responses); `start` / `layer` close the connection
 * with 1000 and a `rotate:` reason when the deadline comes.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Connection, ConnectionError } from "./Connection.js"
import { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Rotate this long after the connection opened (default 55 minutes, for a 60-minute server limit). */
  readonly maxAge?: Duration.DurationInput | undefined
  /** Rotate after this long without a frame in either direction (default: none). */
  readonly idleTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_AGE = Duration.minutes(55)

/**
 * Why a connection is due for rotation.
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = "MaxAge" | "Idle"

/**
 * The close reasons written by `start` (with code 1000), so a supervisor can tell a rotation from a peer close.
 *
 * @since 0.1.0
 * @category constants
 */
export const CloseReasons: Readonly<Record<Reason, string>> = {
  MaxAge: "rotate: max age",
  Idle: "rotate: idle"
}

/**
 * A connection whose traffic is observed for the idle timer, and the deadline that completes with the reason
 * the connection is due for rotation (never, if it closes first — then it waits forever).
 *
 * @since 0.1.0
 * @category models
 */
export interface Watched {
  readonly connection: Connection
  readonly deadline: Effect.Effect<Reason>
}

/**
 * Watches a connection: the returned connection must be used instead of the original so frames reset the idle
 * timer. Time is the Effect `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const watch = (connection: Connection, options: Options = {}): Effect.Effect<Watched> =>
  Effect.gen(function*() {
    const maxAge = Duration.decode(options.maxAge ?? DEFAULT_MAX_AGE)
    const idle = options.idleTimeout === undefined ? undefined : Duration.decode(options.idleTimeout)
    let lastActivity = yield* Clock.currentTimeMillis
    const touch = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => { lastActivity = now }))

    const age: Effect.Effect<Reason> = Effect.as(Effect.sleep(maxAge), "MaxAge" as const)
    const idleLoop: Effect.Effect<Reason> = idle === undefined ? Effect.never : Effect.gen(function*() {
      const idleMillis = Duration.toMillis(idle)
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const remaining = lastActivity + idleMillis - now
        if (remaining <= 0) return "Idle" as const
        yield* Effect.sleep(Duration.millis(remaining))
      }
    })

    const watched: Connection = {
      ...connection,
      send: (frame: string): Effect.Effect<void, ConnectionError> => Effect.zipRight(connection.send(frame), touch),
      frames: connection.frames.pipe(Stream.tap(() => touch))
    }
    // Once the connection has closed there is nothing to rotate: the deadline never comes.
    const deadline = Effect.raceFirst(
      Effect.map(Effect.raceFirst(age, idleLoop), Option.some),
      Effect.as(connection.closed, Option.none<Reason>())
    ).pipe(Effect.flatMap(Option.match({ onNone: () => Effect.never, onSome: Effect.succeed })))
    return { connection: watched, deadline }
  })

/**
 * Watches a connection and closes it with 1000 and `CloseReasons[reason]` when it is due, for the life of the
 * scope. Returns the connection to use.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (connection: Connection, options: Options = {}): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const watched = yield* watch(connection, options)
    yield* Effect.forkScoped(
      Effect.flatMap(watched.deadline, (reason) => connection.close(1000, CloseReasons[reason]))
    )
    return watched.connection
  })

/**
 * A layer wrapping the `Transport` below it: every opened connection is rotated by `start`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Transport, never, Transport> =>
  Layer.effect(
    Transport,
    Effect.map(Transport, (transport) =>
      Transport.of({
        open: (url, openOptions) =>
          Effect.flatMap(transport.open(url, openOptions), (connection) => start(connection, options))
      }))
  )
