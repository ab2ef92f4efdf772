/**
 * The reader's per-frame step: parse, route by `stream_id` to the request running on that lane, drop what was
 * already delivered (at most once, in order, by `sequence_number`), validate, hand over. Plain code per frame; an
 * effect only for error frames and for a terminal that lets a waiting request go out or a retired socket close.
 *
 * @internal
 */
import { isTerminal } from "@loopwire/protocol/ServerEvent"
import type * as Connection from "@loopwire/transport/Connection"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { fromErrorFrame, ResponsesError } from "../../ResponsesError.js"
import { decodeEvent } from "../decode.js"
import * as ErrorFrame from "./errorFrame.js"
import type { Socket } from "./socket.js"

type Frame = Record<string, unknown> & { readonly type: string }

/**
 * Routes one chunk of frames (all that arrived since the reader last ran), each in order; a frame whose routing
 * returns an effect has it run before the next frame. Undefined: nothing to run (the usual chunk).
 *
 * @internal
 */
export const routeChunk = (
  socket: Socket,
  connection: Connection.Connection,
  chunk: Chunk.Chunk<string>
): Effect.Effect<void> | undefined => {
  const frames = Chunk.toReadonlyArray(chunk)
  const from = (start: number): Effect.Effect<void> | undefined => {
    for (let i = start; i < frames.length; i++) {
      const effect = route(socket, connection, frames[i]!)
      if (effect !== undefined) {
        return i + 1 < frames.length ? Effect.zipRight(effect, Effect.suspend(() => from(i + 1) ?? Effect.void)) : effect
      }
    }
    return undefined
  }
  return from(0)
}

/** @internal */
export const route = (socket: Socket, connection: Connection.Connection, text: string): Effect.Effect<void> | undefined => {
  if (connection !== socket.current) return undefined // a late frame of a replaced connection
  socket.lastInbound = socket.clock.unsafeCurrentTimeMillis()
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return socket.die(new ResponsesError({ reason: "Protocol", message: "The server sent a frame that is not JSON." }))
  }
  if (typeof raw !== "object" || raw === null || typeof (raw as any).type !== "string") {
    return socket.die(new ResponsesError({ reason: "Protocol", message: "The server sent a frame without a type." }))
  }
  const obj = raw as Frame
  const streamId = typeof obj.stream_id === "string" ? obj.stream_id : undefined
  const lane = streamId ?? ""
  if (obj.type !== "error") return deliver(socket, obj, lane, text)
  const verdict = ErrorFrame.classify(obj, {
    streamId,
    defaultLaneBusy: socket.lanes.head("") !== undefined,
    inFlight: socket.lanes.inFlight(),
    resumableDrop: socket.resumableDrop()
  })
  return verdict._tag === "Lane"
    ? deliver(socket, obj, lane)
    : ErrorFrame.handle(socket, connection, obj, lane, verdict)
}

/**
 * Hands a frame to the head request of its lane; an effect only when the lane's head finished and something
 * waits (or the socket is retired).
 *
 * @internal
 */
export const deliver = (
  socket: Socket,
  obj: Frame,
  lane: string,
  text?: string | undefined
): Effect.Effect<void> | undefined => {
  const head = socket.lanes.head(lane)
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
      socket.settle(head, fromErrorFrame(obj, socket.clock.unsafeCurrentTimeMillis()))
    } else {
      const decoded = decodeEvent(obj, text)
      if (Either.isLeft(decoded)) {
        socket.settle(
          head,
          new ResponsesError({ reason: "Protocol", message: `Undecodable ${obj.type} event: ${decoded.left.message}` })
        )
      } else {
        head.offer(decoded.right)
        if (head.resumed) head.notify?.({ _tag: "ResumedEvent" })
        if (terminal) socket.settle(head, undefined)
      }
    }
  }
  if (!terminal) return undefined
  socket.lanes.finishHead(lane)
  // Nothing waits and the socket is not retired (a turn's usual end): nothing to run.
  if (socket.lanes.waiting.length === 0 && !socket.retired) return undefined
  return Effect.zipRight(Effect.suspend(socket.pump), Effect.suspend(socket.maybeCloseRetired))
}
