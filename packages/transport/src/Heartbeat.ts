/**
 * Heartbeat: ping the peer at an interval; a peer that shows no sign of life (pong or frame) within the timeout
 * is dead, and its connection is cut (`terminate`, so it ends as 1006 and counts as recoverable).
 *
 * Every heartbeat of a process is a pair of deadlines on the one `TimerWheel` of its `Clock` (the next ping, then
 * the ping's timeout): no fiber and no timer per connection while it waits; a ping in flight is a short-lived fiber
 * (it ends on the pong, or is interrupted at the timeout).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type { Connection } from "./Connection.js"
import * as TimerWheel from "./TimerWheel.js"
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

// One connection's heartbeat on its wheel: waiting for the next ping (`timer` is that deadline), or pinging (`timer`
// is the ping's timeout, `cancelPing` interrupts the ping's fiber).
const beat = (
  wheel: TimerWheel.Wheel,
  connection: Connection,
  intervalMillis: number,
  timeoutMillis: number,
  timeout: Duration.Duration,
  onEnd: (result: Result) => void
): { readonly stop: () => void; readonly dead: () => boolean } => {
  let timer: TimerWheel.Timer | undefined
  let cancelPing: Runtime.Cancel<void, unknown> | undefined
  let pings = 0
  let ended = false
  let dead = false
  const run = Runtime.runCallback(wheel.runtime)

  const end = (result: Result) => {
    if (ended) return
    ended = true
    timer?.cancel()
    timer = undefined
    const cancel = cancelPing
    cancelPing = undefined
    cancel?.()
    onEnd(result)
  }

  const arm = () => {
    timer = wheel.unsafeSchedule(wheel.clock.unsafeCurrentTimeMillis() + intervalMillis, ping)
  }

  const ping = () => {
    if (ended) return
    const mine = ++pings
    timer = wheel.unsafeSchedule(wheel.clock.unsafeCurrentTimeMillis() + timeoutMillis, () => {
      if (ended || mine !== pings) return
      // No answer in time: the peer is dead. The result is told once the connection is cut.
      dead = true
      const cancel = cancelPing
      cancelPing = undefined
      timer = undefined
      pings++
      cancel?.()
      run(
        Effect.zipRight(
          Effect.logDebug(`connection ${connection.id}: no answer to ping within ${Duration.format(timeout)}; cut`),
          connection.terminate
        ),
        { onExit: () => end("DeadPeer") }
      )
    })
    const cancel = run(connection.ping, {
      onExit: (exit) => {
        if (ended || mine !== pings) return
        pings++
        cancelPing = undefined
        timer?.cancel()
        timer = undefined
        if (Exit.isSuccess(exit)) {
          answers.set(connection, wheel.clock.unsafeCurrentTimeMillis())
          arm()
        } else {
          // The connection closed (or is closing): nothing left to watch.
          end("Closed")
        }
      }
    })
    // Unless the ping was answered (or failed) at once.
    if (mine === pings) cancelPing = cancel
  }

  arm()
  return { stop: () => end("Closed"), dead: () => dead }
}

const millisOf = (input: Duration.DurationInput) => Math.max(0, Duration.toMillis(Duration.decode(input)))

/**
 * Starts the heartbeat of a connection for the life of the scope (closing the scope stops it). It also stops by
 * itself once the connection is found closed (its next ping fails) or its peer dead (then the connection is
 * terminated). Time is the Effect `Clock`; every answered ping is recorded for {@link lastAnswerMillis}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (connection: Connection, options: Options = {}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(startWith(connection, options, () => {}), (b) => Effect.addFinalizer(() => Effect.sync(b.stop)))

/**
 * Starts the heartbeat of a connection without a scope: the returned function stops it (idempotent). For callers
 * that hold no scope per connection; otherwise use {@link start}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeStart = (connection: Connection, options: Options = {}): Effect.Effect<() => void> =>
  Effect.map(startWith(connection, options, () => {}), (b) => b.stop)

const startWith = (
  connection: Connection,
  options: Options,
  onEnd: (result: Result) => void
): Effect.Effect<ReturnType<typeof beat>> =>
  Effect.map(TimerWheel.wheel, (wheel) => {
    const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
    return beat(wheel, connection, millisOf(options.interval ?? DEFAULT_INTERVAL), millisOf(timeout), timeout, onEnd)
  })

/**
 * Runs the heartbeat until the connection closes or the peer is found dead (then the connection is terminated),
 * and tells which. Time is the Effect `Clock`; every answered ping is recorded for {@link lastAnswerMillis}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (connection: Connection, options: Options = {}): Effect.Effect<Result> =>
  Effect.suspend(() => {
    const result = Deferred.unsafeMake<Result>(FiberId.none)
    return Effect.acquireUseRelease(
      startWith(connection, options, (r) => Deferred.unsafeDone(result, Exit.succeed(r))),
      (b) =>
        Effect.raceFirst(
          Deferred.await(result),
          // A close the heartbeat caused (a dead peer cut) is told as such.
          Effect.map(connection.closed, (): Result => b.dead() ? "DeadPeer" : "Closed")
        ),
      (b) => Effect.sync(b.stop)
    )
  })

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
