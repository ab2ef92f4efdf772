/**
 * The per-connection protocol handler of WebSocket mode. It runs over any transport `Connection` (a real
 * WebSocket upgrade, an in-memory pair in tests, a fault-injecting wrapper), so every protocol rule is tested
 * without sockets.
 *
 * What it does with each inbound frame: decode with the protocol codec (a bad frame gets the documented 400
 * `error` frame and the connection stays usable); put a `response.create` on its lane (`stream_id`; FIFO per
 * lane, at most `maxInFlight` running across lanes, at most `maxLanes` named lanes); run it (continuation from
 * the connection's `StateCache`, else the tenant's `ResponseStore` when `store` is not false); number its events
 * per response and tag them with the lane. `response.steer` is answered with `response.steer.failed`
 * (`steering_not_supported`) unless the backend steers; with a steering backend an accepted steer ends the
 * running response at its next item boundary and the gateway starts its successor on the same lane (or, when the
 * response ended with tool calls, `response.steer.pending` and the steer input joins the lane's next continuation).
 * After `maxConnectionAge` the connection gets `websocket_connection_limit_reached` and is closed (1001).
 *
 * Reconnect-with-resume (docs/resume.md), when the gateway passes `resume`: every accepted request is recorded in
 * the `ResumeLog` and every event appended to it (the frame text exactly as written) before it is written; a
 * connection that drops (anything but the client's 1000) keeps its session for the grace period, its responses
 * running to their end into the log; a connection that claimed it adopts it; `loopwire.resume` replays a
 * response's log then follows it live, in FIFO order with the lane's requests; a `response.create` whose
 * `loopwire_request_id` was already accepted is answered as a resume from the start.
 *
 *
 * The implementation is split by concern under `internal/connection/`: `state` (the session that outlives its socket),
 * `socket` (reading frames in fair slices, the age limit, the close rule), `frames` (what each client frame does),
 * `jobs` (running requests on their lanes), `output` (events to the resume log and the socket), `laneOrder` (FIFO
 * per lane on one socket) and `errorBudget`. The per-event path is plain code: a turn hands each batch of encoded
 * frames to `output`, which appends them to the log and writes them to the socket as one write.
 *
 * @since 0.1.0
 */
import type * as Connection from "@loopwire/transport/Connection"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import type { Tenant } from "./Auth.js"
import * as Drain from "./Drain.js"
import { GatewayConfig } from "./GatewayConfig.js"
import * as ErrorBudget from "./internal/connection/errorBudget.js"
import * as Socket from "./internal/connection/socket.js"
import * as State from "./internal/connection/state.js"
import type * as Turn from "./internal/turn.js"
import * as Metrics from "./Metrics.js"
import { ModelBackend } from "./ModelBackend.js"
import { ResponseStore } from "./ResponseStore.js"
import type { ClaimedSession, SessionRef, Shape as ResumeLogShape } from "./ResumeLog.js"
import { StateCache } from "./StateCache.js"

/**
 * What the handler needs from its environment.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = GatewayConfig | ModelBackend | StateCache | ResponseStore

/**
 * The connections of one gateway process whose state may still be resumed, by resume token. One per gateway
 * (`Gateway.upgradeHandler` makes it); a resume that lands on another process finds nothing here and starts from
 * what the shared `ResumeLog` handed over.
 *
 * @since 0.1.0
 * @category models
 */
export class Sessions {
  /** @internal */
  readonly byToken = new Map<string, State.SessionState>()
  /** Sessions held (live, or dropped and within their grace period). */
  get size(): number {
    return this.byToken.size
  }
}

/**
 * Reconnect-with-resume for one connection (docs/resume.md). Without it the connection speaks exactly the
 * standard protocol and keeps nothing after it ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResumeOptions {
  readonly log: ResumeLogShape
  readonly sessions: Sessions
  /** This connection's resume session (its token, sent in the 101). */
  readonly session: SessionRef
  /** How long a dropped connection's state is kept. */
  readonly grace: Duration.DurationInput
  /** What the upgrade's `loopwire-resume-token` claimed, when it claimed something (`loopwire-resumed: 1`). */
  readonly claimed?: ClaimedSession | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface HandleOptions {
  /** The tenant the connection authenticated as (scopes stored responses). */
  readonly tenant: Tenant
  /** Reconnect-with-resume; absent = off. */
  readonly resume?: ResumeOptions | undefined
}

/**
 * The close code sent after `websocket_connection_limit_reached` ("going away": open a new connection).
 *
 * @since 0.1.0
 * @category constants
 */
export const connectionLimitCloseCode: number = State.connectionLimitCloseCode

/**
 * Whether a connection that ended with `code` ended cleanly: only a client's `1000` does (docs/resume.md §3). The
 * gateway never closes with 1000 itself while serving, so a 1000 is the client's.
 *
 * @since 0.1.0
 * @category decisions
 */
