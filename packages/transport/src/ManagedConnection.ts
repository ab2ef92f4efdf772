/**
 * A connection that keeps itself alive: it dials through the `Transport`, runs the heartbeat, rotates before the
 * maximum age, and reconnects after recoverable closes with the `ReconnectPolicy`. Its state is a `Stream`:
 * connecting → open → reconnecting(attempt, delay) → … → closed(reason).
 *
 * It does not replay anything: what a reconnect means for in-flight work is the client's business (resume or
 * resend); this module only provides the socket and says what happened.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { CloseInfo, Connection } from "./Connection.js"
import * as Heartbeat from "./Heartbeat.js"
import * as ReconnectPolicy from "./ReconnectPolicy.js"
import * as Rotation from "./Rotation.js"
import { Transport, type TransportError } from "./Transport.js"

/**
 * Why a managed connection ended for good.
 *
 * - `PeerClosed`: the connection closed with a code that must not be retried (1000, 1008, 1009, 3000–4999 …).
 * - `Refused`: the upgrade was refused with a status that must not be retried (401, 403, 426 …), or the URL is
 *   invalid.
 * - `GaveUp`: recoverable failures went on past the policy's attempt budget (or a `Retry-After` was too long).
 * - `Shutdown`: `close` was called or the scope closed.
 *
 * @since 0.1.0
 * @category models
 */
export type ClosedReason =
  | { readonly _tag: "PeerClosed"; readonly info: CloseInfo }
  | { readonly _tag: "Refused"; readonly error: TransportError }
  | { readonly _tag: "GaveUp"; readonly attempts: number; readonly last: ReconnectPolicy.Outcome }
  | { readonly _tag: "Shutdown" }

/**
 * The state of a managed connection.
 *
 * @since 0.1.0
 * @category models
 */
export type State =
  | { readonly _tag: "Connecting"; readonly attempt: number }
  | { readonly _tag: "Open"; readonly connection: Connection }
  | {
    readonly _tag: "Reconnecting"
    readonly attempt: number
    readonly delay: Duration.Duration
    readonly cause: ReconnectPolicy.Outcome
  }
  | { readonly _tag: "Closed"; readonly reason: ClosedReason }

/**
 * `current` on a managed connection that has ended for good.
 *
 * @since 0.1.0
 * @category errors
 */
export class ManagedConnectionError
  extends Schema.TaggedError<ManagedConnectionError>("@loopwire/transport/ManagedConnectionError")(
    "ManagedConnectionError",
    {
      reason: Schema.Literal("PeerClosed", "Refused", "GaveUp", "Shutdown"),
      code: Schema.optional(Schema.Number),
      status: Schema.optional(Schema.Number),
      message: Schema.String
    }
  )
{}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where to dial; an Effect is evaluated on every dial (e.g. to add a resume token). */
  readonly url: string | Effect.Effect<string>
  /** Handshake headers; an Effect is evaluated on every dial. */
  readonly headers?: Readonly<Record<string, string>> | Effect.Effect<Readonly<Record<string, string>>> | undefined
  readonly protocols?: ReadonlyArray<string> | undefined
  /** Reconnect policy (default `ReconnectPolicy.defaultPolicy`). */
  readonly policy?: ReconnectPolicy.Policy | undefined
  /** Heartbeat options, or false to run none (default: 30 s interval, 10 s timeout). */
  readonly heartbeat?: Heartbeat.Options | false | undefined
  /** Rotation options, or false for none (default: max age 55 minutes, no idle timeout). */
  readonly rotation?: Rotation.Options | false | undefined
  /** After a rotation, how long the old connection stays open for work in flight (default 60 s). */
  readonly rotationGrace?: Duration.DurationInput | undefined
  /** A connection that stayed open this long resets the retry count (default 5 s). */
  readonly stableAfter?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ManagedConnection {
  /** The current state, then every change; ends after `Closed`. */
  readonly state: Stream.Stream<State>
  /** The current state, now. */
  readonly get: Effect.Effect<State>
  /** The open connection, waiting through connecting/reconnecting; fails once the managed connection ended. */
  readonly current: Effect.Effect<Connection, ManagedConnectionError>
  /** Replaces the connection now (the old one gets the rotation grace). */
  readonly rotate: Effect.Effect<void>
  /** Ends for good: closes the current connection with `code` (default 1000) and stops reconnecting. */
  readonly close: (code?: number, reason?: string) => Effect.Effect<void>
}

