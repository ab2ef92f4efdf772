/**
 * Heartbeat: ping the peer at an interval; a peer that shows no sign of life (pong or frame) within the timeout
 * is dead, and its connection is cut (`terminate`, so it ends as 1006 and counts as recoverable).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Connection } from "./Connection.js"
import { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Time between pings (default 30 s; below common proxy idle limits of 60–100 s). */
  readonly interval?: Duration.DurationInput | undefined
  /** How long a ping may go unanswered before the peer is declared dead (default 10 s). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_INTERVAL = Duration.seconds(30)

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TIMEOUT = Duration.seconds(10)

/**
 * How a heartbeat ended: the connection closed by itself, or the peer was found dead and the connection cut.
 *
 * @since 0.1.0
 * @category models
 */
export type Result = "Closed" | "DeadPeer"

// When each connection last answered a ping (Clock millis), for whoever must tell a silent peer from a dead one.
const answers = new WeakMap<Connection, number>()

/**
 * When `connection` last answered one of its heartbeat's pings (its `Clock` time in milliseconds), or `undefined`
 * if it never did (or has no heartbeat). A peer that answers pings is alive, however long it sends nothing else:
 * e.g. a model thinking for minutes before its first token.
 *
 * @since 0.1.0
 * @category getters
 */
export const lastAnswerMillis = (connection: Connection): number | undefined => answers.get(connection)

/**
 * Runs the heartbeat until the connection closes or the peer is found dead (then the connection is terminated).
 * Time is the Effect `Clock`; every answered ping is recorded for {@link lastAnswerMillis}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (connection: Connection, options: Options = {}): Effect.Effect<Result> => {
  const interval = options.interval ?? DEFAULT_INTERVAL
  const timeout = options.timeout ?? DEFAULT_TIMEOUT
  const beat: Effect.Effect<Result> = Effect.sleep(interval).pipe(
    Effect.zipRight(connection.ping.pipe(Effect.timeout(timeout), Effect.either)),
    Effect.flatMap((result) => {
      if (result._tag === "Right") {
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          answers.set(connection, now)
          return beat
        })
      }
      return result.left._tag === "TimeoutException"
        ? Effect.as(
          Effect.zipRight(
            Effect.logDebug(`connection ${connection.id}: no answer to ping within ${Duration.format(timeout)}; cut`),
            connection.terminate
          ),
          "DeadPeer" as const
        )
        : Effect.succeed("Closed" as const)
    })
  )
  return Effect.raceFirst(beat, Effect.as(connection.closed, "Closed" as const))
}

/**
 * Starts the heartbeat of a connection in the background for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (connection: Connection, options: Options = {}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.forkScoped(run(connection, options)))

/**
 * A layer wrapping the `Transport` below it: every opened connection gets a heartbeat.
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
          Effect.tap(transport.open(url, openOptions), (connection) => start(connection, options))
      }))
  )
