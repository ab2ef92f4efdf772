/**
 * One `response.create`, from its parent lookup to its terminal event: shared by WebSocket mode and HTTP mode.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import type { ResponseCreate } from "@loopwire/protocol/ClientEvent"
import type { InputItem, OutputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import { type ErrorEnvelope, isResponseTerminal } from "@loopwire/protocol/ServerEvent"
import * as AccessLog from "../AccessLog.js"
import type { Tenant } from "../Auth.js"
import type * as Drain from "../Drain.js"
import * as Metrics from "../Metrics.js"
import type { GatewayConfigShape } from "../GatewayConfig.js"
import { type ModelBackend, ModelBackendError, type ModelTurn } from "../ModelBackend.js"
import type { ResponseStore } from "../ResponseStore.js"
import { type CachedResponse, makeEntry, type StateCache } from "../StateCache.js"
import * as ChainContext from "../ChainContext.js"
import * as Chain from "./chain.js"
import * as Encode from "./encode.js"
import * as Protocol from "./protocol.js"

export type { Frame, WireEvent } from "./encode.js"
type WireEvent = Encode.WireEvent

/**
 * Writes numbered, encoded events, in order (the events a backend produced together come as one batch).
 *
 * @internal
 */
export type Sink = (frames: ReadonlyArray<Encode.Frame>) => Effect.Effect<void>

/**
 * A response that is generating: its numbering is shared with steer events aimed at it.
 *
 * @internal
 */
export interface Running {
  readonly id: string
  readonly lane: string
  readonly streamId: string | undefined
  readonly request: ResponseCreate
  seq: number
  /** Steers accepted for this response, not yet applied (only with a steering backend). */
  readonly steers: Array<AcceptedSteer>
}

/**
 * A `response.steer` the gateway owns: its id and its input as items.
 *
 * @internal
 */
export interface AcceptedSteer {
  readonly id: string
  readonly items: ReadonlyArray<InputItem>
}

/**
 * The services and identity a turn runs with.
 *
 * @internal
 */
export interface TurnEnv {
  readonly connectionId: string
  readonly tenant: Tenant
  readonly config: GatewayConfigShape
  readonly backend: ModelBackend["Type"]
  /** The connection's warm state; absent in HTTP mode (continuations come from the store only). */
  readonly cache: StateCache["Type"] | undefined
  readonly store: ResponseStore["Type"]
  /** The gateway's drain, which counts running responses; absent when the gateway was composed without one. */
  readonly drain?: Drain.Shape | undefined
}

/**
 * How a request ended.
 *
 * - `Rejected`: refused before it started (the error frame to report); no response exists.
 * - `Finished`: a response ran to its terminal event (`completed`, `incomplete` or `failed`).
 *
 * @internal
 */
export type Outcome =
  | { readonly _tag: "Rejected"; readonly error: ErrorEnvelope; readonly parent: ParentRef | undefined }
  | {
    readonly _tag: "Finished"
    readonly status: string
    readonly response: Response
    readonly parent: ParentRef | undefined
  }

/**
 * Where a continuation's parent came from: its id, and its lane when it was in the connection cache.
 *
 * @internal
 */
export interface ParentRef {
  readonly id: string
  readonly lane: string | undefined
}

/**
 * A fresh response id.
 *
 * @internal
 */
export const responseId = (): string => `resp_${randomBytes(16).toString("hex")}`

const seconds = (fromNanos: bigint, toNanos: bigint) => Number(toNanos - fromNanos) / 1e9

const lookupSeries = Metrics.series(Metrics.lookupDuration, "source", "result")
const durationSeries = Metrics.series(Metrics.responseDuration, "mode")
const firstEventSeries = Metrics.series(Metrics.timeToFirstEvent, "mode")
const responsesSeries = Metrics.series(Metrics.responses, "mode", "kind", "status")
const errorsSeries = Metrics.series(Metrics.errors, "code")
const tokensSeries = Metrics.series(Metrics.tokens, "model", "tenant", "type")

const lookupMetric = (source: string, hit: boolean) => lookupSeries(source, hit ? "hit" : "miss")

