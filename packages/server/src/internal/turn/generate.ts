/**
 * The body of one turn: the parent and context, the tool-output check, then a prewarm answered here or the
 * backend's events consumed a chunk at a time (numbered, encoded once, written as one batch per chunk), and the
 * finished response kept warm / stored.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ResponseCreate } from "@loopwire/protocol/ClientEvent"
import type { OutputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import { isResponseTerminal } from "@loopwire/protocol/ServerEvent"
import * as Metrics from "../../Metrics.js"
import { ModelBackendError, type ModelTurn } from "../../ModelBackend.js"
import { type CachedResponse, makeEntry } from "../../StateCache.js"
import * as ChainContext from "../../ChainContext.js"
import * as Chain from "../chain.js"
import * as Encode from "../encode.js"
import * as Protocol from "../protocol.js"
import type { TurnEnv, RunOptions, Outcome, ParentRef, Running, WireEvent } from "../turn.js"
import { randomBytes } from "node:crypto"
import { seconds, findParent, usageOf } from "./parent.js"


/**
 * What to report for a backend failure: a `ModelBackendError`'s own status, type, code and param when it has
 * them (an upstream 4xx stays a 4xx), else a 5xx by reason; anything else is a 500 `server_error`.
 *
 * @internal
 */
/** A fresh response id. */
export const responseId = (): string => `resp_${randomBytes(16).toString("hex")}`

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

export const runTurn = (env: TurnEnv, request: ResponseCreate, options: RunOptions): Effect.Effect<Outcome> =>
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
        const settingsBytes = Encode.settingsBytes(echo, request as unknown as { readonly [key: string]: unknown })
        const entry = makeEntry({ response, context, turn, request, settingsBytes })
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
          Effect.sync(() =>
            Metrics.generationDuration.unsafeUpdate(seconds(generationStarted, clock.unsafeCurrentTimeNanos()), [])
          )
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
