/**
 * One multiplexed socket: requests go out on lanes (`stream_id`), one at a time per lane; one reader routes
 * inbound events to the request running on their lane; the in-flight cap is enforced on the client (beyond it,
 * and behind a busy lane, requests wait here, unsent).
 *
 * Resume (docs/resume.md) lives here too, because it is a per-socket matter: when the server offered a
 * `loopwire-resume-token`, a drop does not fail the requests in flight. The multiplexer reconnects (backing off,
 * inside the announced grace period) presenting the token; on `loopwire-resumed: 1` it asks for the rest of
 * every in-flight response (`loopwire.resume`, in the order the requests were sent) and keeps feeding the same
 * consumer streams; otherwise the requests fail with `ConnectionLost` and their sessions take the standard
 * ladder. Events are delivered at most once, in order: per response, an event whose `sequence_number` is not
 * above the last one delivered is dropped.
 *
 * @internal
 */
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import { isTerminal } from "@loopwire/protocol/ServerEvent"
import type * as Connection from "@loopwire/transport/Connection"
import * as Heartbeat from "@loopwire/transport/Heartbeat"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Deferred from "effect/Deferred"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import { defaultResume, type ResumePolicy } from "../ClientConfig.js"
import { fromErrorFrame, ResponsesError } from "../ResponsesError.js"
import * as Resume from "../Resume.js"
import { decodeEvent } from "./decode.js"

/**
 * What happened to one request across a drop (for the session's events and metrics).
 *
 * @internal
 */
export type Notice =
  /** A `loopwire.resume` went out for this request on a resumed socket. */
  | { readonly _tag: "Resumed"; readonly startingAfter: number }
  /** The server had never received the request (`resume_request_unknown`): it was sent again, as it was. */
  | { readonly _tag: "Resent" }
  /** The request could not be resumed; it fails with `ConnectionLost` (the standard ladder follows). */
  | { readonly _tag: "ResumeRefused"; readonly reason: Resume.RefusalReason }
  /** An event already delivered came again and was dropped. */
  | { readonly _tag: "Duplicate" }
  /** An event delivered after a resume (the log's replay, then the live rest). */
  | { readonly _tag: "ResumedEvent" }

/**
 * What happened to a socket (for the pool's event stream).
 *
 * @internal
 */
export type SocketEvent =
  | {
    readonly _tag: "Dropped"
    readonly generation: number
    readonly closeCode: number | undefined
    readonly inFlight: number
    /** Whether the socket will try to resume (the server offered a token and a grace period). */
    readonly resuming: boolean
  }
  | {
    readonly _tag: "Resumed"
    readonly generation: number
    /** Requests asked for with `loopwire.resume`. */
    readonly requests: number
    readonly attempts: number
    readonly downMillis: number
  }
  | {
    readonly _tag: "ResumeRefused"
    readonly generation: number
    readonly reason: Resume.RefusalReason
    readonly requests: number
  }

/** @internal */
export interface Pending {
  readonly lane: string
  /** The frame as built by the caller (untagged). */
  readonly frame: string
  /** Unique per request for the client's lifetime; sent only to servers that offered resume. */
  readonly requestId: string
  /** The frame as first written (tagged when the socket offered resume); re-sent as is. */
  wire: string | undefined
  readonly mailbox: Mailbox.Mailbox<ServerEvent.ServerEvent, ResponsesError>
  readonly notify: ((notice: Notice) => void) | undefined
  /** When set, events go straight to it from the reader (one hop fewer); the mailbox then only ends or fails. */
  readonly sink: ((event: ServerEvent.ServerEvent) => void) | undefined
  sent: boolean
  /** Send order on this socket: resumes go out in it. */
  order: number
  /** The last `sequence_number` delivered to the consumer (-1: none). */
  lastSeq: number
  /** Asked for again on a resumed socket. */
  resumed: boolean
  /** `loopwire.resume` retries after `resume_log_unavailable`. */
  logRetries: number
  /** The consumer got its terminal (or error); further events of this response are dropped. */
  settled: boolean
  /** The idle timeout of `run`, watched by the socket's one watchdog (undefined: none). */
  readonly idle: Idle | undefined
  /** When the request was submitted: the idle timeout runs from the later of this and the socket's last sign of life. */
  readonly submittedAt: number
}

/**
 * A response's idle timeout: when neither an inbound frame nor an answered heartbeat ping came for `millis`, the
 * request fails with `error()` (its lane stays taken until its terminal or the socket's end).
 *
 * @internal
 */