// One lookup, timed into `loopwire_parent_lookup_duration_seconds` and traced.
const timedLookup = <A>(source: string, lookup: Effect.Effect<Option.Option<A>>): Effect.Effect<Option.Option<A>> =>
  Effect.clockWith((clock) => {
    const started = clock.unsafeCurrentTimeNanos()
    return Effect.tap(lookup, (found) =>
      Effect.zipRight(
        Effect.annotateCurrentSpan("loopwire.lookup.hit", Option.isSome(found)),
        Metric.update(lookupMetric(source, Option.isSome(found)), seconds(started, clock.unsafeCurrentTimeNanos()))
      ))
  }).pipe(Effect.withSpan(`loopwire.${source}.get`, {
    attributes: { "loopwire.lookup.source": source },
    captureStackTrace: false
  }))

/** The parent of a continuation, from the connection cache first, then (when the request stores) the store. */
const findParent = (
  env: TurnEnv,
  request: ResponseCreate,
  parentId: string
): Effect.Effect<Option.Option<{ readonly entry: CachedResponse; readonly lane: string | undefined }>> =>
  Effect.gen(function*() {
    if (env.cache !== undefined) {
      const cached = yield* timedLookup("state_cache", env.cache.get(env.connectionId, parentId))
      if (Option.isSome(cached)) return Option.some({ entry: cached.value, lane: cached.value.lane })
    }
    if (request.store === false) return Option.none()
    // Hydration is the slow path (the stored context is measured once); an unavailable store is a miss, so the
    // client recovers with a full resend.
    const stored = yield* timedLookup(
      "response_store",
      env.store.get(env.tenant, parentId).pipe(
        Effect.catchAll((error) => Effect.as(Effect.logWarning("response store lookup failed", error), Option.none()))
      )
    )
    return Option.map(stored, (record) => ({ entry: makeEntry(record), lane: undefined }))
  })

const usageOf = (parent: CachedResponse | undefined, newInput: ReadonlyArray<InputItem>) => {
  // A rough token estimate (4 bytes a token) for a prewarm, which the model never sees; O(new input).
  const parentBytes = parent === undefined ? 0 : parent.contextBytes + JSON.stringify(parent.response.output).length
  const input = Math.ceil((parentBytes + JSON.stringify(newInput).length) / 4)
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 0,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input
  }
}

/**
 * What to report for a backend failure: a `ModelBackendError`'s own status, type, code and param when it has
 * them (an upstream 4xx stays a 4xx), else a 5xx by reason; anything else is a 500 `server_error`.
 *
 * @internal
 */
export const describeFailure = (cause: Cause.Cause<unknown>): {
  readonly status: number
  readonly type: string
  readonly code: string | null
  readonly message: string
  readonly param: string | null
} => {
  const error = Option.getOrUndefined(Cause.failureOption(cause))
  if (error instanceof ModelBackendError) {
    const status = error.status ?? (error.reason === "Timeout" ? 504 : error.reason === "Network" ? 502 : 500)
    const serverSide = status >= 500
    return {
      status,
      type: error.type ?? (serverSide ? "server_error" : "invalid_request_error"),
      code: error.code ?? (serverSide ? "server_error" : null),
      message: error.message,
      param: error.param ?? null
    }
  }
  return {
    status: 500,
    type: "server_error",
    code: "server_error",
    message: `The model backend failed: ${Cause.pretty(cause).split("\n")[0]}`,
    param: null
  }
}

/**
 * Runs one `response.create`: resolves its parent, assembles its context by reference, checks its tool outputs,
 * then either answers a prewarm (`generate: false`) itself or streams the backend's events through `sink`
 * (numbered per response, tagged with the lane), and keeps the finished response warm / stored.
 *
 * Never fails: a backend failure becomes an error frame (before the first event) or `response.failed` (after);
 * interruption (the connection went away) propagates.
 *
 * @internal
 */
export interface RunOptions {
    readonly lane: string
    readonly streamId: string | undefined
    readonly sink: Sink
    /** The response's id when the caller assigned it already (resume: the log is begun at acceptance). */
    readonly responseId?: string | undefined
    /**
     * Serialises numbering and writing of this response's events with other writers of the same numbering (steer
     * events), so a resume log receives them in order. Default: none.
     */
    readonly lock?: (<A>(effect: Effect.Effect<A>) => Effect.Effect<A>) | undefined
    /** Called when the response exists (before `response.created`) and when it ends. */
    readonly onStart?: ((running: Running) => void) | undefined
    readonly onEnd?: ((running: Running) => void) | undefined
}

