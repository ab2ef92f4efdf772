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
 * @since 0.1.0
 */
import * as ProtocolError from "@loopwire/protocol/ProtocolError"
import type { FrameLimits } from "@loopwire/protocol/FrameLimits"
import type { OutputItem } from "@loopwire/protocol/Items"
import { type ErrorEnvelope, type ServerEvent, withEnvelope } from "@loopwire/protocol/ServerEvent"
import * as Connection from "@loopwire/transport/Connection"
import * as Cause from "effect/Cause"
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
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Tenant } from "./Auth.js"
import * as Drain from "./Drain.js"
import { GatewayConfig, type GatewayConfigShape } from "./GatewayConfig.js"
import * as Chain from "./internal/chain.js"
import * as Protocol from "./internal/protocol.js"
import * as Turn from "./internal/turn.js"
import * as Lanes from "./Lanes.js"
import * as Metrics from "./Metrics.js"
import * as RequestBudget from "./RequestBudget.js"
import { ModelBackend } from "./ModelBackend.js"
import { ResponseStore } from "./ResponseStore.js"
import type {
  ClaimedSession,
  RequestRef,
  ResumeLogError,
  SessionRef,
  Shape as ResumeLogShape,
  Writer
} from "./ResumeLog.js"
import { StateCache } from "./StateCache.js"

interface RunResult {
  readonly outcome: Turn.Outcome
  readonly started: Turn.Running | undefined
}

const isToolCall = (
  item: OutputItem
): item is OutputItem & { readonly type: string; readonly call_id: string; readonly name: string } =>
  (item.type === "function_call" || item.type === "custom_tool_call") && typeof item["call_id"] === "string"

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
  readonly byToken = new Map<string, SessionState>()
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
export const connectionLimitCloseCode = 1001

/**
 * Whether a connection that ended with `code` ended cleanly: only a client's `1000` does (docs/resume.md §3). The
 * gateway never closes with 1000 itself while serving, so a 1000 is the client's.
 *
 * @since 0.1.0
 * @category decisions
 */
export const isCleanClose = (code: number): boolean => code === 1000

// One accepted response: which attachment (socket) accepted it and its resume log.
interface Output {
  readonly responseId: string
  readonly epoch: number
  writer: Writer | undefined
  readonly lock: (<A>(effect: Effect.Effect<A>) => Effect.Effect<A>) | undefined
}

// One socket attached to a session.
interface Attachment {
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

const releaseHeld = (state: SessionState, hold: { readonly bytes: number }): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!state.held.delete(hold)) return Effect.void
    state.heldBytes -= hold.bytes
    const budget = RequestBudget.forConfig(state.config)
    budget.release(state.tenant, hold.bytes)
    return Metric.set(RequestBudget.metrics.held, budget.total)
  })

const ignoreLogError = (what: string) => (error: ResumeLogError) => Effect.logWarning(`resume log: ${what}`, error)

const finish = (state: SessionState): Effect.Effect<void> =>
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

// --- writing events -------------------------------------------------------------------------------------------

// The socket write of a response: only while the socket that accepted it is attached (after a drop the client
// gets the rest with `loopwire.resume`, from the log).
const deliver = (state: SessionState, output: Output, text: string): Effect.Effect<void> => {
  const attached = state.attached
  return attached !== undefined && attached.epoch === output.epoch ? attached.send(text) : Effect.void
}

const deliverAll = (state: SessionState, output: Output, frames: ReadonlyArray<Turn.Frame>): Effect.Effect<void> => {
  const attached = state.attached
  if (attached === undefined || attached.epoch !== output.epoch) return Effect.void
  return frames.length === 1 ? attached.send(frames[0]!.text) : attached.sendAll(frames.map((frame) => frame.text))
}

// Appended before it is written, so the log holds every event the client may have seen.
const record = (output: Output, sequenceNumber: number, text: string): Effect.Effect<void> =>
  output.writer === undefined
    ? Effect.void
    : Effect.catchAll(output.writer.append(sequenceNumber, text), ignoreLogError("append failed"))

const recordAll = (writer: Writer, frames: ReadonlyArray<Turn.Frame>): Effect.Effect<void> =>
  frames.length === 1
    ? Effect.catchAll(writer.append(frames[0]!.seq, frames[0]!.text), ignoreLogError("append failed"))
    : Effect.catchAll(
      Effect.forEach(frames, (frame) => writer.append(frame.seq, frame.text), { discard: true }),
      ignoreLogError("append failed")
    )

