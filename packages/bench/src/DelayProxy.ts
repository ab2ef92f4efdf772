/**
 * A TCP delay proxy on loopback: every byte is forwarded intact and in order, each direction delayed by half of a
 * configured round-trip time, and the TCP handshake's round trip is emulated (client bytes are held until one RTT
 * after accept, as a real client cannot send before its SYN is answered). So a TLS or WebSocket handshake through
 * it costs the round trips it costs on a WAN.
 *
 * Time is the Effect `Clock`: under `TestClock` nothing is forwarded until the clock is advanced, which is how
 * the proxy is tested without wall-time thresholds.
 *
 * Bounded: RTT at most 10 s, a connection cap, and a per-direction buffer cap (the reading side is paused when the
 * delayed bytes in flight exceed it, resumed below half).
 *
 * @since 0.1.0
 */
import * as Net from "node:net"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { BenchError, fromUnknown } from "./BenchError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The plain TCP endpoint to forward to. */
  readonly target: { readonly host: string; readonly port: number }
  /** Added round-trip time in ms (split evenly across the two directions). 0..10000. */
  readonly rttMs: number
  /** Accepted connections at once (default 20,000); more are refused (closed at once). */
  readonly maxConnections?: number | undefined
  /** Delayed bytes in flight per direction before the source is paused (default 16 MiB). */
  readonly maxBufferedBytes?: number | undefined
  /** Emulate the TCP handshake round trip (default true). */
  readonly emulateHandshake?: boolean | undefined
}

/**
 * Counters, for progress and tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly accepted: number
  readonly refused: number
  readonly open: number
  /** Bytes read from clients / written to the target. */
  readonly upReceived: number
  readonly upDelivered: number
  /** Bytes read from the target / written to clients. */
  readonly downReceived: number
  readonly downDelivered: number
}

/**
 * A running delay proxy.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelayProxy {
  readonly host: string
  readonly port: number
  readonly rttMs: number
  readonly stats: Effect.Effect<Stats>
}

/**
 * The delivery deadline (ms) of bytes received at `receivedAt` in one direction: after the connection is "open"
 * (`openAt`, the emulated handshake), plus the one-way delay. Pure, so the schedule is testable alone.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const deliveryTime = (receivedAt: number, openAt: number, oneWayMs: number): number =>
  Math.max(receivedAt, openAt) + oneWayMs

type Item = { readonly chunk: Buffer; readonly at: number } | { readonly end: true; readonly at: number }

/**
 * Start a delay proxy on 127.0.0.1 (ephemeral port), closed with the scope (open connections are destroyed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<DelayProxy, BenchError, Scope.Scope> =>
  Effect.gen(function*() {
    if (!(options.rttMs >= 0 && options.rttMs <= 10_000)) {
      return yield* new BenchError({ reason: "Config", detail: `rttMs must be within 0..10000, got ${options.rttMs}` })
    }
    const oneWay = options.rttMs / 2
    const maxConnections = options.maxConnections ?? 20_000
    const maxBuffered = options.maxBufferedBytes ?? 16 * 1024 * 1024
    const handshakeMs = options.emulateHandshake === false ? 0 : options.rttMs
    const clock = yield* Effect.clock
    const fibers = yield* FiberSet.make()
    const fork = yield* FiberSet.runtime(fibers)<never>()
    const counters = { accepted: 0, refused: 0, open: 0, upReceived: 0, upDelivered: 0, downReceived: 0, downDelivered: 0 }
    const sockets = new Set<Net.Socket>()

    /** One direction: read `from`, deliver to `to` at each chunk's deadline, in order; resolves after the end. */
    const direction = (from: Net.Socket, to: Net.Socket, openAt: number, up: boolean, finished: () => void) => {
      const queue = Effect.runSync(Queue.unbounded<Item>())
      let buffered = 0
      let ended = false
      from.on("data", (chunk: Buffer) => {
        if (up) counters.upReceived += chunk.length
        else counters.downReceived += chunk.length
        buffered += chunk.length
        if (buffered > maxBuffered) from.pause()
        Queue.unsafeOffer(queue, { chunk, at: deliveryTime(clock.unsafeCurrentTimeMillis(), openAt, oneWay) })
      })
      // A half-close (or a close) travels with the same delay as the bytes before it.
      const onEnd = () => {
        if (ended) return
        ended = true
        Queue.unsafeOffer(queue, { end: true, at: deliveryTime(clock.unsafeCurrentTimeMillis(), openAt, oneWay) })
      }
      from.on("end", onEnd)
      from.on("close", onEnd)
      const loop: Effect.Effect<void> = Effect.gen(function*() {
        while (true) {
          const item = yield* Queue.take(queue)
          const now = yield* Clock.currentTimeMillis
          if (item.at > now) yield* Effect.sleep(item.at - now)
          if ("end" in item) {
            if (!to.destroyed) to.end()
            return finished()
          }
          buffered -= item.chunk.length
          if (up) counters.upDelivered += item.chunk.length
          else counters.downDelivered += item.chunk.length
          if (!to.destroyed) to.write(item.chunk)
          if (buffered <= maxBuffered / 2 && from.isPaused()) from.resume()
        }
      })
      return fork(loop)
    }

    const server = Net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
      if (counters.open >= maxConnections) {
        counters.refused++
        client.destroy()
        return
      }
      counters.accepted++
      counters.open++
      const upstream = Net.connect({
        host: options.target.host,
        port: options.target.port,
        noDelay: true,
        allowHalfOpen: true
      })
      sockets.add(client)
      sockets.add(upstream)
      const openAt = clock.unsafeCurrentTimeMillis() + handshakeMs
      let closed = false
      let finishedDirections = 0
      const close = () => {
        if (closed) return
        closed = true
        counters.open--
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
        upFiber.unsafeInterruptAsFork(upFiber.id())
        downFiber.unsafeInterruptAsFork(downFiber.id())
      }
      const finished = () => {
        finishedDirections++
        if (finishedDirections === 2) close()
      }
      const upFiber = direction(client, upstream, openAt, true, finished)
      const downFiber = direction(upstream, client, openAt, false, finished)
      // An error is abrupt: both sides go at once, like a reset.
      client.on("error", close)
      upstream.on("error", close)
    })
    server.on("error", () => {})
    yield* Effect.acquireRelease(
      Effect.async<void, BenchError>((resume) => {
        server.once("error", (error) => resume(Effect.fail(fromUnknown("Listen", "delay proxy")(error))))
        server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address() as Net.AddressInfo
    return {
      host: "127.0.0.1",
      port: address.port,
      rttMs: options.rttMs,
      stats: Effect.sync(() => ({ ...counters }))
    }
  })