const toError = (reason: ClosedReason): ManagedConnectionError => {
  switch (reason._tag) {
    case "PeerClosed":
      return new ManagedConnectionError({
        reason: "PeerClosed",
        code: reason.info.code,
        message: `connection closed with ${reason.info.code}${reason.info.reason ? ` (${reason.info.reason})` : ""}`
      })
    case "Refused":
      return new ManagedConnectionError({
        reason: "Refused",
        ...(reason.error.status !== undefined ? { status: reason.error.status } : {}),
        message: reason.error.message
      })
    case "GaveUp":
      return new ManagedConnectionError({
        reason: "GaveUp",
        message: `gave up reconnecting after ${reason.attempts} attempts (last: ${describe(reason.last)})`
      })
    case "Shutdown":
      return new ManagedConnectionError({ reason: "Shutdown", message: "the managed connection was shut down" })
  }
}

const describe = (outcome: ReconnectPolicy.Outcome): string =>
  outcome._tag === "Closed"
    ? `close ${outcome.code}`
    : outcome._tag === "Refused"
    ? `HTTP ${outcome.status}`
    : `network error${outcome.message ? `: ${outcome.message}` : ""}`

type Ended =
  | { readonly _tag: "Closed"; readonly info: CloseInfo }
  | { readonly _tag: "Rotate"; readonly reason: string }
  | { readonly _tag: "Stop" }