// The turn encoded each event once; its text goes to the log, then to the socket, a batch at a time.
const sinkFor = (state: SessionState, output: Output): Turn.Sink => (frames) => {
  const writer = output.writer
  return writer === undefined
    ? deliverAll(state, output, frames)
    : Effect.zipRight(recordAll(writer, frames), Effect.suspend(() => deliverAll(state, output, frames)))
}

const beginOutput = (
  state: SessionState,
  lane: string,
  requestId: string | undefined,
  epoch: number
): Effect.Effect<Output> =>
  Effect.gen(function*() {
    const responseId = Turn.responseId()
    const lock = state.env.backend.supportsSteering ? (yield* Effect.makeSemaphore(1)).withPermits(1) : undefined
    const output: Output = { responseId, epoch, writer: undefined, lock }
    state.outputs.set(responseId, output)
    const resume = state.resume
    if (resume !== undefined && state.token !== undefined) {
      output.writer = yield* resume.log.begin({
        session: { tenant: state.tenant, token: state.token },
        responseId,
        lane,
        requestId
      }).pipe(
        Effect.catchAll((error) => Effect.as(ignoreLogError("begin failed")(error), undefined))
      )
    }
    return output
  })

const endOutput = (state: SessionState, output: Output): Effect.Effect<void> =>
  Effect.suspend(() => {
    state.outputs.delete(output.responseId)
    return output.writer === undefined ? Effect.void : Effect.catchAll(output.writer.end, ignoreLogError("end failed"))
  })

const steerEvent = (state: SessionState, target: Turn.Running, event: Turn.WireEvent): Effect.Effect<void> => {
  const output = state.outputs.get(target.id)
  const write = Effect.suspend(() => {
    const seq = target.seq++
    const text = JSON.stringify(withEnvelope(event as ServerEvent, seq, target.streamId))
    if (output === undefined) {
      const attached = state.attached
      return attached === undefined ? Effect.void : attached.send(text)
    }
    return sinkFor(state, output)([{ type: event.type, seq, text }])
  })
  return output?.lock === undefined ? write : output.lock(write)
}

// --- lane order on one socket -----------------------------------------------------------------------------------

interface Turnstile {
  readonly previous: Deferred.Deferred<void> | undefined
  readonly mine: Deferred.Deferred<void>
}

const enterLane = (attachment: Attachment, lane: string): Turnstile => {
  const previous = attachment.tails.get(lane)
  const mine = Deferred.unsafeMake<void>(FiberIdNone)
  attachment.tails.set(lane, mine)
  attachment.open.add(mine)
  return { previous, mine }
}

const leaveLane = (attachment: Attachment, lane: string, turnstile: Turnstile): Effect.Effect<void> =>
  Effect.sync(() => {
    attachment.open.delete(turnstile.mine)
    if (attachment.tails.get(lane) === turnstile.mine) attachment.tails.delete(lane)
    Deferred.unsafeDone(turnstile.mine, Exit.void)
  })

// --- running requests -----------------------------------------------------------------------------------------

// When a job ends, its lane's next job (or another lane's, for the freed slot) starts. Not from a finalizer:
// fibers forked there would inherit its uninterruptibility. An interrupted job needs no successor (the session is
// going away).
const start = (state: SessionState, started: ReadonlyArray<Lanes.Started<Effect.Effect<void>>>): Effect.Effect<void> =>
  Effect.forEach(started, ({ job, lane }) =>
    FiberSet.run(
      state.jobs,
      Effect.zipRight(job, Effect.suspend(() => start(state, state.scheduler.complete(lane))))
    ), { discard: true })

const runOne = (
  state: SessionState,
  request: Protocol.ResponseCreate,
  lane: string,
  streamId: string | undefined,
  output: Output
): Effect.Effect<RunResult> =>
  Effect.gen(function*() {
    let started = undefined as Turn.Running | undefined
    const outcome = yield* Turn.run(state.env, request, {
      lane,
      streamId,
      responseId: output.responseId,
      lock: output.lock,
      sink: sinkFor(state, output),
      onStart: (r) => {
        started = r
        state.running.set(r.id, r)
      },
      onEnd: (r) => state.running.delete(r.id)
    })
    // (A failed continuation has already evicted its same-lane parent.) Nothing of the response was sent, so the
    // error frame takes the first number in its log.
    if (outcome._tag === "Rejected") {
      const text = JSON.stringify(outcome.error)
      yield* record(output, 0, text)
      yield* deliver(state, output, text)
    }
    yield* endOutput(state, output)
    return { outcome, started }
  })

