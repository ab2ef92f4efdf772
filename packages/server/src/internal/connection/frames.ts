/**
 * What each decoded client frame does: `response.create` (admission, budgets, the lane queue),
 * `response.steer`, `loopwire.resume` (log replay in lane order).
 *
 * @internal
 */
import * as ProtocolError from "@loopwire/protocol/ProtocolError"
import type { FrameLimits } from "@loopwire/protocol/FrameLimits"
import { type ErrorEnvelope } from "@loopwire/protocol/ServerEvent"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Chain from "../chain.js"
import * as Protocol from "../protocol.js"
import * as Turn from "../turn.js"
import * as Lanes from "../../Lanes.js"
import * as Metrics from "../../Metrics.js"
import * as RequestBudget from "../../RequestBudget.js"
import type { RequestRef, ResumeLogError } from "../../ResumeLog.js"
import { type Attachment, type SessionState, releaseHeld } from "./state.js"
import { beginOutput, steerEvent } from "./output.js"
import { enterLane, leaveLane } from "./laneOrder.js"
import { job, start } from "./jobs.js"
import { refuse } from "./errorBudget.js"


export const resumeStreamId = (ref: RequestRef) => ref.lane === Lanes.defaultLane ? undefined : ref.lane

export const resumeFailure = (
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
export const onResume = (
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

export const onCreate = (
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

export const onSteer = (state: SessionState, attachment: Attachment, steer: Protocol.ResponseSteer): Effect.Effect<void> => {
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


// Frames are checked against the structural limits (depth, sizes, `__proto__`) before anything walks them, so
// every `JSON.stringify` of what a client sent (the sink, steer answers, ChainContext sizes) is bounded by
// `maxDepth`, far below the stack's limit.
export const onFrame = (state: SessionState, attachment: Attachment) => {
  const limits = Protocol.frameLimits(state.config)
  return (text: string): Effect.Effect<void> => decodeAndHandle(state, attachment, limits, text)
}

export const decodeAndHandle = (
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
