/**
 * A socket position: holds the live multiplexer, dials a new one when the old one died, rotates it (between
 * turns) when it is too old or the server asked, and hands out lane names to the sessions pinned to it.
 *
 * @internal
 */
import type * as Transport from "@loopwire/transport/Transport"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { ClientConfig } from "../ClientConfig.js"
import { ResponsesError, retryAfterMillis } from "../ResponsesError.js"
import * as Mux from "./mux.js"

/** @internal */
export interface Slot {
  readonly index: number
  readonly config: ClientConfig
  /** The live multiplexer, dialling (once, shared) if there is none or it is too old. */
  readonly get: Effect.Effect<Mux.Mux, ResponsesError>
  /** Retires generation `generation` if it is still current (next `get` dials a fresh socket). */
  readonly rotate: (generation: number) => Effect.Effect<void>
  /** Drops generation `generation` if it is still current. */
  readonly invalidate: (generation: number, error: ResponsesError) => Effect.Effect<void>
  readonly current: () => Mux.Mux | undefined
  /** Sessions pinned here. */
  sessions: number
  /** Lane names released by ended sessions, reused first (a connection counts distinct names). */
  readonly freeLanes: Array<string>
  nextLane: number
  /** Sockets dialled so far. */
  readonly dials: () => number
}

/** @internal */
export const connectError = (error: Transport.TransportError, nowMillis: number): ResponsesError => {
  const retryAfter = retryAfterMillis(error.headers, nowMillis)
  return new ResponsesError({
    reason: "Connect",
    message: error.message,
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(retryAfter !== undefined ? { retryAfterMillis: retryAfter } : {}),
    ...(error.body !== undefined ? { body: error.body } : {})
  })
}

/** @internal */
export const make = (options: {
  readonly index: number
  readonly config: ClientConfig
  readonly transport: Transport.TransportShape
  readonly onEvent?: ((event: Mux.SocketEvent) => void) | undefined
}): Effect.Effect<Slot, never, Scope.Scope> =>
  Effect.gen(function*() {
    const parent = yield* Effect.scope
    const lock = yield* Effect.makeSemaphore(1)
    const { config } = options
    let current: { readonly mux: Mux.Mux; readonly scope: Scope.CloseableScope } | undefined
    const retiring = new Set<{ readonly mux: Mux.Mux; readonly scope: Scope.CloseableScope }>()
    let generation = 0
    let dials = 0
    const maxAgeMillis = Duration.toMillis(config.maxAge)

    // Closes the scopes of rotated sockets whose last response has ended.
    const sweep = Effect.suspend(() => {
      const done = [...retiring].filter((e) => !e.mux.isAlive() && e.mux.load() === 0)
      for (const e of done) retiring.delete(e)
      return Effect.forEach(done, (e) => Scope.close(e.scope, Exit.void), { discard: true })
    })

    const dial = Effect.gen(function*() {
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      const gen = ++generation
      dials++
      const open = (extra: Readonly<Record<string, string>>) =>
        options.transport.open(config.url, { headers: { ...config.headers, ...extra } }).pipe(
          Effect.catchAll((e) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(connectError(e, now))))
        )
      const mux = yield* Effect.gen(function*() {
        const connection = yield* open({})
        return yield* Mux.make({
          connection,
          generation: gen,
          maxInFlight: config.maxInFlight,
          maxLanes: config.maxLanes,
          resume: config.resume,
          reopen: open,
          onEvent: options.onEvent
        })
      }).pipe(
        Scope.extend(scope),
        Effect.tapError(() => Scope.close(scope, Exit.void))
      )
      current = { mux, scope }
      return mux
    })

    const locked: Slot["get"] = lock.withPermits(1)(
      Effect.gen(function*() {
        yield* sweep
        const now = yield* Clock.currentTimeMillis
        if (current !== undefined) {
          const c = current
          if (c.mux.isAlive() && now - c.mux.openedAt < maxAgeMillis) return c.mux
          // Dead, or old enough to rotate: retire it (in-flight responses on it finish), dial a fresh one.
          current = undefined
          yield* c.mux.retire
          if (c.mux.load() === 0) yield* Scope.close(c.scope, Exit.void)
          else retiring.add(c)
        }
        return yield* dial
      })
    )

    // A turn's usual case without the lock: a live, young socket and nothing retired to sweep is what the locked
    // path would return as is (`rotate`, `invalidate` and `dial` change `current` synchronously under the lock).
    const get: Slot["get"] = Effect.clockWith((clock) => {
      const c = current
      return c !== undefined && retiring.size === 0 && c.mux.isAlive() &&
          clock.unsafeCurrentTimeMillis() - c.mux.openedAt < maxAgeMillis
        ? Effect.succeed(c.mux)
        : locked
    })

    const rotate = (gen: number) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const c = current
        if (c === undefined || c.mux.generation !== gen) return Effect.void
        current = undefined
        retiring.add(c)
        return Effect.zipRight(c.mux.retire, sweep)
      }))

    const invalidate = (gen: number, error: ResponsesError) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const c = current
        if (c === undefined || c.mux.generation !== gen) return Effect.void
        current = undefined
        return Effect.zipRight(c.mux.kill(error), Scope.close(c.scope, Exit.void))
      }))

    return {
      index: options.index,
      config,
      get,
      rotate,
      invalidate,
      current: () => current?.mux,
      sessions: 0,
      freeLanes: [],
      nextLane: 0,
      dials: () => dials
    }
  })
