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
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Stream from "effect/Stream"
import type { OutputItem } from "@loopwire/protocol/Items"
import { type ServerEvent, withEnvelope } from "@loopwire/protocol/ServerEvent"
import type { Connection } from "@loopwire/transport/Connection"
import type { Tenant } from "./Auth.js"
import { GatewayConfig } from "./GatewayConfig.js"
import * as Chain from "./internal/chain.js"
import * as Protocol from "./internal/protocol.js"
import * as Turn from "./internal/turn.js"
import * as Lanes from "./Lanes.js"
import { ModelBackend } from "./ModelBackend.js"
import { ResponseStore } from "./ResponseStore.js"
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
 * @since 0.1.0
 * @category models
 */
export interface HandleOptions {
  /** The tenant the connection authenticated as (scopes stored responses). */
  readonly tenant: Tenant
}

/**
 * The close code sent after `websocket_connection_limit_reached` ("going away": open a new connection).
 *
 * @since 0.1.0
 * @category constants
 */
export const connectionLimitCloseCode = 1001

/**
 * Serves one connection until it closes (or reaches its age limit). Never fails: a failure inside one request is
 * reported on the wire and stays within that request, and nothing here affects other connections.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handle = (connection: Connection, options: HandleOptions): Effect.Effect<void, never, Requirements> =>
  Effect.scoped(Effect.gen(function*() {
    const config = yield* GatewayConfig
    const cache = yield* StateCache
    const env: Turn.TurnEnv = {
      connectionId: connection.id,
      tenant: options.tenant,
      config,
      backend: yield* ModelBackend,
      cache,
      store: yield* ResponseStore
    }
    const scheduler = new Lanes.Scheduler<Effect.Effect<void>>(config.maxInFlight)
    const book = new Lanes.LaneBook(config.maxLanes)
    const running = new Map<string, Turn.Running>()
    const jobs = yield* FiberSet.make<void, never>()

    // A send to a closed connection has no one to tell: the frame loop ends and the scope cleans up.
    const send = (text: string) => Effect.catchAll(connection.send(text), () => Effect.void)
    // Each event is encoded exactly once, here.
    const sendEvent: Turn.Sink = (event) => Effect.suspend(() => send(JSON.stringify(event)))

    // When a job ends, its lane's next job (or another lane's, for the freed slot) starts. Not from a finalizer:
    // fibers forked there would inherit its uninterruptibility. An interrupted job needs no successor (the
    // connection is going away).
    const start = (started: ReadonlyArray<Lanes.Started<Effect.Effect<void>>>): Effect.Effect<void> =>
      Effect.forEach(started, ({ job, lane }) =>
        FiberSet.run(
          jobs,
          Effect.zipRight(job, Effect.suspend(() => start(scheduler.complete(lane))))
        ), { discard: true })

    // Steers accepted for a response that then asked for tool output: applied to the lane's next create that
    // continues that response (protocol §5.3, 3b).
    const heldSteers = new Map<string, { readonly parent: Turn.Running; readonly steers: Array<Turn.AcceptedSteer> }>()

    const steerEvent = (target: Turn.Running, event: Turn.WireEvent) =>
      sendEvent(withEnvelope(event as ServerEvent, target.seq++, target.streamId) as Turn.WireEvent)

    const runOne = (
      request: Protocol.ResponseCreate,
      lane: string,
      streamId: string | undefined
    ): Effect.Effect<RunResult> =>
      Effect.gen(function*() {
        let started = undefined as Turn.Running | undefined
        const outcome = yield* Turn.run(env, request, {
          lane,
          streamId,
          sink: sendEvent,
          onStart: (r) => {
            started = r
            running.set(r.id, r)
          },
          onEnd: (r) => running.delete(r.id)
        })
        // (A failed continuation has already evicted its same-lane parent.)
        if (outcome._tag === "Rejected") yield* sendEvent(outcome.error)
        return { outcome, started }
      })

    const job = (first: Protocol.ResponseCreate, lane: string, streamId: string | undefined) =>
      Effect.gen(function*() {
        let request: Protocol.ResponseCreate | undefined = first
        const held = heldSteers.get(lane)
        if (held !== undefined) {
          heldSteers.delete(lane)
          if (first.previous_response_id === held.parent.id) {
            // The steer input goes first, then the client's tool outputs.
            const items = held.steers.flatMap((steer) => steer.items)
            request = { ...first, input: [...items, ...Chain.inputItems(first.input)] }
          } else {
            // The lane moved on without continuing the steered response: its steers will never apply.
            for (const steer of held.steers) {
              yield* steerEvent(
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
          const result: RunResult = yield* runOne(request, lane, streamId)
          const { outcome, started } = result
          request = undefined
          if (started === undefined || started.steers.length === 0) break
          const steers: Array<Turn.AcceptedSteer> = started.steers.splice(0)
          if (outcome._tag !== "Finished" || outcome.status === "failed") {
            for (const steer of steers) {
              yield* steerEvent(
                started,
                Protocol.steerFailedFor(started.id, steer, "The steered response failed before the steer was applied.")
              )
            }
            break
          }
          const calls = outcome.response.output.filter(isToolCall)
          if (calls.length > 0) {
            for (const steer of steers) {
              yield* steerEvent(started, {
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
            heldSteers.set(lane, { parent: started, steers })
            break
          }
          // The successor inherits the parent's settings; its new input is the steer input.
          const parentRequest: Protocol.ResponseCreate = started.request
          const { generate: _generate, input: _input, previous_response_id: _parent, ...settings } = parentRequest
          request = {
            ...settings,
            type: "response.create",
            previous_response_id: started.id,
            input: steers.flatMap((steer) => steer.items)
          }
        }
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logError("response failed", cause)
        )
      )

    const onCreate = (request: Protocol.ResponseCreate): Effect.Effect<void> => {
      const streamId = request.stream_id ?? undefined
      if (request.background === true) return sendEvent(Protocol.backgroundUnsupported(streamId))
      if (book.admit(streamId) === "stream_limit_reached") {
        return sendEvent(Protocol.streamLimitReached(streamId!, config.maxLanes))
      }
      if (scheduler.queued >= config.maxQueued) {
        return sendEvent(Protocol.tooManyQueued(config.maxQueued, streamId))
      }
      const lane = Lanes.laneOf(streamId)
      return Effect.suspend(() => start(scheduler.submit(lane, job(request, lane, streamId))))
    }

    const onSteer = (steer: Protocol.ResponseSteer): Effect.Effect<void> => {
      const target = running.get(steer.previous_response_id)
      if (!env.backend.supportsSteering || target === undefined) {
        const code = !env.backend.supportsSteering ? "steering_not_supported" : "response_not_found"
        const failed = Protocol.steerFailed(steer, code, target?.streamId)
        // Steer events share the numbering of the response they target.
        return sendEvent({ ...failed, sequence_number: target === undefined ? 0 : target.seq++ })
      }
      if (target.steers.length >= config.maxPendingSteers) {
        return steerEvent(target, Protocol.steerFailed(steer, "too_many_pending_steers", undefined))
      }
      const accepted: Turn.AcceptedSteer = { id: Protocol.steerId(), items: Chain.inputItems(steer.input) }
      target.steers.push(accepted)
      return steerEvent(target, {
        type: "response.steer.accepted",
        steer: { id: accepted.id, previous_response_id: target.id }
      })
    }

    const onFrame = (text: string): Effect.Effect<void> =>
      Either.match(Protocol.decode(text), {
        onLeft: (error) => sendEvent(error),
        onRight: (event) => {
          switch (event.type) {
            case "response.create":
              return onCreate(event as Protocol.ResponseCreate)
            case "response.steer":
              return onSteer(event as Protocol.ResponseSteer)
            default:
              return Effect.void
          }
        }
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Effect.logError("frame handling failed", cause),
            sendEvent(Protocol.serverError())
          )
        )
      )

    // Age limit: tell the client why, then close (in-flight responses end with the connection).
    yield* Effect.sleep(Duration.decode(config.maxConnectionAge)).pipe(
      Effect.zipRight(sendEvent(Protocol.connectionLimitReached(config.maxConnectionAge))),
      Effect.zipRight(connection.close(connectionLimitCloseCode, "websocket_connection_limit_reached")),
      Effect.forkScoped
    )

    yield* connection.frames.pipe(
      Stream.runForEach(onFrame),
      // Transport violations (binary, oversize, drops) were already answered with their close codes.
      Effect.catchAll((error) => Effect.logDebug("connection ended", error))
    )
  })).pipe(
    // After the scope closed (every response fiber is gone), drop the connection's warm state.
    Effect.ensuring(Effect.flatMap(StateCache, (cache) => cache.closeConnection(connection.id)))
  )