const runTurn = (env: TurnEnv, request: ResponseCreate, options: RunOptions): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const { lane, sink, streamId } = options
    const newInput = Chain.inputItems(request.input)
    const parentId = request.previous_response_id ?? undefined

    let parent: CachedResponse | undefined
    let parentRef: ParentRef | undefined
    if (parentId !== undefined) {
      const found = yield* findParent(env, request, parentId)
      if (Option.isNone(found)) {
        const error = Protocol.previousResponseNotFound(parentId, streamId)
        return { _tag: "Rejected", error, parent: { id: parentId, lane: undefined } } as const
      }
      parent = found.value.entry
      parentRef = { id: parentId, lane: found.value.lane }
    }

    const parentOutput: ReadonlyArray<OutputItem> = parent?.response.output ?? []
    const parentContext = parent?.context ?? ChainContext.empty
    const unmatched = Chain.unmatchedToolOutput(newInput, parentOutput, parentContext)
    // A failed continuation evicts its parent when the parent is this lane's (protocol §4.3); a failed cross-lane
    // fork leaves the shared parent to its own lane. Done before the failure is written, so a client reacting to
    // it sees the eviction.
    const evictParent = parentRef !== undefined && parentRef.lane === lane && env.cache !== undefined
      ? env.cache.evict(env.connectionId, parentRef.id)
      : Effect.void

    if (unmatched !== undefined) {
      yield* evictParent
      return { _tag: "Rejected", error: Protocol.unknownCallId(unmatched.callId, streamId), parent: parentRef } as const
    }

    const context = parent === undefined
      ? ChainContext.fromArray(newInput)
      : Chain.continueContext(parentContext, parentOutput, newInput)
    // Model responses already in the chain: incremental on a continuation (a prewarm parent generated nothing, so
    // it does not count), counted once on a full resend.
    // Replayed model output among the new items counts as on a full resend (a run adjoining the parent's output is
    // the parent's), so a delta and a full resend of one context are the same turn.
    const turn = parent === undefined
      ? Chain.countModelResponses(newInput)
      : parent.turn + (parent.request.generate === false ? 0 : 1) + Chain.countModelResponses(newInput) -
        (parentOutput.length > 0 && newInput.length > 0 && Chain.isModelOutput(newInput[0]!) ? 1 : 0)

    const running: Running = { id: options.responseId ?? responseId(), lane, streamId, request, seq: 0, steers: [] }
    const createdAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const skeleton = Chain.skeleton(request, {
      id: running.id,
      createdAt,
      defaultModel: env.config.defaultModel
    }) as unknown as Response

    // Numbered and encoded together, in one batch per group of events (under the lock when steer events share the
    // numbering). The echoed settings are serialized once for the turn.
    const echo = Encode.makeEcho(skeleton as unknown as { readonly [key: string]: unknown })
    const lock = options.lock
    const numberAll = (events: ReadonlyArray<WireEvent>, from: number, to: number) =>
      Effect.suspend(() => {
        const frames: Array<Encode.Frame> = []
        for (let i = from; i < to; i++) {
          const event = events[i]!
          const seq = running.seq++
          frames.push({ type: event.type, seq, text: Encode.encode(event, seq, streamId, echo) })
        }
        return sink(frames)
      })
    const emitAll = (events: ReadonlyArray<WireEvent>, from = 0, to = events.length): Effect.Effect<void> =>
      from >= to ? Effect.void : lock === undefined ? numberAll(events, from, to) : lock(numberAll(events, from, to))
    const emit = (event: WireEvent) => emitAll([event])

    const keep = (response: Response) =>
      Effect.gen(function*() {
        const entry = makeEntry({ response, context, turn, request })
        if (env.cache !== undefined) yield* env.cache.put(env.connectionId, lane, entry)
        if (request.store !== false) {
          yield* env.store.put(env.tenant, entry).pipe(
            Effect.catchAll((error) => Effect.logWarning("response store write failed", error))
          )
        }
      })

    options.onStart?.(running)
    return yield* Effect.gen(function*() {
      if (request.generate === false) {
        // Prewarm: a chainable, empty, completed response; the model is not called.
        const final = {
          ...skeleton,
          status: "completed",
          completed_at: createdAt,
          usage: usageOf(parent, newInput)
        } as unknown as Response
        yield* emitAll([{ type: "response.created", response: skeleton }, { type: "response.in_progress", response: skeleton }])
        yield* keep(final)
        yield* emit({ type: "response.completed", response: final })
        return { _tag: "Finished", status: "completed", response: final, parent: parentRef } as const
      }

      // `input` is materialised only if the backend reads it (an upstream resend, O(history) anyway); the scripted
      // backend reads the precomputed sizes of `context`.
      const modelTurn: ModelTurn = {
        response: skeleton,
        request,
        get input() {
          return ChainContext.toArray(context)
        },
        context,
        newInput,
        turn,
        tenant: env.tenant,
        ...(env.backend.supportsSteering
          ? { steering: { requested: Effect.sync(() => running.steers.length > 0) } }
          : {})
      }
      let terminal: WireEvent | undefined
      const clock = yield* Effect.clock
      const generationStarted = clock.unsafeCurrentTimeNanos()
      // One step per chunk of events the backend produced together: they are numbered, encoded and written as one
      // batch (plain code per event); the stream ends at the terminal event.
      const onChunk = (chunk: Chunk.Chunk<unknown>): Effect.Effect<boolean> => {
        const events = Chunk.toReadonlyArray(chunk) as ReadonlyArray<WireEvent>
        let end = 0
        while (end < events.length && !isResponseTerminal(events[end]!)) end++
        if (end === events.length) return Effect.as(emitAll(events), true)
        const wire = events[end]!
        terminal = wire
        // Kept before the terminal event is written: a client may continue (or fork) the moment it sees it.
        return emitAll(events, 0, end).pipe(
          Effect.zipRight(wire.type === "response.failed" ? evictParent : keep(wire["response"] as Response)),
          Effect.zipRight(emit(wire)),
          Effect.as(false)
        )
      }
      const consumed = yield* Stream.toPull(env.backend.generate(modelTurn)).pipe(
        Effect.flatMap((pull) => {
          const loop: Effect.Effect<void, Option.Option<unknown>> = Effect.flatMap(
            pull,
            (chunk) => Effect.flatMap(onChunk(chunk), (more) => more ? loop : Effect.void)
          )
          return Effect.catchAll(loop, (end) => Option.isNone(end) ? Effect.void : Effect.fail(end.value))
        }),
        Effect.scoped,
        Effect.sandbox,
        Effect.either,
        Effect.tap(() =>
          Metric.update(Metrics.generationDuration, seconds(generationStarted, clock.unsafeCurrentTimeNanos()))
        ),
        Effect.withSpan("loopwire.backend.generate", {
          attributes: { "loopwire.response.id": running.id },
          captureStackTrace: false
        })
      )

      if (terminal !== undefined) {
        const response = terminal["response"] as Response
        return { _tag: "Finished", status: response.status ?? "completed", response, parent: parentRef } as const
      }

      if (consumed._tag === "Left" && Cause.isInterruptedOnly(consumed.left)) {
        return yield* Effect.interrupt
      }
      const failure = consumed._tag === "Left" ? describeFailure(consumed.left) : {
        status: 500,
        type: "server_error",
        code: "server_error",
        message: "The model backend ended the response without a terminal event.",
        param: null
      }
      yield* Effect.logWarning(`response ${running.id}: ${failure.message}`)
      yield* evictParent
      if (running.seq === 0) {
        // Nothing was sent for this response: the request is answered with an error frame, as HTTP would answer.
        const error = Protocol.errorFrame({ ...failure, streamId })
        return { _tag: "Rejected", error, parent: parentRef } as const
      }
      // The response exists on the wire: it ends, as `response.failed`.
      const failed = {
        ...skeleton,
        status: "failed",
        error: { code: failure.code ?? "server_error", message: failure.message }
      } as unknown as Response
      yield* emit({ type: "response.failed", response: failed })
      return { _tag: "Finished", status: "failed", response: failed, parent: parentRef } as const
    }).pipe(Effect.ensuring(Effect.sync(() => options.onEnd?.(running))))
  })