const job = (
  state: SessionState,
  first: Protocol.ResponseCreate,
  lane: string,
  streamId: string | undefined,
  firstOutput: Output,
  turnstile: Turnstile | undefined
): Effect.Effect<void> =>
  Effect.gen(function*() {
    // A resume served before this request on its lane finishes writing first.
    if (turnstile?.previous !== undefined) yield* Deferred.await(turnstile.previous)
    let request: Protocol.ResponseCreate | undefined = first
    let output = firstOutput
    const held = state.heldSteers.get(lane)
    if (held !== undefined) {
      state.heldSteers.delete(lane)
      if (first.previous_response_id === held.parent.id) {
        // The steer input goes first, then the client's tool outputs.
        const items = held.steers.flatMap((steer) => steer.items)
        request = { ...first, input: [...items, ...Chain.inputItems(first.input)] }
      } else {
        // The lane moved on without continuing the steered response: its steers will never apply.
        for (const steer of held.steers) {
          yield* steerEvent(
            state,
            held.parent,
            Protocol.steerFailedFor(
              held.parent.id,
              steer,
              "The steered response was not continued on its lane, so the steer was not applied."
            )
          )
        }
      }
    }
    // One create, plus the automatic successors of its steers.
    while (request !== undefined) {
      const result: RunResult = yield* runOne(state, request, lane, streamId, output)
      const { outcome, started } = result
      request = undefined
      if (started === undefined || started.steers.length === 0) break
      const steers: Array<Turn.AcceptedSteer> = started.steers.splice(0)
      if (outcome._tag !== "Finished" || outcome.status === "failed") {
        for (const steer of steers) {
          yield* steerEvent(
            state,
            started,
            Protocol.steerFailedFor(started.id, steer, "The steered response failed before the steer was applied.")
          )
        }
        break
      }
      const calls = outcome.response.output.filter(isToolCall)
      if (calls.length > 0) {
        for (const steer of steers) {
          yield* steerEvent(state, started, {
            type: "response.steer.pending",
            steer: { id: steer.id, previous_response_id: started.id },
            reason: "waiting_for_required_input",
            required_input: calls.map((call) => ({
              type: `${call.type}_output`,
              call_id: call.call_id,
              name: call.name
            }))
          })
        }
        state.heldSteers.set(lane, { parent: started, steers })
        break
      }
      // The successor inherits the parent's settings; its new input is the steer input.
      const parentRequest: Protocol.ResponseCreate = started.request
      const {
        generate: _generate,
        input: _input,
        loopwire_request_id: _requestId,
        previous_response_id: _parent,
        ...settings
      } = parentRequest
      request = {
        ...settings,
        type: "response.create",
        previous_response_id: started.id,
        input: steers.flatMap((steer) => steer.items)
      }
      output = yield* beginOutput(state, lane, undefined, output.epoch)
    }
  }).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logError("response failed", cause)
    )
  )

// --- frames -----------------------------------------------------------------------------------------------------

const resumeStreamId = (ref: RequestRef) => ref.lane === Lanes.defaultLane ? undefined : ref.lane

const resumeFailure = (
  requestId: string,
  startingAfter: number,
  error: ResumeLogError,
  streamId: string | undefined
): ErrorEnvelope => {
  switch (error.reason) {
    case "Truncated":
      return ProtocolError.resumeLogTruncated(requestId, startingAfter, streamId)
    case "Unavailable":
      return ProtocolError.resumeLogUnavailable(requestId, streamId)
    case "Abandoned":
      return ProtocolError.resumeNotAvailable(requestId, "Abandoned", streamId)
    default:
      return ProtocolError.resumeNotAvailable(requestId, "Expired", streamId)
  }
}

