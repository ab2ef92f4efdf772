/**
 * Lane scheduling of one socket: requests wait here, unsent, and go out in submission order, one at a time per
 * lane (`stream_id`; "" is the default lane) and at most `maxInFlight` at once. The server would queue a second
 * request on a busy lane anyway, and an error frame could then not be told from the running response's (some
 * servers reject a queued request at once). Plain data: no effect, no timer.
 *
 * @internal
 */
import { LaneBook } from "@loopwire/protocol/Lanes"
import * as Exit from "effect/Exit"
import type { ResponsesError } from "../../ResponsesError.js"
import type { Pending } from "./pending.js"

/** @internal */
export interface Lanes {
  /** Sent requests per lane, oldest first (only the head runs). */
  readonly running: Map<string, Array<Pending>>
  readonly waiting: Array<Pending>
  /** Requests sent and not finished. */
  readonly inFlight: () => number
  /** Whether a new named lane may be used (the socket's distinct-lane budget, the protocol's `LaneBook`); records it. */
  readonly admit: (lane: string) => boolean
  /** Takes the next request that may go out now (its lane idle, the in-flight budget not spent), marking it sent. */
  readonly takeNext: () => Pending | undefined
  /** The running request of a lane. */
  readonly head: (lane: string) => Pending | undefined
  /** Ends the head of a lane (its terminal came). */
  readonly finishHead: (lane: string) => void
  /** Takes a sent request off its lane. */
  readonly remove: (p: Pending) => void
  /** The request with this id among the sent ones. */
  readonly byId: (requestId: string) => Pending | undefined
  /** The running requests in send order. */
  readonly inOrder: () => Array<Pending>
  /** Fails every request, sent or waiting, and empties the lanes. */
  readonly failAll: (error: ResponsesError) => void
}

/** @internal */
export const make = (options: { readonly maxInFlight: number; readonly maxLanes: number }): Lanes => {
  const running = new Map<string, Array<Pending>>()
  const waiting: Array<Pending> = []
  const book = new LaneBook(options.maxLanes)
  let inFlight = 0
  let sendOrder = 0

  const fail = (p: Pending, error: ResponsesError) => {
    if (p.settled) return
    p.settled = true
    p.end(Exit.fail(error))
  }

  return {
    running,
    waiting,
    inFlight: () => inFlight,
    admit: (lane) => book.admit(lane) === "admitted",
    takeNext: () => {
      if (inFlight >= options.maxInFlight || waiting.length === 0) return undefined
      const index = waiting.findIndex((p) => (running.get(p.lane)?.length ?? 0) === 0)
      if (index === -1) return undefined
      const next = waiting.splice(index, 1)[0]!
      next.sent = true
      next.order = sendOrder++
      inFlight++
      let q = running.get(next.lane)
      if (q === undefined) {
        q = []
        running.set(next.lane, q)
      }
      q.push(next)
      return next
    },
    head: (lane) => running.get(lane)?.[0],
    finishHead: (lane) => {
      const q = running.get(lane)
      if (q === undefined || q.length === 0) return
      q.shift()
      if (q.length === 0) running.delete(lane)
      inFlight = Math.max(0, inFlight - 1)
    },
    remove: (p) => {
      const q = running.get(p.lane)
      const index = q?.indexOf(p) ?? -1
      if (q === undefined || index === -1) return
      q.splice(index, 1)
      if (q.length === 0) running.delete(p.lane)
      inFlight = Math.max(0, inFlight - 1)
    },
    byId: (requestId) => {
      for (const q of running.values()) for (const p of q) if (p.requestId === requestId) return p
      return undefined
    },
    inOrder: () => {
      const all: Array<Pending> = []
      for (const q of running.values()) if (q[0] !== undefined) all.push(q[0])
      return all.sort((a, b) => a.order - b.order)
    },
    failAll: (error) => {
      for (const q of running.values()) for (const p of q) fail(p, error)
      running.clear()
      for (const p of waiting) fail(p, error)
      waiting.length = 0
      inFlight = 0
    }
  }
}
