/**
 * Serving one socket: its frames read a chunk at a time and handled in fair slices, its age limit, and the close
 * rule afterwards (a clean close ends the session; a drop keeps it for the resume grace period).
 *
 * @internal
 */
import * as Connection from "@loopwire/transport/Connection"
import * as TimerWheel from "@loopwire/transport/TimerWheel"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { none as FiberIdNone } from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Protocol from "../protocol.js"
import * as Metrics from "../../Metrics.js"
import type { SessionRef } from "../../ResumeLog.js"
import { type Attachment, type SessionState, connectionLimitCloseCode, finish, ignoreLogError, isCleanClose } from "./state.js"
import { onFrame } from "./frames.js"


/**
 * Frames one connection handles before it yields to the event loop (other sockets' reads and writes, timers): a
 * pipelined flood delays other connections by at most this many frames' work.
 *
 * @since 0.1.0
 * @category constants
 */
export const framesPerTurn = 32

export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

// The frames of one read in slices of `framesPerTurn`: each slice's queued error answers are written as one batch,
// then the connection yields to the event loop before its next slice.
export const handleSlices = (
  frames: ReadonlyArray<string>,
  from: number,
  handle: (text: string) => Effect.Effect<void>,
  flush: Effect.Effect<void>
): Effect.Effect<void> => {
  const to = Math.min(frames.length, from + framesPerTurn)
  let slice: Effect.Effect<void> = Effect.void
  for (let i = from; i < to; i++) {
    const text = frames[i]!
    slice = Effect.zipRight(slice, handle(text))
  }
  const done = Effect.zipRight(slice, flush)
  return to >= frames.length
    ? done
    : Effect.zipRight(Effect.zipRight(done, yieldToEventLoop), Effect.suspend(() => handleSlices(frames, to, handle, flush)))
}

// Reads the connection's frames a chunk at a time through the transport's chunk reader (no stream step), or
// through `frames` for a wrapper without one (fault injection).
export const readFrames = (
  connection: Connection.Connection,
  handle: (text: string) => Effect.Effect<void>,
  flush: Effect.Effect<void>
): Effect.Effect<void, Connection.ConnectionError> => {
  const reader = Connection.chunkReader(connection)
  if (reader === undefined) {
    return connection.frames.pipe(
      Stream.runForEachChunk((chunk) => handleSlices(Chunk.toReadonlyArray(chunk), 0, handle, flush))
    )
  }
  const loop: Effect.Effect<void, Connection.ConnectionError> = Effect.flatMap(
    reader,
    ([chunk, done]) =>
      Effect.zipRight(handleSlices(Chunk.toReadonlyArray(chunk), 0, handle, flush), done ? Effect.void : loop)
  )
  return loop
}

