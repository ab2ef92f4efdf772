/**
 * One multiplexed socket: requests go out on lanes (`stream_id`), one at a time per lane; one reader routes
 * inbound events to the request running on their lane; the in-flight cap is enforced on the client (beyond it,
 * and behind a busy lane, requests wait here, unsent).
 *
 * @internal
 */
import * as Codec from "@loopwire/protocol/Codec"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import { isTerminal } from "@loopwire/protocol/ServerEvent"
import type * as Connection from "@loopwire/transport/Connection"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Stream from "effect/Stream"
import { fromErrorFrame, ResponsesError } from "../ResponsesError.js"

/** @internal */
export interface Pending {
  readonly lane: string
  readonly frame: string
  readonly mailbox: Mailbox.Mailbox<ServerEvent.ServerEvent, ResponsesError>
  sent: boolean
  /** The consumer got its terminal (or error); further events of this response are dropped. */
  settled: boolean
}

/** @internal */
export interface Mux {
  readonly generation: number
  readonly connection: Connection.Connection
  readonly openedAt: number
  /** Sends a `response.create` frame on a lane ("" = default lane) and streams its events to the terminal. */
  readonly submit: (
    frame: string,
    lane: string | undefined
  ) => Effect.Effect<Stream.Stream<ServerEvent.ServerEvent, ResponsesError>, ResponsesError>
  readonly isAlive: () => boolean
  /** Requests sent or waiting. */
  readonly load: () => number
  /** No new requests; closes once the last in-flight response ends. */
  readonly retire: Effect.Effect<void>
  /** Ends now: every pending request fails with `error`. */
  readonly kill: (error: ResponsesError) => Effect.Effect<void>
  /** Total frame bytes written. */
  readonly bytesSent: () => number
  /** When the last inbound frame arrived (or the socket opened). */
  readonly lastInboundMillis: () => number
}

const utf8 = (s: string) => Buffer.byteLength(s, "utf8")

/**
 * Starts the reader fiber (forked into the caller's scope) and returns the multiplexer.
 *
 * @internal
 */
