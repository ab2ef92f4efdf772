/**
 * One request on a socket, from submission to its terminal event, and what the multiplexer reports about it.
 *
 * @internal
 */
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import type * as Exit from "effect/Exit"
import { randomBytes } from "node:crypto"
import type { ResponsesError } from "../../ResponsesError.js"
import type * as Resume from "../../Resume.js"

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
export interface Pending {
  readonly lane: string
  /** The frame as built by the caller (untagged). */
  readonly frame: string
  /** Unique per request for the client's lifetime; sent only to servers that offered resume. */
  readonly requestId: string
  /** The frame as first written (tagged when the socket offered resume); re-sent as is. */
  wire: string | undefined
  /** Hands one event to the consumer (a callback from the reader, or a mailbox read as a stream). */
  readonly offer: (event: ServerEvent.ServerEvent) => void
  /** Ends the consumer's wait: success after the terminal event, or the request's error. */
  readonly end: (exit: Exit.Exit<void, ResponsesError>) => void
  readonly notify: ((notice: Notice) => void) | undefined
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
  /** The idle timeout, watched by the socket's one watchdog (undefined: none). */
  readonly idle: Idle | undefined
  /** When the request was submitted: the idle timeout runs from the later of this and the socket's last sign of life. */
  readonly submittedAt: number
}

// Unique for the process's lifetime: a random prefix and a counter.
const idPrefix = `lwr_${randomBytes(9).toString("base64url")}`
let idCounter = 0

/** @internal */
export const nextRequestId = (): string => `${idPrefix}${(idCounter++).toString(36)}`