const errorCodeOf = (outcome: Outcome): string | undefined => {
  if (outcome._tag === "Rejected") return outcome.error.error.code ?? outcome.error.error.type ?? "error"
  if (outcome.status !== "failed") return undefined
  const error = (outcome.response as { readonly error?: { readonly code?: string | null } | null }).error
  return error?.code ?? "server_error"
}

const usageTokens = (response: Response) => {
  const usage = (response as { readonly usage?: { readonly input_tokens?: number; readonly output_tokens?: number } })
    .usage
  return { input: usage?.input_tokens, output: usage?.output_tokens }
}

/**
 * Runs one `response.create` (see `runTurn`) as one traced, measured and logged turn: the span
 * `loopwire.response` (response id, lane, delta or full, tenant, model, mode), the turn histograms, counters and
 * in-flight gauge of `Metrics`, the access-log line, and the drain's count of running responses.
 *
 * @internal
 */
export const run = (env: TurnEnv, request: ResponseCreate, options: RunOptions): Effect.Effect<Outcome> =>
  Effect.clockWith((clock) => {
    const started = clock.unsafeCurrentTimeNanos()
    const id = options.responseId ?? responseId()
    const mode = env.cache === undefined ? "http" : "websocket"
    const kind = request.previous_response_id == null ? "full" : "delta"
    const model = typeof request.model === "string" && request.model !== "" ? request.model : env.config.defaultModel
    let firstEvent: bigint | undefined
    const sink: Sink = (frames) => {
      if (firstEvent === undefined) firstEvent = clock.unsafeCurrentTimeNanos()
      return options.sink(frames)
    }
    const observe = (outcome: Outcome) =>
      Effect.gen(function*() {
        const ended = clock.unsafeCurrentTimeNanos()
        const status = outcome._tag === "Rejected" ? "rejected" : outcome.status
        const code = errorCodeOf(outcome)
        const usage = outcome._tag === "Finished" ? usageTokens(outcome.response) : { input: undefined, output: undefined }
        yield* Metric.update(durationSeries(mode), seconds(started, ended))
        if (firstEvent !== undefined) {
          yield* Metric.update(firstEventSeries(mode), seconds(started, firstEvent))
        }
        yield* Metric.increment(responsesSeries(mode, kind, status))
        if (code !== undefined) yield* Metric.increment(errorsSeries(code))
        if (usage.input !== undefined) yield* Metric.incrementBy(tokensSeries(model, env.tenant, "input"), usage.input)
        if (usage.output !== undefined) yield* Metric.incrementBy(tokensSeries(model, env.tenant, "output"), usage.output)
        yield* Effect.annotateCurrentSpan({
          "loopwire.response.status": status,
          ...(code === undefined ? {} : { "error.type": code }),
          ...(usage.input === undefined ? {} : { "gen_ai.usage.input_tokens": usage.input }),
          ...(usage.output === undefined ? {} : { "gen_ai.usage.output_tokens": usage.output })
        })
        yield* AccessLog.turn({
          mode,
          connection: env.connectionId,
          tenant: env.tenant,
          response_id: id,
          lane: options.streamId ?? "default",
          kind,
          model,
          status,
          error_code: code,
          duration_ms: Math.round(Number(ended - started) / 1e4) / 100,
          first_event_ms: firstEvent === undefined ? undefined : Math.round(Number(firstEvent - started) / 1e4) / 100,
          input_tokens: usage.input,
          output_tokens: usage.output
        })
      })
    const turn = runTurn(env, request, { ...options, responseId: id, sink }).pipe(
      Effect.tap(observe),
      Effect.ensuring(Metric.incrementBy(Metrics.responsesInFlight, -1)),
      (self) => Effect.zipRight(Metric.increment(Metrics.responsesInFlight), self),
      Effect.withSpan("loopwire.response", {
        kind: "server",
        captureStackTrace: false,
        attributes: {
          "loopwire.response.id": id,
          "loopwire.lane": options.streamId ?? "default",
          "loopwire.request.kind": kind,
          "loopwire.mode": mode,
          "loopwire.tenant": env.tenant,
          "loopwire.connection.id": env.connectionId,
          "gen_ai.request.model": model,
          ...(request.previous_response_id == null ? {} : { "loopwire.previous_response_id": request.previous_response_id })
        }
      })
    )
    return env.drain === undefined ? turn : env.drain.track(turn)
  })