export const isCleanClose: (code: number) => boolean = State.isCleanClose


/**
 * The close code of a connection that exceeded its error budget (`too_many_errors`): 1008, policy violation.
 *
 * @since 0.1.0
 * @category constants
 */
export const tooManyErrorsCloseCode: number = ErrorBudget.tooManyErrorsCloseCode

/**
 * `loopwire_connections_closed_for_errors` (exposed as `_total`): connections closed with {@link tooManyErrorsCloseCode}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const closedForErrors = ErrorBudget.closedForErrors

/**
 * Whether an error answer fits the budget: a token bucket of `burst` answers refilled at `rate` per second.
 * Returns the bucket after the answer, or undefined when it is exhausted. Pure.
 *
 * @since 0.1.0
 * @category decisions
 */
export const chargeError: (
  bucket: { readonly tokens: number; readonly at: number },
  now: number,
  burst: number,
  rate: number
) => { readonly tokens: number; readonly at: number } | undefined = ErrorBudget.chargeError

/**
 * Frames one connection handles before it yields to the event loop (other sockets' reads and writes, timers): a
 * pipelined flood delays other connections by at most this many frames' work. The error answers of a slice go out
 * as one write.
 *
 * @since 0.1.0
 * @category constants
 */
export const framesPerTurn: number = Socket.framesPerTurn


/**
 * Serves one connection until it closes (or reaches its age limit). Never fails: a failure inside one request is
 * reported on the wire and stays within that request, and nothing here affects other connections.
 *
 * With `resume`, a connection that drops keeps its state for the grace period (its responses run to their end
 * into the resume log), and a connection whose upgrade claimed a dropped one on this process adopts its state:
 * lanes, lane caches, queued and running responses, accepted requests.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handle = (connection: Connection.Connection, options: HandleOptions): Effect.Effect<void, never, Requirements> =>
  Effect.suspend(() => {
    const resume = options.resume
    const sessions = resume?.sessions
    if (resume !== undefined && sessions !== undefined) {
      const claimed = resume.claimed
      // The claimed session's state, or the presented token's when the claim followed a reconnect that never got
      // through (its upgrade was abandoned before `handle`, so the state was never moved to its token).
      const claimedToken = claimed === undefined
        ? undefined
        : sessions.byToken.has(claimed.token)
        ? claimed.token
        : claimed.presented
      const lost = claimedToken === undefined ? undefined : sessions.byToken.get(claimedToken)
      if (claimedToken !== undefined && lost !== undefined && !lost.finished && lost.tenant === options.tenant) {
        // Adopt the lost connection's state; the fiber that owns it keeps it alive until it is finished.
        sessions.byToken.delete(claimedToken)
        lost.claimedBy = resume.session.token
        lost.token = resume.session.token
        lost.resumed = true
        sessions.byToken.set(resume.session.token, lost)
        return Socket.serveSocket(lost, connection, true)
      }
    }
    return owned(connection, options)
  })

// A new session, owned by this fiber: its responses run in one scope, which closes once the session is finished
// (interrupting what still runs), then its lane caches are dropped. Plain continuations and one cleanup (no
// generator, no nested scopes): an idle connection's fiber keeps a short stack.
const owned = (connection: Connection.Connection, options: HandleOptions): Effect.Effect<void, never, Requirements> =>
  Effect.flatMap(Effect.context<Requirements>(), (context) => {
    const config = Context.get(context, GatewayConfig)
    const cache = Context.get(context, StateCache)
    return Effect.flatMap(Drain.current, (drain) => {
      const env: Turn.TurnEnv = {
        connectionId: connection.id,
        tenant: options.tenant,
        config,
        backend: Context.get(context, ModelBackend),
        cache,
        store: Context.get(context, ResponseStore),
        drain
      }
      const scope = Effect.runSync(Scope.make())
      const jobs = Effect.runSync(Scope.extend(FiberSet.make<void, never>(), scope))
      const state = State.makeState({ env, config, jobs, resume: options.resume })
      if (state.token !== undefined) options.resume?.sessions.byToken.set(state.token, state)
      const serve = Effect.zipRight(
        Socket.serveSocket(state, connection, options.resume?.claimed !== undefined),
        Deferred.await(state.done)
      )
      // The session's cached responses count against its tenant's cache budget (unbound by `closeConnection`).
      const bound = Effect.zipRight(cache.bindTenant(connection.id, options.tenant), serve)
      return Effect.onExit(
        // A claimed session from another process arrives with its lanes.
        state.book.size > 0 ? Effect.zipRight(Metric.incrementBy(Metrics.lanesActive, state.book.size), bound) : bound,
        // The session ends, every response fiber goes, then the session's warm state is dropped.
        (exit) => Effect.zipRight(Effect.zipRight(State.finish(state), Scope.close(scope, exit)), cache.closeConnection(connection.id))
      )
    })
  })
