/**
 * Error classification of the multiplexer: what an `error` frame from the server is about. A resume refusal
 * (docs/resume.md) names one request; the connection age limit on a resumable socket is a drop to resume; an error
 * tied to no lane while only named lanes run is the connection's; anything else is the failure of the request
 * running on its lane.
 *
 * @internal
 */
import type * as Connection from "@loopwire/transport/Connection"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import { defaultResume } from "../../ClientConfig.js"
import { fromErrorFrame } from "../../ResponsesError.js"
import * as Resume from "../../Resume.js"
import type { Pending } from "./pending.js"
import type { Socket } from "./socket.js"

type Frame = Record<string, unknown> & { readonly type: string }

/** @internal */
export type Verdict =
  | { readonly _tag: "Refusal"; readonly refusal: NonNullable<ReturnType<typeof Resume.refusalOf>> }
  | { readonly _tag: "ConnectionLimit" }
  | { readonly _tag: "Connection" }
  | { readonly _tag: "Lane" }

const logRetryLimit = 3

/**
 * Pure: what an error frame is about, given the socket's situation.
 *
 * @internal
 */
export const classify = (
  obj: Frame,
  situation: {
    readonly streamId: string | undefined
    readonly defaultLaneBusy: boolean
    readonly inFlight: number
    readonly resumableDrop: boolean
  }
): Verdict => {
  const refusal = Resume.refusalOf(obj)
  if (refusal !== undefined) return { _tag: "Refusal", refusal }
  if (Resume.isConnectionLimit(obj) && situation.resumableDrop) return { _tag: "ConnectionLimit" }
  if (situation.streamId === undefined && !situation.defaultLaneBusy && situation.inFlight > 0) {
    return { _tag: "Connection" }
  }
  return { _tag: "Lane" }
}

// The request a resume refusal is about: named by its id when the frame says so, else the head of its lane.
const resumeTarget = (socket: Socket, obj: Frame, lane: string): Pending | undefined => {
  const id = Resume.requestIdOf(obj)
  return (id !== undefined ? socket.lanes.byId(id) : undefined) ?? socket.lanes.head(lane)
}

/**
 * Acts on an error frame that is not a lane's own failure.
 *
 * @internal
 */
export const handle = (
  socket: Socket,
  connection: Connection.Connection,
  obj: Frame,
  lane: string,
  verdict: Exclude<Verdict, { readonly _tag: "Lane" }>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    switch (verdict._tag) {
      case "Refusal": {
        const target = resumeTarget(socket, obj, lane)
        if (target === undefined) return
        const refusal = verdict.refusal
        if (refusal === "resume_request_unknown") {
          // Lost on the wire before the server read it: send it again, the same request (same id).
          target.notify?.({ _tag: "Resent" })
          return yield* socket.write(connection, target.wire ?? target.frame)
        }
        if (refusal === "resume_log_unavailable" && target.logRetries < logRetryLimit) {
          // The shared log is unreachable for now: the state is still kept, ask again a little later.
          const delay = Resume.delayMillis(socket.options.resume ?? defaultResume, target.logRetries++, yield* Random.next)
          return yield* Effect.sleep(delay).pipe(
            Effect.zipRight(Effect.suspend(() =>
              connection === socket.current && !target.settled && socket.lanes.head(target.lane) === target
                ? socket.write(connection, Resume.encodeResume(target.requestId, target.lastSeq))
                : Effect.void
            )),
            Effect.forkIn(socket.scope),
            Effect.asVoid
          )
        }
        target.notify?.({ _tag: "ResumeRefused", reason: refusal })
        socket.settle(target, Resume.refusalError(refusal, fromErrorFrame(obj, yield* Clock.currentTimeMillis)))
        socket.lanes.remove(target)
        yield* socket.pump()
        return yield* socket.maybeCloseRetired()
      }
      case "ConnectionLimit": {
        // The age limit: the gateway keeps this connection's state as for a drop (docs/resume.md §8), so the
        // running responses carry on over a new socket instead of being re-issued. Closing with a code other than
        // 1000 keeps the state.
        yield* connection.close(1001, "connection limit reached: resuming")
        return yield* socket.lost(connection, fromErrorFrame(obj, yield* Clock.currentTimeMillis))
      }
      case "Connection":
        // An error tied to no lane while only named lanes run: connection-level.
        return yield* socket.die(fromErrorFrame(obj, yield* Clock.currentTimeMillis))
    }
  })
