/**
 * A session's metrics and event stream: plain counters bumped in place, and events offered synchronously to the
 * session's `PubSub` (an unbounded one never suspends), so counting and publishing cost no effect per turn.
 *
 * @internal
 */
import * as PubSub from "effect/PubSub"
import type { Metrics, SessionEvent } from "../../Session.js"

/** @internal */
export type Counts = { -readonly [K in keyof Metrics]: Metrics[K] }

/** @internal */
export interface Counters {
  /** The live counters, bumped in place. */
  readonly counts: Counts
  /** A copy of the counters. */
  readonly snapshot: () => Metrics
  readonly publish: (event: SessionEvent) => void
}

/** @internal */
export const make = (pubsub: PubSub.PubSub<SessionEvent>): Counters => {
  const counts: Counts = {
    turns: 0,
    deltaRequests: 0,
    fullRequests: 0,
    reconnects: 0,
    fullResends: 0,
    rotations: 0,
    retries: 0,
    httpFallback: false,
    bytesSent: 0,
    bytesFullResend: 0,
    resumes: 0,
    resent: 0,
    resumeRefusals: 0,
    resumedEvents: 0,
    duplicatesDropped: 0
  }
  return {
    counts,
    snapshot: () => ({ ...counts }),
    publish: (event) => {
      pubsub.unsafeOffer(event)
    }
  }
}