// Serves `connection` on `state` until the connection ends, then applies the close rule: a clean close (or no
// resume) ends the session; a drop keeps it for the grace period, until another connection adopts it. Plain
// continuations and one scope with one cleanup: while the socket is idle its fiber waits in the reader with a short
// stack (no generator, no nested scopes).
export const serveSocket = (state: SessionState, connection: Connection.Connection, confirmClaim: boolean): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const config = state.config
    // A send to a closed connection has no one to tell: the frame loop ends and the session's rule applies. Queued
    // error answers go first, so the socket's frames keep their order.
    const outbox: Array<string> = []
    const write = (texts: ReadonlyArray<string>) =>
      Effect.catchAll(Connection.sendAll(connection, texts), () => Effect.void)
    const send = (text: string) =>
      outbox.length === 0
        ? Effect.catchAll(connection.send(text), () => Effect.void)
        : Effect.suspend(() => write([...outbox.splice(0), text]))
    const sendAll = (texts: ReadonlyArray<string>) =>
      Effect.suspend(() => write(outbox.length === 0 ? texts : [...outbox.splice(0), ...texts]))
    const flush = Effect.suspend(() => outbox.length === 0 ? Effect.void : write(outbox.splice(0)))
    const scope = Effect.runSync(Scope.make())
    const ops = Effect.runSync(Scope.extend(FiberSet.make<void, never>(), scope))
    const attachment: Attachment = {
      epoch: ++state.epoch,
      send,
      sendAll,
      outbox,
      flush,
      errors: { tokens: config.errorBurst, at: now, closed: false },
      close: (code, reason) => Effect.ignore(connection.close(code, reason)),
      tails: new Map(),
      open: new Set(),
      ops
    }
    state.attached = attachment
    state.claimedBy = undefined
    Deferred.unsafeDone(state.attachSignal, Exit.void)
    const detach = Effect.sync(() => {
      if (state.attached === attachment) state.attached = undefined
      for (const tail of attachment.open) Deferred.unsafeDone(tail, Exit.void)
      attachment.open.clear()
    })

    // Age limit: tell the client why, then close (a deadline on the process's timer wheel: no fiber while it waits).
    const ageLimit = Scope.extend(
      TimerWheel.after(config.maxConnectionAge, Effect.zipRight(
        send(JSON.stringify(Protocol.connectionLimitReached(config.maxConnectionAge))),
        connection.close(connectionLimitCloseCode, "websocket_connection_limit_reached")
      )),
      scope
    )

    const handleFrame = onFrame(state, attachment)
    // A connection whose upgrade claimed a session confirms on its first frame: its client has its new token.
    let unconfirmed = confirmClaim && state.resume !== undefined && state.token !== undefined
    const frameHandler = (text: string) => {
      if (!unconfirmed) return handleFrame(text)
      unconfirmed = false
      const resume = state.resume!
      return Effect.zipRight(
        Effect.catchAll(
          resume.log.confirm({ tenant: state.tenant, token: state.token! }),
          ignoreLogError("confirm failed")
        ),
        handleFrame(text)
      )
    }
    const read = readFrames(connection, frameHandler, flush).pipe(
      // Transport violations (binary, oversize, drops) were already answered with their close codes.
      Effect.catchAll((error) => Effect.logDebug("connection ended", error))
    )
    return Effect.zipRight(ageLimit, Effect.zipRight(read, connection.closed)).pipe(
      // The socket is detached, its operations interrupted and its deadline cancelled: one cleanup.
      Effect.onExit((exit) => Effect.zipRight(detach, Scope.close(scope, exit))),
      Effect.flatMap((closed) => afterSocket(state, closed.code))
    )
  })

export const afterSocket = (state: SessionState, code: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const resume = state.resume
    if (resume === undefined || state.token === undefined) return yield* finish(state)
    const session: SessionRef = { tenant: state.tenant, token: state.token }
    if (isCleanClose(code)) {
      yield* Effect.catchAll(resume.log.release(session), ignoreLogError("release failed"))
      return yield* finish(state)
    }
    // Dropped: the responses keep running into the log; the state waits for a resume.
    const attached = Deferred.unsafeMake<void>(FiberIdNone)
    state.attachSignal = attached
    yield* Effect.catchAll(resume.log.suspend(session), ignoreLogError("suspend failed"))
    const drainThenFinish = Effect.zipRight(FiberSet.awaitEmpty(state.jobs), finish(state))
    yield* Metric.increment(Metrics.resumableSessions)
    const expired = yield* Effect.race(
      Effect.as(Deferred.await(attached), false),
      Effect.as(Effect.sleep(Duration.decode(resume.grace)), true)
    ).pipe(Effect.ensuring(Metric.incrementBy(Metrics.resumableSessions, -1)))
    if (!expired) return
    if (state.claimedBy !== undefined) {
      // Taken by a resume on this process that has not attached yet: it keeps the responses.
      return yield* Effect.race(Deferred.await(attached), drainThenFinish)
    }
    const released = yield* Effect.either(resume.log.release(session))
    if (Either.isRight(released) && released.right._tag === "Claimed") {
      // Resumed on another process: it follows the responses in the shared log; they run to their end here.
      return yield* Effect.race(Deferred.await(attached), drainThenFinish)
    }
    if (Either.isLeft(released)) yield* ignoreLogError("release failed")(released.left)
    yield* finish(state)
  })