// The events of request `requestId` after `startingAfter`, from its log then live, in FIFO order on its lane.
const onResume = (
  state: SessionState,
  attachment: Attachment,
  requestId: string,
  startingAfter: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const resume = state.resume
    const sendFrame = (frame: ErrorEnvelope) =>
      Effect.zipRight(
        Metric.increment(Metric.tagged(Metrics.resumeRequests, "result", "refused")),
        attachment.send(JSON.stringify(frame))
      )
    if (resume === undefined || state.token === undefined) {
      return yield* sendFrame(ProtocolError.resumeNotAvailable(requestId, "NotResumed"))
    }
    let ref = state.requests.get(requestId)
    if (ref === undefined && state.resumed) {
      // A request the lost connection accepted as the claim happened (recorded in the shared log only).
      const found = yield* resume.log.findRequest({ tenant: state.tenant, token: state.token }, requestId).pipe(
        Effect.either
      )
      if (Either.isLeft(found)) {
        return yield* sendFrame(ProtocolError.resumeLogUnavailable(requestId))
      }
      ref = Option.getOrUndefined(found.right)
      if (ref !== undefined) state.requests.set(requestId, ref)
    }
    if (ref === undefined) {
      return yield* sendFrame(
        state.resumed
          ? ProtocolError.resumeRequestUnknown(requestId)
          : ProtocolError.resumeNotAvailable(requestId, "NotResumed")
      )
    }
    const streamId = resumeStreamId(ref)
    const turnstile = enterLane(attachment, ref.lane)
    const responseId = ref.responseId
    const replay = Effect.gen(function*() {
      if (turnstile.previous !== undefined) yield* Deferred.await(turnstile.previous)
      yield* resume.log.read(state.tenant, responseId, startingAfter).pipe(
        Stream.runForEach(attachment.send),
        Effect.zipRight(Metric.increment(Metric.tagged(Metrics.resumeRequests, "result", "replayed"))),
        Effect.catchAll((error) => sendFrame(resumeFailure(requestId, startingAfter, error, streamId)))
      )
    }).pipe(
      Effect.ensuring(leaveLane(attachment, ref.lane, turnstile)),
      Effect.withSpan("loopwire.resume", {
        attributes: {
          "loopwire.request.id": requestId,
          "loopwire.response.id": responseId,
          "loopwire.resume.starting_after": startingAfter,
          "loopwire.lane": streamId ?? "default"
        }
      })
    )
    yield* FiberSet.run(attachment.ops, replay)
  })

const onCreate = (
  state: SessionState,
  attachment: Attachment,
  request: Protocol.ResponseCreate,
  frameBytes: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const config = state.config
    const streamId = request.stream_id ?? undefined
    const requestId = state.resume === undefined ? undefined : request.loopwire_request_id
    // A request this session already accepted is never started again: it is answered as a resume from the start.
    if (requestId !== undefined && state.requests.has(requestId)) {
      return yield* onResume(state, attachment, requestId, -1)
    }
    const send = (frame: ErrorEnvelope) => refuse(state, attachment, frame)
    if (request.background === true) return yield* send(Protocol.backgroundUnsupported(streamId))
    const lanesBefore = state.book.size
    if (state.book.admit(streamId) === "stream_limit_reached") {
      return yield* send(Protocol.streamLimitReached(streamId!, config.maxLanes))
    }
    if (state.book.size > lanesBefore) yield* Metric.increment(Metrics.lanesActive)
    if (state.scheduler.queued >= config.maxQueued) {
      return yield* send(Protocol.tooManyQueued(config.maxQueued, streamId))
    }
    const budget = RequestBudget.forConfig(config)
    const refused = budget.hold(state.tenant, state.heldBytes, frameBytes)
    if (refused !== undefined) {
      yield* Metric.increment(Metric.tagged(RequestBudget.metrics.refused, "budget", refused as string))
      const limit = refused === "connection"
        ? config.maxHeldRequestBytes
        : refused === "tenant"
        ? config.maxTenantHeldRequestBytes
        : config.maxTotalHeldRequestBytes
      const who = refused === "connection" ? "connection" : refused === "tenant" ? "tenant" : "gateway"
      return yield* send(Protocol.requestBytesLimitReached(who, limit, streamId))
    }
    const hold = { bytes: frameBytes }
    state.held.add(hold)
    state.heldBytes += frameBytes
    yield* Metric.set(RequestBudget.metrics.held, budget.total)
    const lane = Lanes.laneOf(streamId)
    // Recorded (and its log begun) when accepted, before any event, so a queued request is known to a resume.
    const output = yield* beginOutput(state, lane, requestId, attachment.epoch)
    if (requestId !== undefined) state.requests.set(requestId, { requestId, responseId: output.responseId, lane })
    const turnstile = state.resume === undefined ? undefined : enterLane(attachment, lane)
    const work = Effect.ensuring(
      turnstile === undefined
        ? job(state, request, lane, streamId, output, undefined)
        : Effect.ensuring(job(state, request, lane, streamId, output, turnstile), leaveLane(attachment, lane, turnstile)),
      releaseHeld(state, hold)
    )
    yield* start(state, state.scheduler.submit(lane, work))
  })

