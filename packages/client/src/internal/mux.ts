/**
 * One multiplexed socket: requests go out on lanes (`stream_id`), one at a time per lane; one reader routes
 * inbound events to the request running on their lane; the in-flight cap is enforced on the client (beyond it,
 * and behind a busy lane, requests wait here, unsent).
 *
 * Resume (docs/resume.md) lives here too, because it is a per-socket matter: when the server offered a
 * `loopwire-resume-token`, a drop does not fail the requests in flight. The multiplexer reconnects (backing off,
 * inside the announced grace period) presenting the token; on `loopwire-resumed: 1` it asks for the rest of
 * every in-flight response (`loopwire.resume`, in the order the requests were sent) and keeps feeding the same
 * consumers; otherwise the requests fail with `ConnectionLost` and their sessions take the standard ladder.
 * Events are delivered at most once, in order: per response, an event whose `sequence_number` is not above the
 * last one delivered is dropped.
 *
 * This module is the public face and the wiring; each concern has its own module under `mux/`: `requests` (queue
 * a request, wait for its end), `lanes` (scheduling), `route` (the per-frame step), `errorFrame` (error
 * classification), `watchdog` (idle timeouts), `reconnect` (the resume loop), `pending` (one request).
 *
 * @internal
 */
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Connection from "@loopwire/transport/Connection"
import * as Heartbeat from "@loopwire/transport/Heartbeat"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ResponsesError } from "../ResponsesError.js"
import * as Resume from "../Resume.js"
import * as Lanes from "./mux/lanes.js"
import type { Idle, Notice, Pending } from "./mux/pending.js"
import * as Requests from "./mux/requests.js"
import { reconnect } from "./mux/reconnect.js"
import { route, routeChunk } from "./mux/route.js"
import type * as Socket from "./mux/socket.js"
import * as Watchdog from "./mux/watchdog.js"

export type {
  /** @internal */
  Idle,
  /** @internal */
  Notice,
  /** @internal */
  Pending
} from "./mux/pending.js"
export type {
  /** @internal */
  SocketEvent
} from "./mux/socket.js"

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
   * With `idle`, the socket's watchdog fails the request when the socket shows no sign of life for that long.
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

const lostError = (message: string, code: number | undefined) =>
  new ResponsesError({ reason: "ConnectionLost", message, ...(code !== undefined ? { closeCode: code } : {}) })

/**
 * Starts the reader fiber (forked into the caller's scope) and returns the multiplexer. `reopen` dials the same
 * endpoint again with extra handshake headers (in the given scope); without it, a drop ends the socket.
 *
 * @internal
 */