export interface Idle {
  readonly millis: number
  readonly error: () => ResponsesError
}

/** @internal */
export interface Mux {
  readonly generation: number
  /** The live connection (undefined while reconnecting or once dead). */
  readonly connection: () => Connection.Connection | undefined
  readonly openedAt: number
  /** Sends a `response.create` frame on a lane ("" = default lane) and streams its events to the terminal. */
  readonly submit: (
    frame: string,
    lane: string | undefined,
    notify?: ((notice: Notice) => void) | undefined
  ) => Effect.Effect<Stream.Stream<ServerEvent.ServerEvent, ResponsesError>, ResponsesError>
  /**
   * Sends a `response.create` frame on a lane and hands every event to `sink`, synchronously, from the reader;
   * succeeds once the terminal event was handed over. No stream and no per-event hop: the hot path of a session.
   */
  readonly run: (
    frame: string,
    lane: string | undefined,
    sink: (event: ServerEvent.ServerEvent) => void,
    notify?: ((notice: Notice) => void) | undefined,
    idle?: Idle | undefined
  ) => Effect.Effect<void, ResponsesError>
  readonly isAlive: () => boolean
  /** Reconnecting with a resume token after a drop. */
  readonly isResuming: () => boolean
  /** Whether the current connection offered resume (requests are tagged with `loopwire_request_id`). */
  readonly resumable: () => boolean
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
  /** The later of the last inbound frame and the socket's last answered heartbeat ping. */
  readonly lastAliveMillis: () => number
  /** Successful resumes of this socket. */
  readonly resumes: () => number
}

const utf8 = (s: string) => Buffer.byteLength(s, "utf8")
const logRetryLimit = 3

// Unique for the process's lifetime: a random prefix and a counter.
const idPrefix = `lwr_${randomBytes(9).toString("base64url")}`
let idCounter = 0
const nextRequestId = () => `${idPrefix}${(idCounter++).toString(36)}`

/**
 * Starts the reader fiber (forked into the caller's scope) and returns the multiplexer. `reopen` dials the same
 * endpoint again with extra handshake headers (in the given scope); without it, a drop ends the socket.
 *
 * @internal
 */
