/**
 * A socket's requests from the caller's side: queue one (plain code: admission to its lane, the frame handed to
 * the lanes, the watchdog told), then either hand its events to a callback (`run`, a session's turn: one
 * `Effect.async` wait, resumed by the terminal) or read them as a stream (`submit`, a mailbox).
 *
 * @internal
 */
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import { ResponsesError } from "../../ResponsesError.js"
import type { Mux } from "../mux.js"
import { nextRequestId } from "./pending.js"
import type { Idle, Notice, Pending } from "./pending.js"
import type { Socket } from "./socket.js"
import type { Watchdog } from "./watchdog.js"

/** @internal */
export const make = (options: {
  readonly socket: Socket
  readonly watchdog: Watchdog
  /** The writes of what may go out now (none: undefined). */
  readonly pumpNow: () => Effect.Effect<void> | undefined
}): Pick<Mux, "run" | "submit"> => {
  const { pumpNow, socket, watchdog } = options
  const clock = socket.clock
  // Queues a request (plain code) and answers what must run for it: the writes of what may go out now, and the
  // watchdog's start when this timeout is the socket's earliest. A string is the refusal.
  const enqueue = (
    frame: string,
    lane: string | undefined,
    notify: ((notice: Notice) => void) | undefined,
    offer: (event: ServerEvent.ServerEvent) => void,
    end: (exit: Exit.Exit<void, ResponsesError>) => void,
    idle: Idle | undefined
  ): { readonly pending: Pending; readonly effect: Effect.Effect<void> | undefined } | ResponsesError => {
    if (socket.dead !== undefined) return socket.dead
    if (socket.retired) {
      return new ResponsesError({ reason: "ConnectionLost", message: "The connection is being rotated." })
    }
    const key = lane ?? ""
    if (!socket.lanes.admit(key)) {
      return new ResponsesError({
        reason: "LaneLimit",
        message: `This connection already used ${socket.options.maxLanes} distinct stream ids.`,
        streamId: key
      })
    }
    const pending: Pending = {
      lane: key,
      frame,
      requestId: nextRequestId(),
      wire: undefined,
      offer,
      end,
      notify,
      sent: false,
      order: -1,
      lastSeq: -1,
      resumed: false,
      logRetries: 0,
      settled: false,
      idle,
      submittedAt: clock.unsafeCurrentTimeMillis()
    }
    socket.lanes.waiting.push(pending)
    const watching = idle === undefined ? undefined : watchdog.watch(pending)
    const writes = pumpNow()
    return {
      pending,
      effect: watching === undefined ? writes : writes === undefined ? watching : Effect.zipRight(watching, writes)
    }
  }

  const submit: Mux["submit"] = (frame, lane, notify) =>
    Effect.flatMap(Mailbox.make<ServerEvent.ServerEvent, ResponsesError>(), (mailbox) => {
      const queued = enqueue(
        frame,
        lane,
        notify,
        (event) => mailbox.unsafeOffer(event),
        (exit) => mailbox.unsafeDone(exit),
        undefined
      )
      if (queued instanceof ResponsesError) return Effect.fail(queued)
      const stream = Mailbox.toStream(mailbox)
      return queued.effect === undefined ? Effect.succeed(stream) : Effect.as(queued.effect, stream)
    })

  // No mailbox and no Deferred: events go to the sink from the reader, and the end resumes the one wait. An
  // interrupted wait hands over no more events (the request keeps its lane until its terminal, as the server
  // still runs it).
  const run: Mux["run"] = (frame, lane, sink, notify, idle) =>
    Effect.suspend(() => {
      let resume: ((exit: Exit.Exit<void, ResponsesError>) => void) | undefined
      let ended: Exit.Exit<void, ResponsesError> | undefined
      const queued = enqueue(frame, lane, notify, sink, (exit) => {
        if (resume === undefined) ended = exit
        else resume(exit)
      }, idle)
      if (queued instanceof ResponsesError) return Effect.fail(queued)
      const wait = Effect.async<void, ResponsesError>((cb) => {
        if (ended !== undefined) return cb(ended)
        resume = cb
      })
      // Interrupted while writing or waiting: its events are no longer handed over.
      const abandon = Effect.sync(() => {
        const p = queued.pending
        if (p.settled) return
        p.settled = true
        if (p.idle !== undefined) watchdog.unwatch(p)
      })
      return Effect.onInterrupt(queued.effect === undefined ? wait : Effect.zipRight(queued.effect, wait), () => abandon)
    })

  return { run, submit }
}
