/**
 * One timer for many deadlines: the heartbeats and idle timeouts of every connection share a single scheduler per
 * `Clock` (so one per process, and one per `TestClock` in tests), instead of a fiber and a timer per connection. A
 * deadline is a few fields in a binary heap; one driver fiber sleeps (on the `Clock`) until the earliest one, runs
 * what is due, and ends when nothing is scheduled.
 *
 * A due callback is plain code run on the driver: it must not block (start an effect with {@link after}, or with
 * the `Runtime` it was given).
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"

/**
 * A scheduled deadline.
 *
 * - `cancel`: removes it (no-op once it ran or was cancelled);
 * - `pending`: whether it has neither run nor been cancelled.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timer {
  readonly cancel: () => void
  readonly pending: () => boolean
}

interface Entry extends Timer {
  at: number
  readonly seq: number
  index: number
  readonly run: () => void
}

/**
 * The scheduler of one `Clock`. Obtain it with {@link wheel}; `unsafeSchedule` from plain code (e.g. a callback of
 * another deadline).
 *
 * @since 0.1.0
 * @category models
 */
export interface Wheel {
  readonly clock: Clock.Clock
  /** A context-free runtime on this wheel's clock, for effects started by due callbacks. */
  readonly runtime: Runtime.Runtime<never>
  /** Schedules `run` at `at` (the clock's milliseconds). */
  readonly unsafeSchedule: (at: number, run: () => void) => Timer
  /** Deadlines scheduled and not yet run or cancelled. */
  readonly size: () => number
}

const less = (a: Entry, b: Entry) => a.at < b.at || (a.at === b.at && a.seq < b.seq)

const makeWheel = (clock: Clock.Clock, runtime: Runtime.Runtime<never>): Wheel => {
  const heap: Array<Entry> = []
  let seq = 0
  // The current driver (a newer one makes an older one exit), when it sleeps until `wakeAt`.
  let generation = 0
  let driver: Fiber.RuntimeFiber<void> | undefined
  let wakeAt = Number.POSITIVE_INFINITY
  let running = false

  const swap = (i: number, j: number) => {
    const a = heap[i]!
    const b = heap[j]!
    heap[i] = b
    heap[j] = a
    a.index = j
    b.index = i
  }
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(heap[i]!, heap[parent]!)) return
      swap(i, parent)
      i = parent
    }
  }
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < heap.length && less(heap[l]!, heap[min]!)) min = l
      if (r < heap.length && less(heap[r]!, heap[min]!)) min = r
      if (min === i) return
      swap(i, min)
      i = min
    }
  }
  const removeAt = (i: number) => {
    const entry = heap[i]!
    const last = heap.pop()!
    if (last !== entry) {
      heap[i] = last
      last.index = i
      down(i)
      up(last.index)
    }
    entry.index = -1
  }

  const stopDriver = () => {
    generation++
    const fiber = driver
    driver = undefined
    wakeAt = Number.POSITIVE_INFINITY
    if (fiber !== undefined) fiber.unsafeInterruptAsFork(FiberId.none)
  }

  const drive = (mine: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (mine !== generation) return Effect.void
      const now = clock.unsafeCurrentTimeMillis()
      running = true
      try {
        while (heap.length > 0 && heap[0]!.at <= now) {
          const entry = heap[0]!
          removeAt(0)
          try {
            entry.run()
          } catch {
            // A callback's bug must not stop everyone else's deadlines.
          }
        }
      } finally {
        running = false
      }
      if (mine !== generation) return Effect.void
      if (heap.length === 0) {
        driver = undefined
        wakeAt = Number.POSITIVE_INFINITY
        return Effect.void
      }
      wakeAt = heap[0]!.at
      return Effect.zipRight(clock.sleep(Duration.millis(wakeAt - now)), drive(mine))
    })

  const startDriver = () => {
    stopDriver()
    const mine = generation
    wakeAt = heap[0]!.at
    const fiber = Runtime.runFork(runtime)(drive(mine))
    // The driver may have finished synchronously (everything due at once, nothing left).
    if (mine === generation && fiber.unsafePoll() === null) driver = fiber
  }

  const unsafeSchedule = (at: number, run: () => void): Timer => {
    const entry: Entry = {
      at,
      seq: seq++,
      index: heap.length,
      run,
      cancel: () => {
        if (entry.index < 0) return
        removeAt(entry.index)
        if (heap.length === 0 && !running) stopDriver()
      },
      pending: () => entry.index >= 0
    }
    heap.push(entry)
    up(entry.index)
    // A running driver looks at the heap again before it sleeps; a sleeping one is replaced by an earlier one.
    if (!running && (driver === undefined || at < wakeAt)) startDriver()
    return entry
  }

  return { clock, runtime, unsafeSchedule, size: () => heap.length }
}

const wheels = new WeakMap<Clock.Clock, Wheel>()

// What the driver keeps of the fiber that first needed the wheel: its default services (the `Clock` among them),
// supervisor (a test's `TestClock` waits for supervised fibers) and loggers; nothing of its context, which would keep
// that fiber's scope and services alive for as long as the wheel runs.
const driverFiberId = FiberId.runtime(0, 0)

const driverRuntime = (refs: FiberRefs.FiberRefs): Runtime.Runtime<never> => {
  let clean = FiberRefs.empty()
  const keep = <A>(ref: FiberRef.FiberRef<A>) => {
    clean = FiberRefs.updateAs(clean, {
      fiberId: driverFiberId,
      fiberRef: ref,
      value: FiberRefs.getOrDefault(refs, ref)
    })
  }
  keep(DefaultServices.currentServices)
  keep(FiberRef.currentSupervisor)
  keep(FiberRef.currentLoggers)
  keep(FiberRef.currentMinimumLogLevel)
  return Runtime.make({ context: Context.empty(), runtimeFlags: Runtime.defaultRuntimeFlags, fiberRefs: clean })
}

/**
 * The wheel of the current fiber's `Clock` (made on first use).
 *
 * @since 0.1.0
 * @category constructors
 */
export const wheel: Effect.Effect<Wheel> = Effect.flatMap(Effect.clock, (clock) => {
  const existing = wheels.get(clock)
  if (existing !== undefined) return Effect.succeed(existing)
  return Effect.map(Effect.getFiberRefs, (refs) => {
    const made = makeWheel(clock, driverRuntime(refs))
    wheels.set(clock, made)
    return made
  })
})

/**
 * Schedules `run` (plain code, run on the wheel's driver) after `delay` on the current fiber's `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = (delay: Duration.DurationInput, run: () => void): Effect.Effect<Timer> =>
  Effect.map(wheel, (w) => w.unsafeSchedule(w.clock.unsafeCurrentTimeMillis() + Duration.toMillis(delay), run))

/**
 * Runs `effect` once `delay` has passed, for the life of the scope: closing the scope first cancels it (and
 * interrupts it when it is already running). The same as `Effect.forkScoped(Effect.delay(effect, delay))`, without
 * a fiber while it waits. The effect runs with the caller's context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const after = <E>(
  delay: Duration.DurationInput,
  effect: Effect.Effect<void, E>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    let cancelRun: Runtime.Cancel<void, E> | undefined
    const timer = yield* schedule(delay, () => {
      cancelRun = Runtime.runCallback(runtime)(effect, { onExit: () => (cancelRun = undefined) })
    })
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        timer.cancel()
        cancelRun?.()
      })
    )
  })