/**
 * Starts a managed connection for the life of the scope, dialing through the `Transport`. Every timer (heartbeat,
 * rotation, backoff) runs on the Effect `Clock`; jitter is drawn from the Effect `Random`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ManagedConnection, never, Transport | Scope.Scope> =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const policy = options.policy ?? ReconnectPolicy.defaultPolicy
    const stableAfter = Duration.toMillis(Duration.decode(options.stableAfter ?? Duration.seconds(5)))
    const grace = options.rotationGrace ?? Duration.seconds(60)
    const ref = yield* SubscriptionRef.make<State>({ _tag: "Connecting", attempt: 0 })
    const stop = yield* Deferred.make<{ readonly code: number; readonly reason: string }>()
    let rotateNow = yield* Deferred.make<void>()
    const outer = yield* Effect.scope

    const set = (state: State) => SubscriptionRef.set(ref, state)
    const url = typeof options.url === "string" ? Effect.succeed(options.url) : options.url
    const headers = options.headers === undefined
      ? Effect.succeed(undefined)
      : Effect.isEffect(options.headers)
      ? options.headers
      : Effect.succeed(options.headers)

    const finish = (reason: ClosedReason) => set({ _tag: "Closed", reason })

    const loop = Effect.gen(function*() {
      let attempt = 0
      while (true) {
        if (yield* Deferred.isDone(stop)) return yield* finish({ _tag: "Shutdown" })
        yield* set({ _tag: "Connecting", attempt })
        // A child of the outer scope, so an interrupted loop still closes the connection it holds.
        const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
        const dial = Effect.either(
          Effect.gen(function*() {
            const connection = yield* transport.open(yield* url, {
              headers: yield* headers,
              protocols: options.protocols
            })
            if (options.heartbeat !== false) yield* Heartbeat.start(connection, options.heartbeat ?? {})
            const watched = options.rotation === false
              ? { connection, deadline: Effect.never }
              : yield* Rotation.watch(connection, options.rotation ?? {})
            return watched
          }).pipe(Scope.extend(scope))
        )
        // `close` must not wait for a dial in progress.
        const dialed = yield* Effect.raceFirst(
          Effect.map(dial, Option.some),
          Effect.as(Deferred.await(stop), Option.none())
        )
        if (Option.isNone(dialed)) {
          yield* Scope.close(scope, Exit.void)
          return yield* finish({ _tag: "Shutdown" })
        }
        const opened = dialed.value
        let outcome: ReconnectPolicy.Outcome
        if (opened._tag === "Left") {
          yield* Scope.close(scope, Exit.void)
          outcome = ReconnectPolicy.fromTransportError(opened.left, yield* Clock.currentTimeMillis)
          if (!ReconnectPolicy.isRecoverable(outcome, policy)) {
            return yield* finish({ _tag: "Refused", error: opened.left })
          }
        } else {
          const { connection, deadline } = opened.right
          yield* set({ _tag: "Open", connection })
          const openedAt = yield* Clock.currentTimeMillis
          const ended: Ended = yield* Effect.raceAll([
            Effect.map(connection.closed, (info): Ended => ({ _tag: "Closed", info })),
            Effect.map(deadline, (reason): Ended => ({ _tag: "Rotate", reason: Rotation.CloseReasons[reason] })),
            Effect.as(Deferred.await(rotateNow), { _tag: "Rotate", reason: "rotate: requested" } as Ended),
            Effect.as(Deferred.await(stop), { _tag: "Stop" } as Ended)
          ])
          if (ended._tag === "Stop") {
            const { code, reason } = yield* Deferred.await(stop)
            yield* connection.close(code, reason)
            yield* Scope.close(scope, Exit.void)
            return yield* finish({ _tag: "Shutdown" })
          }
          if (ended._tag === "Rotate") {
            if (yield* Deferred.isDone(rotateNow)) rotateNow = yield* Deferred.make<void>()
            // The old connection keeps serving work in flight for the grace period, then closes.
            yield* Effect.sleep(grace).pipe(
              Effect.raceFirst(Effect.asVoid(connection.closed)),
              Effect.zipRight(connection.close(1000, ended.reason)),
              Effect.ensuring(Scope.close(scope, Exit.void)),
              Effect.forkIn(outer)
            )
            attempt = 0
            continue
          }
          yield* Scope.close(scope, Exit.void)
          if ((yield* Clock.currentTimeMillis) - openedAt >= stableAfter) attempt = 0
          outcome = { _tag: "Closed", code: ended.info.code, reason: ended.info.reason }
          if (!ReconnectPolicy.isRecoverable(outcome, policy)) {
            return yield* finish({ _tag: "PeerClosed", info: ended.info })
          }
        }
        attempt++
        const decision = ReconnectPolicy.decide(policy, outcome, attempt, yield* Random.next)
        if (decision._tag === "Stop") {
          return yield* finish({ _tag: "GaveUp", attempts: attempt - 1, last: outcome })
        }
        yield* set({ _tag: "Reconnecting", attempt, delay: decision.delay, cause: outcome })
        const stopped = yield* Effect.raceFirst(
          Effect.as(Effect.sleep(decision.delay), false),
          Effect.as(Deferred.await(stop), true)
        )
        if (stopped) return yield* finish({ _tag: "Shutdown" })
      }
    })

    // Finalizers run in reverse: the loop is interrupted first, then the final state is published.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(SubscriptionRef.get(ref), (state) =>
        state._tag === "Closed" ? Effect.void : finish({ _tag: "Shutdown" }))
    )
    yield* Effect.forkScoped(loop)

    const state = ref.changes.pipe(Stream.takeUntil((s) => s._tag === "Closed"))
    const current = ref.changes.pipe(
      Stream.filter((s) => s._tag === "Open" || s._tag === "Closed"),
      Stream.runHead,
      Effect.flatMap((s) =>
        Option.isSome(s) && s.value._tag === "Open"
          ? Effect.succeed(s.value.connection)
          : Effect.fail(toError(Option.isSome(s) && s.value._tag === "Closed" ? s.value.reason : { _tag: "Shutdown" }))
      )
    )
    return {
      state,
      get: SubscriptionRef.get(ref),
      current,
      rotate: Effect.suspend(() => Deferred.succeed(rotateNow, undefined)).pipe(Effect.asVoid),
      close: (code = 1000, reason = "") =>
        Deferred.succeed(stop, { code, reason }).pipe(
          Effect.zipRight(ref.changes.pipe(Stream.filter((s) => s._tag === "Closed"), Stream.runHead)),
          Effect.asVoid
        )
    }
  })