const onSteer = (state: SessionState, attachment: Attachment, steer: Protocol.ResponseSteer): Effect.Effect<void> => {
  const target = state.running.get(steer.previous_response_id)
  const env = state.env
  if (!env.backend.supportsSteering || target === undefined) {
    const code = !env.backend.supportsSteering ? "steering_not_supported" : "response_not_found"
    if (target === undefined) {
      // Steer events share the numbering of the response they target; there is none.
      const failed = Protocol.steerFailed(steer, code, undefined)
      return attachment.send(JSON.stringify({ ...failed, sequence_number: 0 }))
    }
    return steerEvent(state, target, Protocol.steerFailed(steer, code, undefined))
  }
  if (target.steers.length >= state.config.maxPendingSteers) {
    return steerEvent(state, target, Protocol.steerFailed(steer, "too_many_pending_steers", undefined))
  }
  const accepted: Turn.AcceptedSteer = { id: Protocol.steerId(), items: Chain.inputItems(steer.input) }
  target.steers.push(accepted)
  return steerEvent(state, target, {
    type: "response.steer.accepted",
    steer: { id: accepted.id, previous_response_id: target.id }
  })
}

/**
 * The close code of a connection that exceeded its error budget (`too_many_errors`): 1008, policy violation.
 *
 * @since 0.1.0
 * @category constants
 */
export const tooManyErrorsCloseCode = 1008

/**
 * `loopwire_connections_closed_for_errors` (exposed as `_total`): connections closed with {@link tooManyErrorsCloseCode}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const closedForErrors = Metric.counter("loopwire_connections_closed_for_errors", {
  description: "Connections closed with 1008 after their error budget (too_many_errors).",
  incremental: true
})

/**
 * Whether an error answer fits the budget: a token bucket of `burst` answers refilled at `rate` per second.
 * Returns the bucket after the answer, or undefined when it is exhausted. Pure.
 *
 * @since 0.1.0
 * @category decisions
 */
export const chargeError = (
  bucket: { readonly tokens: number; readonly at: number },
  now: number,
  burst: number,
  rate: number
): { readonly tokens: number; readonly at: number } | undefined => {
  const tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * rate)
  return tokens >= 1 ? { tokens: tokens - 1, at: now } : undefined
}

// An error answer to the client's own frame, charged to the socket's error budget: past it, the connection gets
// `too_many_errors` and is closed (1008), so a client sending garbage in a loop cannot keep the gateway busy.
const refuse = (state: SessionState, attachment: Attachment, frame: ErrorEnvelope): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (attachment.errors.closed) return Effect.void
    const next = chargeError(attachment.errors, now, state.config.errorBurst, state.config.errorRate)
    if (next !== undefined) {
      attachment.errors.tokens = next.tokens
      attachment.errors.at = next.at
      // Held for the end of the slice of frames (or the socket's next write): a flood's answers go out as one write.
      attachment.outbox.push(JSON.stringify(frame))
      return Effect.void
    }
    attachment.errors.closed = true
    return Effect.all([
      attachment.send(JSON.stringify(Protocol.tooManyErrors(state.config.errorBurst, state.config.errorRate))),
      attachment.close(tooManyErrorsCloseCode, "too_many_errors"),
      Metric.increment(closedForErrors)
    ], { discard: true })
  })

// Frames are checked against the structural limits (depth, sizes, `__proto__`) before anything walks them, so
// every `JSON.stringify` of what a client sent (the sink, steer answers, ChainContext sizes) is bounded by
// `maxDepth`, far below the stack's limit.
const onFrame = (state: SessionState, attachment: Attachment) => {
  const limits = Protocol.frameLimits(state.config)
  return (text: string): Effect.Effect<void> => decodeAndHandle(state, attachment, limits, text)
}

const decodeAndHandle = (
  state: SessionState,
  attachment: Attachment,
  limits: FrameLimits,
  text: string
): Effect.Effect<void> =>
  // Suspended so that even a throw while decoding is a defect answered below, never the end of the connection.
  Effect.suspend(() => Either.match(Protocol.decode(text, limits), {
    onLeft: (error) => refuse(state, attachment, error),
    onRight: (event) => {
      switch (event.type) {
        case "response.create":
          return onCreate(state, attachment, event as Protocol.ResponseCreate, text.length)
        case "response.steer":
          return onSteer(state, attachment, event as Protocol.ResponseSteer)
        case "loopwire.resume": {
          const resume = event as Protocol.LoopwireResume
          return onResume(state, attachment, resume.loopwire_request_id, resume.starting_after)
        }
        default:
          return Effect.void
      }
    }
  })).pipe(
    Effect.catchAllCause((cause) =>
      Effect.zipRight(
        Effect.logError("frame handling failed", cause),
        attachment.send(JSON.stringify(Protocol.serverError()))
      )
    )
  )

