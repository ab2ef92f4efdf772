/**
 * A stream fed by a producer effect, for the per-turn hot path.
 *
 * `Stream.asyncPush` with a `forkScoped` producer builds a scope, a scoped stream and a flattened inner stream per
 * run: on a 2-core machine about three times the CPU of this construction (a mailbox read through one channel,
 * the producer a daemon fiber interrupted when the consumer stops), which mattered with one stream per model turn.
 *
 * @internal
 */
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Stream from "effect/Stream"

/**
 * Runs `produce(emit)` when the stream is run; every `emit` is an element, the producer's success ends the
 * stream and its failure fails it (with the whole cause). A consumer that stops early (or is interrupted)
 * interrupts the producer.
 *
 * @internal
 */
export const fromProducer = <A, E, R>(
  produce: (emit: (a: A) => void) => Effect.Effect<void, E, R>
): Stream.Stream<A, E, R> =>
  Stream.fromChannel(Channel.acquireUseRelease(
    Effect.flatMap(Mailbox.make<A, E>(), (mailbox) =>
      Effect.map(
        // Forked from the uninterruptible acquire: the producer itself must be interruptible (and so must what it
        // forks, such as the losers of a race).
        Effect.forkDaemon(Effect.interruptible(Mailbox.into(produce((a) => {
          mailbox.unsafeOffer(a)
        }), mailbox))),
        (fiber) => ({ mailbox, fiber })
      )),
    ({ mailbox }) => Mailbox.toChannel(mailbox),
    ({ fiber }) => Fiber.interrupt(fiber)
  ))
