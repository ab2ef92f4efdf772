/**
 * FIFO order per lane on one socket: resumes and creates of a lane write their events one after another.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { none as FiberIdNone } from "effect/FiberId"
import { type Attachment } from "./state.js"


export interface Turnstile {
  readonly previous: Deferred.Deferred<void> | undefined
  readonly mine: Deferred.Deferred<void>
}

export const enterLane = (attachment: Attachment, lane: string): Turnstile => {
  const previous = attachment.tails.get(lane)
  const mine = Deferred.unsafeMake<void>(FiberIdNone)
  attachment.tails.set(lane, mine)
  attachment.open.add(mine)
  return { previous, mine }
}

export const leaveLane = (attachment: Attachment, lane: string, turnstile: Turnstile): Effect.Effect<void> =>
  Effect.sync(() => {
    attachment.open.delete(turnstile.mine)
    if (attachment.tails.get(lane) === turnstile.mine) attachment.tails.delete(lane)
    Deferred.unsafeDone(turnstile.mine, Exit.void)
  })