// --- one socket -------------------------------------------------------------------------------------------------

/**
 * Frames one connection handles before it yields to the event loop (other sockets' reads and writes, timers): a
 * pipelined flood delays other connections by at most this many frames' work.
 *
 * @since 0.1.0
 * @category constants
 */
export const framesPerTurn = 32

const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

// The frames of one read in slices of `framesPerTurn`: each slice's queued error answers are written as one batch,
// then the connection yields to the event loop before its next slice.
const handleSlices = (
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
const readFrames = (
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
// resume) ends the session; a drop keeps it for the grace period, until another connection adopts it.
const serveSocket = (state: SessionState, connection: Connection.Connection, confirmClaim: boolean): Effect.Effect<void> =>
  Effect.gen(function*() {
    const config = state.config
    // A send to a closed connection has no one to tell: the frame loop ends and the session's rule applies.
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
    const ops = yield* FiberSet.make<void, never>()
    const attachment: Attachment = {
      epoch: ++state.epoch,
      send,
      sendAll,
      outbox,
      flush,
      errors: { tokens: config.errorBurst, at: yield* Clock.currentTimeMillis, closed: false },
      close: (code, reason) => Effect.ignore(connection.close(code, reason)),
      tails: new Map(),
      open: new Set(),
      ops
    }
    state.attached = attachment
    state.claimedBy = undefined
    yield* Deferred.succeed(state.attachSignal, undefined)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        if (state.attached === attachment) state.attached = undefined
        for (const tail of attachment.open) Deferred.unsafeDone(tail, Exit.void)
        attachment.open.clear()
      })
    )

    // Age limit: tell the client why, then close.
    yield* Effect.sleep(Duration.decode(config.maxConnectionAge)).pipe(
      Effect.zipRight(send(JSON.stringify(Protocol.connectionLimitReached(config.maxConnectionAge)))),
      Effect.zipRight(connection.close(connectionLimitCloseCode, "websocket_connection_limit_reached")),
      Effect.forkScoped
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
    yield* readFrames(connection, frameHandler, flush).pipe(
      // Transport violations (binary, oversize, drops) were already answered with their close codes.
      Effect.catchAll((error) => Effect.logDebug("connection ended", error))
    )
    return yield* connection.closed
  }).pipe(
    Effect.scoped,
    Effect.flatMap((closed) => afterSocket(state, closed.code))
  )

const afterSocket = (state: SessionState, code: number): Effect.Effect<void> =>
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

const makeState = (
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
  Effect.gen(function*() {
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
        return yield* serveSocket(lost, connection, true)
      }
    }
    yield* owned(connection, options)
  })

// A new session, owned by this fiber: its responses run in this scope, which closes once the session is finished
// (interrupting what still runs), then its lane caches are dropped.
const owned = (connection: Connection.Connection, options: HandleOptions): Effect.Effect<void, never, Requirements> =>
  Effect.gen(function*() {
    const config = yield* GatewayConfig
    const cache = yield* StateCache
    const env: Turn.TurnEnv = {
      connectionId: connection.id,
      tenant: options.tenant,
      config,
      backend: yield* ModelBackend,
      cache,
      store: yield* ResponseStore,
      drain: yield* Drain.current
    }
    const jobs = yield* FiberSet.make<void, never>()
    const state = makeState({ env, config, jobs, resume: options.resume })
    // A claimed session from another process arrives with its lanes.
    if (state.book.size > 0) yield* Metric.incrementBy(Metrics.lanesActive, state.book.size)
    if (state.token !== undefined) options.resume?.sessions.byToken.set(state.token, state)
    yield* Effect.addFinalizer(() => finish(state))
    yield* serveSocket(state, connection, options.resume?.claimed !== undefined)
    yield* Deferred.await(state.done)
  }).pipe(
    Effect.scoped,
    // After the scope closed (every response fiber is gone), drop the session's warm state.
    Effect.ensuring(Effect.flatMap(StateCache, (cache) => cache.closeConnection(connection.id)))
  )