export const make = (options: {
  readonly connection: Connection.Connection
  readonly generation: number
  readonly maxInFlight: number
  readonly maxLanes: number
  readonly resume?: ResumePolicy | undefined
  readonly reopen?:
    | ((headers: Readonly<Record<string, string>>) => Effect.Effect<Connection.Connection, ResponsesError, Scope.Scope>)
    | undefined
  readonly onDead?: ((mux: Mux) => void) | undefined
  readonly onEvent?: ((event: SocketEvent) => void) | undefined
}) =>
  Effect.gen(function*() {
    const muxScope = yield* Effect.scope
    // Read synchronously per frame on the hot path (the reader's own Clock: TestClock in tests).
    const clock = yield* Effect.clock
    const policy = options.resume
    const openedAt = yield* Clock.currentTimeMillis
    const lanes = new Map<string, Array<Pending>>()
    const waiting: Array<Pending> = []
    const namedLanes = new Set<string>()
    let inFlight = 0
    let dead: ResponsesError | undefined
    let retired = false
    let bytesSent = 0
    let lastInbound = openedAt
    let sendOrder = 0
    let resumes = 0
    // The live connection (undefined while resuming), its own scope (the first one lives in the mux's scope),
    // and what its 101 offered.
    let current: Connection.Connection | undefined = options.connection
    let currentScope: Scope.CloseableScope | undefined
    let offer = Resume.offerOf(options.connection.handshake.responseHeaders)
    let resuming = false

    const canResume = () => policy !== undefined && policy.enabled && options.reopen !== undefined
    const tagging = () => canResume() && offer !== undefined
    const resumableDrop = () => canResume() && offer !== undefined && offer.graceMillis > 0

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
      watched.clear()
    }

    const inFlightInOrder = (): Array<Pending> => {
      const all: Array<Pending> = []
      for (const q of lanes.values()) if (q[0] !== undefined) all.push(q[0])
      return all.sort((a, b) => a.order - b.order)
    }

    const die = (error: ResponsesError): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (dead !== undefined) return Effect.void
        dead = error
        failAll(error)
        options.onDead?.(self)
        const connection = current
        const scope = currentScope
        current = undefined
        currentScope = undefined
        return Effect.zipRight(
          connection === undefined ? Effect.void : connection.close(1000, ""),
          scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
        )
      })

    const maybeCloseRetired = (): Effect.Effect<void> =>
      retired && inFlight === 0 && waiting.length === 0 && dead === undefined && !resuming
        ? die(new ResponsesError({ reason: "ConnectionLost", message: "The connection was rotated." }))
        : Effect.void

    const lostError = (message: string, code: number | undefined) =>
      new ResponsesError({ reason: "ConnectionLost", message, ...(code !== undefined ? { closeCode: code } : {}) })

    // Sends waiting requests while the in-flight budget allows, in submission order, one at a time per lane:
    // the server would queue a second one anyway, and an error frame could then not be told from the running
    // response's (some servers reject a queued request at once).
    const pump = (): Effect.Effect<void> =>
      Effect.suspend(() => {
        const connection = current
        if (dead !== undefined || connection === undefined || inFlight >= options.maxInFlight) return Effect.void
        const index = waiting.findIndex((p) => (lanes.get(p.lane)?.length ?? 0) === 0)
        if (index === -1) return Effect.void
        const next = waiting.splice(index, 1)[0]!
        next.sent = true
        next.order = sendOrder++
        next.wire = tagging() ? Resume.tagCreate(next.frame, next.requestId) : next.frame
        inFlight++
        laneQueue(next.lane).push(next)
        return Effect.zipRight(write(connection, next.wire), pump())
      })

    // A failed write is a lost connection: the reader sees it too; `lost` runs once per connection.
    const write = (connection: Connection.Connection, frame: string): Effect.Effect<void> => {
      bytesSent += utf8(frame)
      return connection.send(frame).pipe(
        Effect.catchAll((e) => lost(connection, lostError(e.message, e.code)))
      )
    }

    const finishHead = (lane: string) => {
      const q = lanes.get(lane)
      if (q === undefined || q.length === 0) return
      q.shift()
      if (q.length === 0) lanes.delete(lane)
      inFlight = Math.max(0, inFlight - 1)
    }

    // Takes a sent request off its lane (its head, one request per lane being sent at a time).
    const remove = (p: Pending) => {
      const q = lanes.get(p.lane)
      const index = q?.indexOf(p) ?? -1
      if (q === undefined || index === -1) return
      q.splice(index, 1)
      if (q.length === 0) lanes.delete(p.lane)
      inFlight = Math.max(0, inFlight - 1)
    }

    const settle = (p: Pending, error: ResponsesError | undefined) => {
      if (p.settled) return
      p.settled = true
      if (p.idle !== undefined) watched.delete(p)
      p.mailbox.unsafeDone(error === undefined ? Exit.void : Exit.fail(error))
    }

    // The idle timeouts of every request on this socket: one watchdog fiber, which sleeps until the earliest
    // deadline and parks while nothing is watched. A turn costs it nothing in the usual case (its deadline is
    // later than the one the watchdog already sleeps towards); no race, fork or timer per request or event.
    const watched = new Set<Pending>()
    let watchdogAt = Infinity // when the sleeping watchdog wakes up (Infinity: parked, or not started)
    let wake: Deferred.Deferred<void> | undefined
    let watchdogFiber: Fiber.RuntimeFiber<void> | undefined
    const lastAlive = () => {
      const answered = current === undefined ? undefined : Heartbeat.lastAnswerMillis(current)
      return answered === undefined ? lastInbound : Math.max(lastInbound, answered)
    }
    const watchdog: Effect.Effect<void> = Effect.suspend(() => {
      if (dead !== undefined) return Effect.void
      const now = clock.unsafeCurrentTimeMillis()
      const alive = lastAlive()
      let next = Infinity
      for (const p of watched) {
        const at = Math.max(p.submittedAt, alive) + p.idle!.millis
        if (at <= now) settle(p, p.idle!.error())
        else if (at < next) next = at
      }
      watchdogAt = next
      if (next === Infinity) {
        wake = Deferred.unsafeMake<void>(FiberId.none)
        return Effect.zipRight(Deferred.await(wake), watchdog)
      }
      return Effect.zipRight(Effect.sleep(next - now), watchdog)
    })
    const watch = (p: Pending): Effect.Effect<void> => {
      watched.add(p)
      const at = p.submittedAt + p.idle!.millis
      if (watchdogFiber !== undefined && at >= watchdogAt) return Effect.void
      if (watchdogFiber !== undefined && wake !== undefined && watchdogAt === Infinity) {
        const parked = wake
        wake = undefined
        Deferred.unsafeDone(parked, Exit.void)
        return Effect.void
      }
      // Not started yet, or this deadline comes before the one the watchdog sleeps towards (a shorter timeout than
      // the others on the socket): start it again.
      const previous = watchdogFiber
      watchdogAt = at
      return Effect.zipRight(
        previous === undefined ? Effect.void : Fiber.interruptFork(previous),
        Effect.map(Effect.forkIn(watchdog, muxScope), (fiber) => {
          watchdogFiber = fiber
        })
      )
    }

    // The request a resume refusal is about: named by its id when the frame says so, else the head of its lane.
    const resumeTarget = (obj: Record<string, unknown>, lane: string): Pending | undefined => {
      const id = Resume.requestIdOf(obj)
      if (id !== undefined) {
        for (const q of lanes.values()) for (const p of q) if (p.requestId === id) return p
      }
      return lanes.get(lane)?.[0]
    }

    // Per inbound frame: plain code; an effect (returned, run before the next frame) only for error frames and for
    // a terminal that lets a waiting request go out or a retired socket close.
    const route = (connection: Connection.Connection, text: string): Effect.Effect<void> | undefined => {
      if (connection !== current) return undefined // a late frame of a replaced connection
      lastInbound = clock.unsafeCurrentTimeMillis()
      let raw: unknown
      try {
        raw = JSON.parse(text)
      } catch {
        return die(new ResponsesError({ reason: "Protocol", message: "The server sent a frame that is not JSON." }))
      }
      if (typeof raw !== "object" || raw === null || typeof (raw as any).type !== "string") {
        return die(new ResponsesError({ reason: "Protocol", message: "The server sent a frame without a type." }))
      }
      const obj = raw as Record<string, unknown> & { readonly type: string }
      const streamId = typeof obj.stream_id === "string" ? obj.stream_id : undefined
      const lane = streamId ?? ""
      return obj.type === "error" ? routeError(connection, obj, streamId, lane) : deliver(obj, lane)
    }

    const routeError = (
      connection: Connection.Connection,
      obj: Record<string, unknown> & { readonly type: string },
      streamId: string | undefined,
      lane: string
    ): Effect.Effect<void> =>
      Effect.gen(function*() {
        {
          const refusal = Resume.refusalOf(obj)
          if (refusal !== undefined) {
            const target = resumeTarget(obj, lane)
            if (target === undefined) return
            if (refusal === "resume_request_unknown") {
              // Lost on the wire before the server read it: send it again, the same request (same id).
              target.notify?.({ _tag: "Resent" })
              return yield* write(connection, target.wire ?? target.frame)
            }
            if (refusal === "resume_log_unavailable" && target.logRetries < logRetryLimit) {
              // The shared log is unreachable for now: the state is still kept, ask again a little later.
              const delay = Resume.delayMillis(policy ?? defaultResume, target.logRetries++, yield* Random.next)
              return yield* Effect.sleep(delay).pipe(
                Effect.zipRight(Effect.suspend(() =>
                  connection === current && !target.settled && lanes.get(target.lane)?.[0] === target
                    ? write(connection, Resume.encodeResume(target.requestId, target.lastSeq))
                    : Effect.void
                )),
                Effect.forkIn(muxScope),
                Effect.asVoid
              )
            }
            target.notify?.({ _tag: "ResumeRefused", reason: refusal })
            settle(target, Resume.refusalError(refusal, fromErrorFrame(obj, yield* Clock.currentTimeMillis)))
            remove(target)
            yield* pump()
            return yield* maybeCloseRetired()
          }
        }
        if (obj.type === "error" && Resume.isConnectionLimit(obj) && resumableDrop()) {
          // The age limit: the gateway keeps this connection's state as for a drop (docs/resume.md §8), so the
          // running responses carry on over a new socket instead of being re-issued. Closing with a code other than
          // 1000 keeps the state.
          yield* connection.close(1001, "connection limit reached: resuming")
          return yield* lost(connection, fromErrorFrame(obj, yield* Clock.currentTimeMillis))
        }
        if (obj.type === "error" && streamId === undefined && (lanes.get("")?.length ?? 0) === 0 && inFlight > 0) {
          // An error tied to no lane while only named lanes run: connection-level.
          return yield* die(fromErrorFrame(obj, yield* Clock.currentTimeMillis))
        }
        return yield* (deliver(obj, lane) ?? Effect.void)
      })

    // Hands a frame to the head request of its lane; an effect only when the lane's head finished.
    const deliver = (
      obj: Record<string, unknown> & { readonly type: string },
      lane: string
    ): Effect.Effect<void> | undefined => {
      const head = lanes.get(lane)?.[0]
      if (head === undefined) return undefined // stray event (e.g. steer.pending after completion)
      if (obj.type !== "error" && typeof obj.sequence_number === "number") {
        // At most once, in order: a replay overlapping what was delivered is dropped.
        if (obj.sequence_number <= head.lastSeq) {
          head.notify?.({ _tag: "Duplicate" })
          return undefined
        }
        head.lastSeq = obj.sequence_number
      }
      const terminal = isTerminal(obj)
      if (!head.settled) {
        if (obj.type === "error") {
          settle(head, fromErrorFrame(obj, clock.unsafeCurrentTimeMillis()))
        } else {
          const decoded = decodeEvent(obj)
          if (Either.isLeft(decoded)) {
            settle(
              head,
              new ResponsesError({ reason: "Protocol", message: `Undecodable ${obj.type} event: ${decoded.left.message}` })
            )
          } else {
            if (head.sink !== undefined) head.sink(decoded.right)
            else head.mailbox.unsafeOffer(decoded.right)
            if (head.resumed) head.notify?.({ _tag: "ResumedEvent" })
            if (terminal) settle(head, undefined)
          }
        }
      }
      if (!terminal) return undefined
      finishHead(lane)
      // Nothing waits and the socket is not retired (a turn's usual end): nothing to run.
      if (waiting.length === 0 && !retired) return undefined
      return Effect.zipRight(Effect.suspend(pump), Effect.suspend(maybeCloseRetired))
    }

    // One step per chunk of frames (all that arrived since the reader last ran), each routed in order with plain
    // code; a frame whose routing returns an effect has it run before the next frame.
    const routeChunk = (connection: Connection.Connection, chunk: Chunk.Chunk<string>): Effect.Effect<void> => {
      const frames = Chunk.toReadonlyArray(chunk)
      const from = (start: number): Effect.Effect<void> => {
        for (let i = start; i < frames.length; i++) {
          const effect = route(connection, frames[i]!)
          if (effect !== undefined) {
            return i + 1 < frames.length ? Effect.zipRight(effect, Effect.suspend(() => from(i + 1))) : effect
          }
        }
        return Effect.void
      }
      return from(0)
    }

    const startReader = (connection: Connection.Connection): Effect.Effect<void> =>
      connection.frames.pipe(
        Stream.runForEachChunk((chunk) => routeChunk(connection, chunk)),
        Effect.matchEffect({
          onFailure: (e) => lost(connection, lostError(`The connection failed: ${e.message}`, e.code)),
          onSuccess: () =>
            Effect.flatMap(connection.closed, (info) =>
              lost(
                connection,
                lostError(`The connection closed (${info.code}${info.reason ? ` ${info.reason}` : ""}).`, info.code)
              ))
        }),
        Effect.forkIn(muxScope),
        Effect.asVoid
      )

    // The connection ended without the client closing it. With a resume offer, reconnect and resume; else fail.
    const lost = (connection: Connection.Connection, error: ResponsesError): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (dead !== undefined || connection !== current) return Effect.void
        const idle = inFlight === 0 && waiting.length === 0
        const willResume = resumableDrop() && !(retired && idle)
        options.onEvent?.({
          _tag: "Dropped",
          generation: options.generation,
          closeCode: error.closeCode,
          inFlight,
          resuming: willResume
        })
        if (!willResume) return die(error)
        current = undefined
        resuming = true
        const scope = currentScope
        currentScope = undefined
        return Effect.zipRight(
          scope === undefined ? Effect.void : Scope.close(scope, Exit.void),
          Effect.forkIn(reconnect(offer!, error), muxScope)
        )
      })

    const giveUp = (reason: Resume.RefusalReason, error: ResponsesError) =>
      Effect.suspend(() => {
        if (dead !== undefined) return Effect.void
        const requests = inFlightInOrder()
        for (const p of requests) p.notify?.({ _tag: "ResumeRefused", reason })
        options.onEvent?.({ _tag: "ResumeRefused", generation: options.generation, reason, requests: requests.length })
        resuming = false
        return die(Resume.refusalError(reason, error))
      })

    // Reconnects with backoff inside the grace period, presenting the lost connection's token.
    const reconnect = (lostOffer: Resume.Offer, error: ResponsesError): Effect.Effect<void> =>
      Effect.gen(function*() {
        const droppedAt = yield* Clock.currentTimeMillis
        const deadline = droppedAt + lostOffer.graceMillis
        let attempts = 0
        let refused = 0
        for (;;) {
          if (dead !== undefined) return
          const delay = Resume.delayMillis(policy!, attempts, yield* Random.next)
          if ((yield* Clock.currentTimeMillis) + delay >= deadline) return yield* giveUp("grace_expired", error)
          if (delay > 0) yield* Effect.sleep(delay)
          attempts++
          if (dead !== undefined) return
          const scope = yield* Scope.fork(muxScope, ExecutionStrategy.sequential)
          const opened = yield* options.reopen!({ [Resume.TOKEN_HEADER]: lostOffer.token }).pipe(
            Scope.extend(scope),
            Effect.either
          )
          if (Either.isLeft(opened)) {
            yield* Scope.close(scope, Exit.void)
            const status = opened.left.status
            if (status === 401 || status === 403 || status === 404 || status === 426) {
              return yield* giveUp("connect_failed", opened.left)
            }
            continue
          }
          const connection = opened.right
          if (dead !== undefined) return yield* Scope.close(scope, Exit.void)
          const headers = connection.handshake.responseHeaders
          if (!Resume.wasResumed(headers)) {
            // A fresh connection with nothing in it: close it (cleanly) and try again, or give up.
            yield* Scope.close(scope, Exit.void)
            if (++refused > policy!.refusedRetries) return yield* giveUp("not_resumed", error)
            continue
          }
          // The lost connection's state is ours again: ask for the rest of every response, in send order.
          current = connection
          currentScope = scope
          offer = Resume.offerOf(headers)
          lastInbound = yield* Clock.currentTimeMillis
          resumes++
          yield* startReader(connection)
          const requests = inFlightInOrder()
          for (const p of requests) {
            p.resumed = true
            p.notify?.({ _tag: "Resumed", startingAfter: p.lastSeq })
            yield* write(connection, Resume.encodeResume(p.requestId, p.lastSeq))
          }
          // Dropped again while asking: the reader started another round, which owns the socket now.
          if (current !== connection) return
          resuming = false
          options.onEvent?.({
            _tag: "Resumed",
            generation: options.generation,
            requests: requests.length,
            attempts,
            downMillis: (yield* Clock.currentTimeMillis) - droppedAt
          })
          yield* pump()
          return yield* maybeCloseRetired()
        }
      })

    yield* startReader(options.connection)
    yield* Effect.addFinalizer(() => die(new ResponsesError({ reason: "ConnectionLost", message: "The client closed the connection." })))

    const enqueue = (
      frame: string,
      lane: string | undefined,
      notify: ((notice: Notice) => void) | undefined,
      sink: ((event: ServerEvent.ServerEvent) => void) | undefined,
      idle: Idle | undefined
    ): Effect.Effect<Mailbox.Mailbox<ServerEvent.ServerEvent, ResponsesError>, ResponsesError> =>
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
        const pending: Pending = {
          lane: key,
          frame,
          requestId: nextRequestId(),
          wire: undefined,
          mailbox,
          notify,
          sink,
          sent: false,
          order: -1,
          lastSeq: -1,
          resumed: false,
          logRetries: 0,
          settled: false,
          idle,
          submittedAt: clock.unsafeCurrentTimeMillis()
        }
        waiting.push(pending)
        if (idle !== undefined) yield* watch(pending)
        yield* pump()
        return mailbox
      })

    const submit: Mux["submit"] = (frame, lane, notify) =>
      Effect.map(enqueue(frame, lane, notify, undefined, undefined), Mailbox.toStream)

    // With a sink nothing is offered to the mailbox: it only ends (or fails) when the response settles.
    const run: Mux["run"] = (frame, lane, sink, notify, idle) =>
      Effect.flatMap(enqueue(frame, lane, notify, sink, idle), (mailbox) => mailbox.await)

    const self: Mux = {
      generation: options.generation,
      connection: () => current,
      openedAt,
      submit,
      run,
      isAlive: () => dead === undefined && !retired,
      isResuming: () => resuming && dead === undefined,
      resumable: tagging,
      load: () => inFlight + waiting.length,
      retire: Effect.suspend(() => {
        retired = true
        return maybeCloseRetired()
      }),
      kill: die,
      bytesSent: () => bytesSent,
      lastInboundMillis: () => lastInbound,
      lastAliveMillis: lastAlive,
      resumes: () => resumes
    }
    return self
  })