export const make = (options: {
  readonly connection: Connection.Connection
  readonly generation: number
  readonly maxInFlight: number
  readonly maxLanes: number
  readonly onDead?: ((mux: Mux) => void) | undefined
}) =>
  Effect.gen(function*() {
    const { connection } = options
    const openedAt = yield* Clock.currentTimeMillis
    const lanes = new Map<string, Array<Pending>>()
    const waiting: Array<Pending> = []
    const namedLanes = new Set<string>()
    let inFlight = 0
    let dead: ResponsesError | undefined
    let retired = false
    let bytesSent = 0
    let lastInbound = openedAt

    const laneQueue = (lane: string) => {
      let q = lanes.get(lane)
      if (q === undefined) {
        q = []
        lanes.set(lane, q)
      }
      return q
    }

    const failAll = (error: ResponsesError) => {
      for (const q of lanes.values()) {
        for (const p of q) {
          if (!p.settled) {
            p.settled = true
            p.mailbox.unsafeDone(Exit.fail(error))
          }
        }
      }
      lanes.clear()
      for (const p of waiting) {
        p.settled = true
        p.mailbox.unsafeDone(Exit.fail(error))
      }
      waiting.length = 0
      inFlight = 0
    }

    const die = (error: ResponsesError): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (dead !== undefined) return Effect.void
        dead = error
        failAll(error)
        options.onDead?.(self)
        return connection.close(1000, "")
      })

    const maybeCloseRetired = (): Effect.Effect<void> =>
      retired && inFlight === 0 && waiting.length === 0 && dead === undefined
        ? die(new ResponsesError({ reason: "ConnectionLost", message: "The connection was rotated." }))
        : Effect.void

    // Sends waiting requests while the in-flight budget allows, in submission order, one at a time per lane:
    // the server would queue a second one anyway, and an error frame could then not be told from the running
    // response's (some servers reject a queued request at once).
    const pump = (): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (dead !== undefined || inFlight >= options.maxInFlight) return Effect.void
        const index = waiting.findIndex((p) => (lanes.get(p.lane)?.length ?? 0) === 0)
        if (index === -1) return Effect.void
        const next = waiting.splice(index, 1)[0]!
        next.sent = true
        inFlight++
        laneQueue(next.lane).push(next)
        bytesSent += utf8(next.frame)
        return connection.send(next.frame).pipe(
          Effect.catchAll((e) =>
            die(new ResponsesError({ reason: "ConnectionLost", message: e.message, ...(e.code !== undefined ? { closeCode: e.code } : {}) }))
          ),
          Effect.zipRight(pump())
        )
      })

    const finishHead = (lane: string) => {
      const q = lanes.get(lane)
      if (q === undefined || q.length === 0) return
      q.shift()
      if (q.length === 0) lanes.delete(lane)
      inFlight = Math.max(0, inFlight - 1)
    }

    const route = (text: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        lastInbound = yield* Clock.currentTimeMillis
        let raw: unknown
        try {
          raw = JSON.parse(text)
        } catch {
          return yield* die(new ResponsesError({ reason: "Protocol", message: "The server sent a frame that is not JSON." }))
        }
        if (typeof raw !== "object" || raw === null || typeof (raw as any).type !== "string") {
          return yield* die(new ResponsesError({ reason: "Protocol", message: "The server sent a frame without a type." }))
        }
        const obj = raw as Record<string, unknown> & { readonly type: string }
        const streamId = typeof obj.stream_id === "string" ? obj.stream_id : undefined
        if (obj.type === "error" && streamId === undefined && (lanes.get("")?.length ?? 0) === 0 && inFlight > 0) {
          // An error tied to no lane while only named lanes run: connection-level.
          return yield* die(fromErrorFrame(obj, yield* Clock.currentTimeMillis))
        }
        const lane = streamId ?? ""
        const head = lanes.get(lane)?.[0]
        const terminal = isTerminal(obj)
        if (head === undefined) return // stray event (e.g. steer.pending after completion): nothing waits for it
        if (!head.settled) {
          if (obj.type === "error") {
            head.settled = true
            head.mailbox.unsafeDone(Exit.fail(fromErrorFrame(obj, yield* Clock.currentTimeMillis)))
          } else {
            const decoded = Codec.decodeServerEventUnknown(obj)
            if (Either.isLeft(decoded)) {
              head.settled = true
              head.mailbox.unsafeDone(Exit.fail(
                new ResponsesError({ reason: "Protocol", message: `Undecodable ${obj.type} event: ${decoded.left.message}` })
              ))
            } else {
              head.mailbox.unsafeOffer(decoded.right)
              if (terminal) {
                head.settled = true
                head.mailbox.unsafeDone(Exit.void)
              }
            }
          }
        }
        if (terminal) {
          finishHead(lane)
          yield* pump()
          yield* maybeCloseRetired()
        }
      })

    const reader = connection.frames.pipe(
      Stream.runForEach(route),
      Effect.matchEffect({
        onFailure: (e) =>
          die(new ResponsesError({
            reason: "ConnectionLost",
            message: `The connection failed: ${e.message}`,
            ...(e.code !== undefined ? { closeCode: e.code } : {})
          })),
        onSuccess: () =>
          Effect.flatMap(connection.closed, (info) =>
            die(new ResponsesError({
              reason: "ConnectionLost",
              message: `The connection closed (${info.code}${info.reason ? ` ${info.reason}` : ""}).`,
              closeCode: info.code
            })))
      })
    )
    yield* Effect.forkScoped(reader)
    yield* Effect.addFinalizer(() => die(new ResponsesError({ reason: "ConnectionLost", message: "The client closed the connection." })))

    const submit: Mux["submit"] = (frame, lane) =>
      Effect.gen(function*() {
        if (dead !== undefined) return yield* Effect.fail(dead)
        if (retired) {
          return yield* new ResponsesError({ reason: "ConnectionLost", message: "The connection is being rotated." })
        }
        const key = lane ?? ""
        if (key !== "" && !namedLanes.has(key)) {
          if (namedLanes.size >= options.maxLanes) {
            return yield* new ResponsesError({
              reason: "LaneLimit",
              message: `This connection already used ${options.maxLanes} distinct stream ids.`,
              streamId: key
            })
          }
          namedLanes.add(key)
        }
        const mailbox = yield* Mailbox.make<ServerEvent.ServerEvent, ResponsesError>()
        const pending: Pending = { lane: key, frame, mailbox, sent: false, settled: false }
        waiting.push(pending)
        yield* pump()
        return Mailbox.toStream(mailbox)
      })

    const self: Mux = {
      generation: options.generation,
      connection,
      openedAt,
      submit,
      isAlive: () => dead === undefined && !retired,
      load: () => inFlight + waiting.length,
      retire: Effect.suspend(() => {
        retired = true
        return maybeCloseRetired()
      }),
      kill: die,
      bytesSent: () => bytesSent,
      lastInboundMillis: () => lastInbound
    }
    return self
  })