export const make = (options: Socket.Options & { readonly onDead?: ((mux: Mux) => void) | undefined }) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock
    const openedAt = yield* Clock.currentTimeMillis
    const policy = options.resume
    const canResume = () => policy !== undefined && policy.enabled && options.reopen !== undefined

    const lastAlive = () => {
      const answered = socket.current === undefined ? undefined : Heartbeat.lastAnswerMillis(socket.current)
      return answered === undefined ? socket.lastInbound : Math.max(socket.lastInbound, answered)
    }

    const settle = (p: Pending, error: ResponsesError | undefined) => {
      if (p.settled) return
      p.settled = true
      if (p.idle !== undefined) watchdog.unwatch(p)
      p.end(error === undefined ? Exit.void : Exit.fail(error))
    }

    const die = (error: ResponsesError): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (socket.dead !== undefined) return Effect.void
        socket.dead = error
        socket.lanes.failAll(error)
        watchdog.clear()
        options.onDead?.(self)
        const connection = socket.current
        const connectionScope = socket.currentScope
        socket.current = undefined
        socket.currentScope = undefined
        return Effect.zipRight(
          connection === undefined ? Effect.void : connection.close(1000, ""),
          connectionScope === undefined ? Effect.void : Scope.close(connectionScope, Exit.void)
        )
      })

    const maybeCloseRetired = (): Effect.Effect<void> =>
      socket.retired && socket.lanes.inFlight() === 0 && socket.lanes.waiting.length === 0 &&
        socket.dead === undefined && !socket.resuming
        ? die(new ResponsesError({ reason: "ConnectionLost", message: "The connection was rotated." }))
        : Effect.void

    // Sends waiting requests while the lanes allow (see `mux/lanes.ts`): the writes to run, none when nothing may go
    // out (plain code up to the writes).
    const pumpNow = (): Effect.Effect<void> | undefined => {
      const connection = socket.current
      if (socket.dead !== undefined || connection === undefined) return undefined
      const next = socket.lanes.takeNext()
      if (next === undefined) return undefined
      next.wire = socket.tagging() ? Resume.tagCreate(next.frame, next.requestId) : next.frame
      const written = write(connection, next.wire)
      const rest = pumpNow()
      return rest === undefined ? written : Effect.zipRight(written, rest)
    }
    const pump = (): Effect.Effect<void> => Effect.suspend(() => pumpNow() ?? Effect.void)

    // A failed write is a lost connection: the reader sees it too; `lost` runs once per connection.
    const write = (connection: Connection.Connection, frame: string): Effect.Effect<void> => {
      socket.bytesSent += utf8(frame)
      return connection.send(frame).pipe(
        Effect.catchAll((e) => lost(connection, lostError(e.message, e.code)))
      )
    }

    // One step per chunk of frames: through the transport's chunk reader when it has one (no stream step), else
    // through `frames`.
    const readAll = (connection: Connection.Connection): Effect.Effect<void, Connection.ConnectionError> => {
      const listen = Connection.frameListener(connection)
      if (listen !== undefined) return listenAll(connection, listen)
      const reader = Connection.chunkReader(connection)
      if (reader === undefined) {
        return Stream.runForEachChunk(connection.frames, (chunk) => routeChunk(socket, connection, chunk) ?? Effect.void)
      }
      const loop: Effect.Effect<void, Connection.ConnectionError> = Effect.flatMap(reader, ([chunk, done]) => {
        const routed = routeChunk(socket, connection, chunk)
        if (done) return routed ?? Effect.void
        return routed === undefined ? loop : Effect.zipRight(routed, loop)
      })
      return loop
    }

    // Through the transport's synchronous listener: `route` runs in the socket's `message` event; a frame whose
    // routing returns an effect pauses the listener until that effect has run (frames stay in order).
    const listenAll = (
      connection: Connection.Connection,
      listen: Connection.Listen
    ): Effect.Effect<void, Connection.ConnectionError> =>
      Effect.async<void, Connection.ConnectionError>((resume) => {
        let stopped = false
        const listening = listen({
          onFrame: (frame) => {
            if (stopped) return
            const effect = route(socket, connection, frame)
            if (effect === undefined) return
            listening.pause()
            Runtime.runFork(runtime)(effect).addObserver(() => listening.resume())
          },
          onEnd: (exit) => {
            if (!stopped) resume(exit)
          }
        })
        return Effect.sync(() => {
          stopped = true
        })
      })

    const startReader = (connection: Connection.Connection): Effect.Effect<void> =>
      readAll(connection).pipe(
        Effect.matchEffect({
          onFailure: (e) => lost(connection, lostError(`The connection failed: ${e.message}`, e.code)),
          onSuccess: () =>
            Effect.flatMap(connection.closed, (info) =>
              lost(
                connection,
                lostError(`The connection closed (${info.code}${info.reason ? ` ${info.reason}` : ""}).`, info.code)
              ))
        }),
        Effect.forkIn(scope),
        Effect.asVoid
      )

    // The connection ended without the client closing it. With a resume offer, reconnect and resume; else fail.
    const lost = (connection: Connection.Connection, error: ResponsesError): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (socket.dead !== undefined || connection !== socket.current) return Effect.void
        const inFlight = socket.lanes.inFlight()
        const idle = inFlight === 0 && socket.lanes.waiting.length === 0
        const willResume = socket.resumableDrop() && !(socket.retired && idle)
        options.onEvent?.({
          _tag: "Dropped",
          generation: options.generation,
          closeCode: error.closeCode,
          inFlight,
          resuming: willResume
        })
        if (!willResume) return die(error)
        const offer = socket.offer!
        socket.current = undefined
        socket.resuming = true
        const connectionScope = socket.currentScope
        socket.currentScope = undefined
        return Effect.zipRight(
          connectionScope === undefined ? Effect.void : Scope.close(connectionScope, Exit.void),
          Effect.forkIn(reconnect(socket, offer, error), scope)
        )
      })

    const socket: Socket.Socket = {
      options,
      scope,
      clock,
      lanes: Lanes.make(options),
      dead: undefined,
      retired: false,
      bytesSent: 0,
      lastInbound: openedAt,
      resumes: 0,
      current: options.connection,
      currentScope: undefined,
      offer: Resume.offerOf(options.connection.handshake.responseHeaders),
      resuming: false,
      tagging: () => canResume() && socket.offer !== undefined,
      resumableDrop: () => canResume() && socket.offer !== undefined && socket.offer.graceMillis > 0,
      die,
      lost,
      pump,
      write,
      maybeCloseRetired,
      settle,
      startReader
    }
    const watchdog = Watchdog.make({
      clock,
      scope,
      lastAlive,
      isDead: () => socket.dead !== undefined,
      expire: (p) => settle(p, p.idle!.error())
    })

    yield* startReader(options.connection)
    yield* Effect.addFinalizer(() =>
      die(new ResponsesError({ reason: "ConnectionLost", message: "The client closed the connection." }))
    )

    const { run, submit } = Requests.make({ socket, watchdog, pumpNow })

    const self: Mux = {
      generation: options.generation,
      connection: () => socket.current,
      openedAt,
      submit,
      run,
      isAlive: () => socket.dead === undefined && !socket.retired,
      isResuming: () => socket.resuming && socket.dead === undefined,
      resumable: socket.tagging,
      load: () => socket.lanes.inFlight() + socket.lanes.waiting.length,
      retire: Effect.suspend(() => {
        socket.retired = true
        return maybeCloseRetired()
      }),
      kill: die,
      bytesSent: () => socket.bytesSent,
      lastInboundMillis: () => socket.lastInbound,
      lastAliveMillis: lastAlive,
      resumes: () => socket.resumes
    }
    return self
  })
