/**
 * The state of a connection that outlives its socket (lanes, queued and running responses, accepted requests,
 * held request bytes), the attachment of one socket to it, and its end.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { none as FiberIdNone } from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import type { Tenant } from "../../Auth.js"
import { type GatewayConfigShape } from "../../GatewayConfig.js"
import * as Turn from "../turn.js"
import * as Lanes from "../../Lanes.js"
import * as Metrics from "../../Metrics.js"
import * as RequestBudget from "../../RequestBudget.js"
import type { RequestRef, ResumeLogError, Writer } from "../../ResumeLog.js"
import type { ResumeOptions } from "../../ConnectionHandler.js"

/** The close code sent after `websocket_connection_limit_reached` ("going away": open a new connection). */
export const connectionLimitCloseCode = 1001

/** Only a client's `1000` is a clean close (docs/resume.md §3); the gateway never closes with 1000 while serving. */
export const isCleanClose = (code: number): boolean => code === 1000

// One accepted response: which attachment (socket) accepted it and its resume log.
export interface Output {
  readonly responseId: string
  readonly epoch: number
  writer: Writer | undefined
  readonly lock: (<A>(effect: Effect.Effect<A>) => Effect.Effect<A>) | undefined
}

// One socket attached to a session.
export interface Attachment {
  readonly epoch: number
  readonly send: (text: string) => Effect.Effect<void>
  readonly sendAll: (texts: ReadonlyArray<string>) => Effect.Effect<void>
  // Error answers not yet written (sent before anything else written to this socket, and at the end of each slice).
  readonly outbox: Array<string>
  readonly flush: Effect.Effect<void>
  // Error answers to this socket's own frames: a token bucket (`errorBurst`, refilled at `errorRate` per second).
  readonly errors: { tokens: number; at: number; closed: boolean }
  readonly close: (code: number, reason: string) => Effect.Effect<void>
  // Per lane, the end of the last operation that writes that lane's events to this socket (resumes and creates
  // are served in FIFO order per lane, so a lane's events never interleave).
  readonly tails: Map<string, Deferred.Deferred<void>>
  // Every tail not yet completed, completed when the socket goes (nothing waits for a dead socket's order).
  readonly open: Set<Deferred.Deferred<void>>
  readonly ops: FiberSet.FiberSet<void, never>
}

/**
 * The state of a connection that outlives its socket: lanes, queued and running responses, the lane caches (keyed
 * by the first socket's id) and the accepted requests.
 *
 * @internal
 */
export interface SessionState {
  token: string | undefined
  readonly tenant: Tenant
  readonly env: Turn.TurnEnv
  readonly config: GatewayConfigShape
  readonly resume: ResumeOptions | undefined
  readonly scheduler: Lanes.Scheduler<Effect.Effect<void>>
  readonly book: Lanes.LaneBook
  readonly running: Map<string, Turn.Running>
  readonly heldSteers: Map<string, { readonly parent: Turn.Running; readonly steers: Array<Turn.AcceptedSteer> }>
  readonly jobs: FiberSet.FiberSet<void, never>
  readonly requests: Map<string, RequestRef>
  readonly outputs: Map<string, Output>
  resumed: boolean
  attached: Attachment | undefined
  epoch: number
  attachSignal: Deferred.Deferred<void>
  claimedBy: string | undefined
  finished: boolean
  readonly done: Deferred.Deferred<void>
  // Request bytes this session holds in the gateway's `RequestBudget` (accepted creates not yet ended).
  readonly held: Set<{ readonly bytes: number }>
  heldBytes: number
}

export const releaseHeld = (state: SessionState, hold: { readonly bytes: number }): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!state.held.delete(hold)) return Effect.void
    state.heldBytes -= hold.bytes
    const budget = RequestBudget.forConfig(state.config)
    budget.release(state.tenant, hold.bytes)
    return Metric.set(RequestBudget.metrics.held, budget.total)
  })

export const ignoreLogError = (what: string) => (error: ResumeLogError) => Effect.logWarning(`resume log: ${what}`, error)

export const finish = (state: SessionState): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (state.finished) return Effect.void
    state.finished = true
    const lanes = state.book.size
    // Creates still queued never run: what they hold is released now.
    const releases = [...state.held].map((hold) => releaseHeld(state, hold))
    const sessions = state.resume?.sessions
    if (sessions !== undefined && state.token !== undefined && sessions.byToken.get(state.token) === state) {
      sessions.byToken.delete(state.token)
    }
    return Effect.zipRight(
      Effect.all([Metric.incrementBy(Metrics.lanesActive, -lanes), ...releases], { discard: true }),
      Deferred.succeed(state.done, undefined)
    )
  })

export const makeState = (
  base: {
    readonly env: Turn.TurnEnv
    readonly config: GatewayConfigShape
    readonly jobs: FiberSet.FiberSet<void, never>
    readonly resume: ResumeOptions | undefined
  }
): SessionState => {
  const claimed = base.resume?.claimed
  const state: SessionState = {
    token: base.resume?.session.token,
    tenant: base.env.tenant,
    env: base.env,
    config: base.config,
    resume: base.resume,
    scheduler: new Lanes.Scheduler<Effect.Effect<void>>(base.config.maxInFlight),
    book: new Lanes.LaneBook(base.config.maxLanes),
    running: new Map(),
    heldSteers: new Map(),
    jobs: base.jobs,
    requests: new Map(),
    outputs: new Map(),
    resumed: claimed !== undefined,
    attached: undefined,
    epoch: 0,
    attachSignal: Deferred.unsafeMake<void>(FiberIdNone),
    claimedBy: undefined,
    finished: false,
    done: Deferred.unsafeMake<void>(FiberIdNone),
    held: new Set(),
    heldBytes: 0
  }
  if (claimed !== undefined) {
    // Resumed from another process: the lost connection's requests and lane names; its caches stayed there.
    for (const lane of claimed.lanes) if (lane !== Lanes.defaultLane) state.book.admit(lane)
    for (const request of claimed.requests) state.requests.set(request.requestId, request)
  }
  return state
}
