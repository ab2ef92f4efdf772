/**
 * An idle timeout for a response that costs one timer per response, not one per event.
 *
 * `Stream.timeoutFail` races every pull against a fresh sleep (a forked fiber and a timer per chunk), which was
 * about a third of the client's CPU per turn in the benchmark. Here the consumer calls `touch` for every event
 * (one clock read) and a single watchdog, raced once against the whole consumption, sleeps until the deadline and
 * re-arms while events arrive.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * Runs `consume(touch)`; fails with `onIdle()` (interrupting it) when `timeout` passes without a `touch` (counted
 * from the start), as `Stream.timeoutFail` on the consumed stream would. `alive`, when given, is another sign of
 * life (e.g. the socket's last answered ping): the timeout runs from the later of the two, so a peer that answers
 * pings is not idle while it sends nothing else. It is read only when the deadline comes.
 *
 * @internal
 */
export const failWhenIdle = <A, E, R, E2>(
  consume: (touch: () => void) => Effect.Effect<A, E, R>,
  onIdle: () => E2,
  timeout: Duration.DurationInput,
  alive?: (() => number) | undefined
): Effect.Effect<A, E | E2, R> =>
  Effect.clockWith((clock) => {
    const millis = Duration.toMillis(Duration.decode(timeout))
    let last = clock.unsafeCurrentTimeMillis()
    const watchdog: Effect.Effect<never, E2> = Effect.suspend(() => {
      const since = alive === undefined ? last : Math.max(last, alive())
      const wait = since + millis - clock.unsafeCurrentTimeMillis()
      return wait <= 0 ? Effect.fail(onIdle()) : Effect.zipRight(Effect.sleep(Duration.millis(wait)), watchdog)
    })
    return Effect.raceFirst(
      consume(() => {
        last = clock.unsafeCurrentTimeMillis()
      }),
      watchdog
    )
  })
