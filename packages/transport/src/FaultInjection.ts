/**
 * Fault injection: wraps any `Transport` (or one `Connection`) and misbehaves on purpose, deterministically
 * from a seed — cut after N frames or at a byte offset in either direction, delay frames, refuse the upgrade
 * with an HTTP status, black-hole (stop delivering without closing).
 *
 * A cut is `terminate` on the wrapped connection: over real sockets the TCP connection is destroyed, in memory
 * both ends are dropped, so both sides see exactly what a network drop looks like (1006, `Dropped`).
 *
 * Directions are relative to the wrapped side: `outbound` = frames this side sends, `inbound` = frames it
 * receives.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import type { Connection } from "./Connection.js"
import { ConnectionError } from "./Connection.js"
import { byteLength } from "./internal/core.js"
import type { TransportShape } from "./Transport.js"
import { Transport, TransportError } from "./Transport.js"
import type { Handler, UpgradeRequest } from "./Upgrade.js"
import { accept, reject } from "./Upgrade.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Direction = "inbound" | "outbound"

/**
 * The fault plan of one connection. Every field is optional; an empty plan passes everything through.
 *
 * - `cutAfterFrames`: after `frames` frames have passed in `direction`, the next one is lost and the connection
 *   is cut at that moment (inbound: right after the `frames`-th is delivered). `frames: 0` cuts on the first.
 * - `cutAtByte`: counting UTF-8 bytes of frames in `direction`, the frame that would pass `offset` is lost and
 *   the connection is cut (frames ending at or before `offset` pass).
 * - `delay`: each frame in `direction` (default both) waits a duration drawn uniformly from [min, max] with the
 *   seeded generator; order is kept. Runs on the Effect `Clock` (use `TestClock` in tests).
 * - `refuse`: `open` fails with a `Refused` `TransportError` carrying this status/body/headers, without dialing.
 * - `blackHoleAfterFrames`: after `frames` frames in `direction`, frames in that direction are silently dropped
 *   and `ping` never completes; the connection stays open (until a heartbeat or the peer gives up).
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  readonly cutAfterFrames?: { readonly direction: Direction; readonly frames: number } | undefined
  readonly cutAtByte?: { readonly direction: Direction; readonly offset: number } | undefined
  readonly delay?: {
    readonly direction?: Direction | "both" | undefined
    readonly min: Duration.DurationInput
    readonly max: Duration.DurationInput
  } | undefined
  readonly refuse?: {
    readonly status: number
    readonly body?: string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  } | undefined
  readonly blackHoleAfterFrames?: { readonly direction: Direction; readonly frames: number } | undefined
}

/**
 * The faults of each connection opened through a wrapped transport: one plan for all, or a plan per open
 * (`index` counts opens from 0, so "cut the first connection, leave the reconnect alone" is expressible).
 *
 * @since 0.1.0
 * @category models
 */
export type Plan = Faults | ((index: number) => Faults)

/**
 * Options of a wrapper.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Seed of the generator behind `delay` (and `random`); the same seed gives the same run. Default 0. */
  readonly seed?: number | string | undefined
}

/**
 * What happened on a wrapped connection (for assertions and logs).
 *
 * @since 0.1.0
 * @category models
 */
export interface Counters {
  readonly inboundFrames: number
  readonly outboundFrames: number
  readonly inboundBytes: number
  readonly outboundBytes: number
  /** Frames swallowed by a black hole, per direction. */
  readonly inboundDropped: number
  readonly outboundDropped: number
  readonly cut: boolean
}

/**
 * A connection with faults, and its counters.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultyConnection extends Connection {
  readonly counters: () => Counters
}

const toMillis = (input: Duration.DurationInput): number => Duration.toMillis(Duration.decode(input))

/**
 * Wraps one connection with a fault plan. The generator is seeded with `seed` (default 0).
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrapConnection = (
  connection: Connection,
  faults: Faults,
  options: Options = {}
): FaultyConnection => {
  const random = Random.make(options.seed ?? 0)
  const counters = {
    inboundFrames: 0,
    outboundFrames: 0,
    inboundBytes: 0,
    outboundBytes: 0,
    inboundDropped: 0,
    outboundDropped: 0,
    cut: false
  }
  const hole = faults.blackHoleAfterFrames
  const blackHoled = {
    inbound: hole?.direction === "inbound" && hole.frames <= 0,
    outbound: hole?.direction === "outbound" && hole.frames <= 0
  }

  const cut = Effect.suspend(() => {
    counters.cut = true
    return connection.terminate
  })

  const delayFor = (direction: Direction): Effect.Effect<void> => {
    const delay = faults.delay
    if (!delay || (delay.direction !== undefined && delay.direction !== "both" && delay.direction !== direction)) {
      return Effect.void
    }
    const min = toMillis(delay.min)
    const max = Math.max(min, toMillis(delay.max))
    return random.nextIntBetween(min, max + 1).pipe(
      Effect.flatMap((millis) => millis > 0 ? Effect.sleep(Duration.millis(millis)) : Effect.void)
    )
  }

  const drop = (direction: Direction): "drop" => {
    if (direction === "inbound") counters.inboundDropped++
    else counters.outboundDropped++
    return "drop"
  }

  // Decides the fate of the next frame in `direction`: "pass", "drop" (black hole), "cut", or "closed" (already
  // cut: let the wrapped connection report it).
  const admit = (direction: Direction, frame: string): "pass" | "drop" | "cut" | "closed" => {
    if (counters.cut) return "closed"
    if (blackHoled[direction]) return drop(direction)
    const frames = direction === "inbound" ? counters.inboundFrames : counters.outboundFrames
    const bytes = direction === "inbound" ? counters.inboundBytes : counters.outboundBytes
    const hole = faults.blackHoleAfterFrames
    if (hole && hole.direction === direction && frames >= hole.frames) {
      blackHoled[direction] = true
      return drop(direction)
    }
    const afterFrames = faults.cutAfterFrames
    if (afterFrames && afterFrames.direction === direction && frames >= afterFrames.frames) return "cut"
    const atByte = faults.cutAtByte
    const size = byteLength(frame)
    if (atByte && atByte.direction === direction && bytes + size > atByte.offset) return "cut"
    if (direction === "inbound") {
      counters.inboundFrames++
      counters.inboundBytes += size
    } else {
      counters.outboundFrames++
      counters.outboundBytes += size
    }
    return "pass"
  }

  // After an inbound frame is delivered, cut at once if it was the last one allowed (nothing else may arrive).
  const cutAfterDelivery = (): boolean => {
    const afterFrames = faults.cutAfterFrames
    return afterFrames !== undefined && afterFrames.direction === "inbound" &&
      counters.inboundFrames >= afterFrames.frames && !counters.cut
  }

  const send = (frame: string): Effect.Effect<void, ConnectionError> =>
    Effect.zipRight(
      delayFor("outbound"),
      Effect.suspend(() => {
        switch (admit("outbound", frame)) {
          case "pass":
          case "closed":
            return connection.send(frame)
          case "drop":
            return Effect.void
          case "cut":
            // A real drop loses the frame silently; the error shows up on the next use.
            return cut
        }
      })
    )

  const frames: Stream.Stream<string, ConnectionError> = Stream.unwrap(Effect.sync(() => {
    if (faults.cutAfterFrames?.direction === "inbound" && faults.cutAfterFrames.frames === 0) {
      return Stream.fromEffect(cut).pipe(Stream.drain, Stream.concat(connection.frames))
    }
    return connection.frames
  })).pipe(
    Stream.mapEffect((frame) =>
      Effect.zipRight(
        delayFor("inbound"),
        Effect.sync(() => admit("inbound", frame))
      ).pipe(
        Effect.flatMap((fate) =>
          fate === "pass"
            ? (cutAfterDelivery() ? Effect.as(cut, [frame]) : Effect.succeed([frame]))
            : fate === "cut" || fate === "closed"
            ? Effect.as(cut, [])
            : Effect.succeed([])
        )
      )
    ),
    Stream.flattenIterables
  )

  const ping: Effect.Effect<void, ConnectionError> = Effect.suspend(() =>
    blackHoled.inbound || blackHoled.outbound || counters.cut
      ? Effect.flatMap(connection.closed, (info) =>
        Effect.fail(
          new ConnectionError({
            reason: "Closed",
            connectionId: connection.id,
            code: info.code,
            message: `connection ${connection.id} is closed (${info.code})`
          })
        ))
      : connection.ping
  )

  return {
    ...connection,
    send,
    frames,
    ping,
    counters: () => ({ ...counters })
  }
}

/**
 * Wraps a transport: each `open` gets the plan's faults (`refuse` fails before dialing). The seed of the n-th
 * connection is derived from `seed` and n, so a run is reproducible.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = (transport: TransportShape, plan: Plan, options: Options = {}): TransportShape => {
  let opens = 0
  return {
    open: (url, openOptions) =>
      Effect.suspend(() => {
        const index = opens++
        const faults = typeof plan === "function" ? plan(index) : plan
        if (faults.refuse) {
          const { body = "", headers = {}, status } = faults.refuse
          return Effect.fail(
            new TransportError({
              reason: "Refused",
              url,
              status,
              headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
              body,
              message: `upgrade to ${url} refused with HTTP ${status} (fault injection)`
            })
          )
        }
        return Effect.map(
          transport.open(url, openOptions),
          (connection) => wrapConnection(connection, faults, { seed: `${options.seed ?? 0}:${index}` })
        )
      })
  }
}

/**
 * Wraps a server's `Upgrade.Handler` (for `WebSocketServer` or `Memory.makeServer`): the n-th upgrade gets the
 * plan's faults, applied to the server side of the connection (`outbound` = what the server sends). `refuse`
 * answers the upgrade with that HTTP status before any WebSocket exists — over real sockets the client gets a
 * real HTTP refusal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrapHandler = <R>(handler: Handler<R>, plan: Plan, options: Options = {}): Handler<R> => {
  let upgrades = 0
  const assigned = new WeakMap<UpgradeRequest, { readonly faults: Faults; readonly index: number }>()
  return {
    onUpgrade: (request) =>
      Effect.suspend(() => {
        const index = upgrades++
        const faults = typeof plan === "function" ? plan(index) : plan
        assigned.set(request, { faults, index })
        if (faults.refuse) {
          return Effect.succeed(reject(faults.refuse.status, faults.refuse.body ?? "", faults.refuse.headers ?? {}))
        }
        return handler.onUpgrade ? handler.onUpgrade(request) : Effect.succeed(accept())
      }),
    handle: (connection, request) => {
      const entry = assigned.get(request)
      return handler.handle(
        entry === undefined
          ? connection
          : wrapConnection(connection, entry.faults, { seed: `${options.seed ?? 0}:${entry.index}` }),
        request
      )
    }
  }
}

/**
 * A layer wrapping the `Transport` below it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (plan: Plan, options: Options = {}): Layer.Layer<Transport, never, Transport> =>
  Layer.effect(Transport, Effect.map(Transport, (transport) => wrap(transport, plan, options)))

/**
 * A reproducible random plan: from `seed`, picks one fault among a cut after N frames (N < `maxFrames`) in a
 * random direction, a cut at a random byte offset (< `maxBytes`), or a black hole after N frames. The same seed
 * always gives the same plan.
 *
 * @since 0.1.0
 * @category constructors
 */
export const random = (seed: number | string, options: {
  readonly maxFrames?: number | undefined
  readonly maxBytes?: number | undefined
  readonly kinds?: ReadonlyArray<"cutAfterFrames" | "cutAtByte" | "blackHoleAfterFrames"> | undefined
} = {}): Faults => {
  const generator = Random.make(seed)
  const kinds = options.kinds ?? ["cutAfterFrames", "cutAtByte", "blackHoleAfterFrames"]
  return Effect.runSync(Effect.gen(function*() {
    const kind = kinds[yield* generator.nextIntBetween(0, kinds.length)]!
    const direction: Direction = (yield* generator.nextBoolean) ? "inbound" : "outbound"
    switch (kind) {
      case "cutAfterFrames":
        return { cutAfterFrames: { direction, frames: yield* generator.nextIntBetween(0, options.maxFrames ?? 32) } }
      case "cutAtByte":
        return { cutAtByte: { direction, offset: yield* generator.nextIntBetween(0, options.maxBytes ?? 4096) } }
      case "blackHoleAfterFrames":
        return {
          blackHoleAfterFrames: { direction, frames: yield* generator.nextIntBetween(0, options.maxFrames ?? 32) }
        }
    }
  }))
}
