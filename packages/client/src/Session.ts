/**
 * A conversation. The client's history is the source of truth; the server's warm state is an optimisation
 * that may vanish. Each `send` appends the new items and sends only them (a delta continuing the last
 * response) when the continuation rule allows, else the full history. Failures walk the recovery ladder of
 * protocol.md §6.4 (see `Recovery`), and every step is published as a session event and counted in metrics.
 *
 * Cost per turn is O(new input): every history item is serialized once, when it enters the history, and the
 * full-resend size used by the metrics is kept as a running sum.
 *
 * This module is the public face (its types, `plan`) and the wiring of a session; each concern has its own module
 * under `internal/session/`: `turn` (the turn loop), `history`, `frame` (the request text), `attempt` (WebSocket and
 * HTTP attempts), `fold` (an attempt's events into its response), `ladder` (the recovery ladder), `counters`
 * (metrics and events), `exclusive` (one turn at a time). It is longer than 300 lines only for the public types and
 * their docs (about 250 lines); `make` is about 80.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as ClientEvent from "@loopwire/protocol/ClientEvent"
import * as Continuation from "@loopwire/protocol/Continuation"
import type * as Items from "@loopwire/protocol/Items"
import type * as Response from "@loopwire/protocol/Response"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import * as ConnectionPool from "./ConnectionPool.js"
import { fromProducer } from "./internal/produce.js"
import type { Context } from "./internal/session/context.js"
import * as Counters from "./internal/session/counters.js"
import * as Exclusive from "./internal/session/exclusive.js"
import * as Frame from "./internal/session/frame.js"
import * as History from "./internal/session/history.js"
import * as Turn from "./internal/session/turn.js"
import * as Recovery from "./Recovery.js"
import type { CreateRequest } from "./ResponsesClient.js"
import { validateLane } from "./ResponsesClient.js"
import { ResponsesError } from "./ResponsesError.js"
import type * as Resume from "./Resume.js"

/**
 * Per-request settings: every create field except `input`, `previous_response_id`, `stream_id`, `type`.
 *
 * @since 0.1.0
 * @category models
 */
export type Settings = Omit<CreateRequest, "input" | "previous_response_id">

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Settings sent with every turn (model, instructions, tools, store, …); `send` may override per turn. */
  readonly settings?: Settings | undefined
  /** The history to start from. */
  readonly history?: ReadonlyArray<Items.InputItem> | undefined
  /** Backoff for reconnects and 429/5xx (default 0.5 s → 8 s, 5 retries). */
  readonly backoff?: Partial<Recovery.BackoffPolicy> | undefined
  /** Switch to HTTP/SSE when the upgrade answers 426 (default true). Needs an `HttpClient` in the context. */
  readonly httpFallback?: boolean | undefined
  /**
   * A response that sends no event for this long, on a socket that answers no heartbeat ping either, is treated
   * as a dead socket (black hole): the socket is dropped and the turn re-issued (default 5 minutes, as Codex's
   * stream idle timeout). While the socket answers pings (`ClientConfig.heartbeat`, on by default) a silent
   * response is waited for however long the model thinks; with the heartbeat off, events alone count.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /**
   * Where turns go from the start (default `"websocket"`). `"http"` makes the session a stateless HTTP/SSE
   * client from the first turn (the full input every turn, as after a 426): a baseline for comparisons.
   * Needs an `HttpClient` in the context.
   */
  readonly transport?: "websocket" | "http" | undefined
}

/**
 * What a turn's stream carries: the server's events, and a `Discard` marker when an attempt failed after some
 * of its events were delivered (they belong to a lost response; the turn is being re-issued).
 *
 * @since 0.1.0
 * @category models
 */
export type TurnEvent =
  | { readonly _tag: "Event"; readonly event: ServerEvent.ServerEvent }
  | { readonly _tag: "Discard"; readonly reason: string }

/**
 * Observable steps of a session.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionEvent =
  | {
    readonly _tag: "RequestSent"
    readonly mode: "delta" | "full"
    readonly transport: "websocket" | "http"
    readonly bytes: number
    readonly fullBytes: number
    readonly socket: number
    readonly generation: number
  }
  | {
    readonly _tag: "Recovering"
    readonly action: Recovery.Action
    readonly error: ResponsesError
    readonly attempt: number
    readonly delayMillis: number
  }
  | { readonly _tag: "FellBackToHttp"; readonly error: ResponsesError }
  | {
    readonly _tag: "TurnCompleted"
    readonly responseId: string
    readonly status: string
    readonly usage: Response.Usage | undefined
  }
  | { readonly _tag: "TurnFailed"; readonly error: ResponsesError }
  /** The socket dropped mid-response and came back: the response is being resumed after `startingAfter`. */
  | { readonly _tag: "Resumed"; readonly socket: number; readonly generation: number; readonly startingAfter: number }
  /** The server never received the request (lost on the wire): it was re-sent as it was, on the resumed socket. */
  | { readonly _tag: "RequestResent"; readonly socket: number; readonly generation: number }
  /** The response could not be resumed; the turn takes the standard ladder (a `Recovering` follows). */
  | {
    readonly _tag: "ResumeRefused"
    readonly socket: number
    readonly generation: number
    readonly reason: Resume.RefusalReason
  }

/**
 * Counters since the session began.
 *
 * @since 0.1.0
 * @category models
 */
export interface Metrics {
  readonly turns: number
  readonly deltaRequests: number
  readonly fullRequests: number
  readonly reconnects: number
  readonly fullResends: number
  readonly rotations: number
  readonly retries: number
  readonly httpFallback: boolean
  /** Bytes of every `response.create` frame (or HTTP body) sent. */
  readonly bytesSent: number
  /** What the same requests would have cost as full resends. */
  readonly bytesFullResend: number
  /** Responses picked up again after a drop (reconnect-with-resume). */
  readonly resumes: number
  /** Requests re-sent on a resumed socket because the server never received them. */
  readonly resent: number
  /** Responses that could not be resumed (the ladder took over). */
  readonly resumeRefusals: number
  /** Events received for resumed responses after their resume (the log's replay, then the live rest). */
  readonly resumedEvents: number
  /** Events received twice and dropped (a replay overlapping what was delivered). */
  readonly duplicatesDropped: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly lease: ConnectionPool.Lease
  /** Appends `newItems` to the history and runs one model turn, streaming its events. */
  readonly send: (
    newItems: ReadonlyArray<Items.InputItem>,
    settings?: Settings | undefined
  ) => Stream.Stream<TurnEvent, ResponsesError>
  /**
   * `send` without a stream: runs one model turn to its final response, handing each `TurnEvent` to `onEvent`
   * synchronously as it arrives (from the socket's reader; keep the callback short and non-blocking). The cheapest
   * way to follow a turn's events: no stream and no fiber hop per event. `AgentLoop` runs on it.
   */
  readonly turnWith: (
    newItems: ReadonlyArray<Items.InputItem>,
    settings: Settings | undefined,
    onEvent: (event: TurnEvent) => void
  ) => Effect.Effect<Response.Response, ResponsesError>
  /** `send`, run to its final response. */
  readonly turn: (
    newItems: ReadonlyArray<Items.InputItem>,
    settings?: Settings | undefined
  ) => Effect.Effect<Response.Response, ResponsesError>
  /** Loads the settings and history into the server's state without generating (`generate: false`). */
  readonly prewarm: (settings?: Settings | undefined) => Effect.Effect<void, ResponsesError>
  readonly history: Effect.Effect<ReadonlyArray<Items.InputItem>>
  readonly metrics: Effect.Effect<Metrics>
  /** Session events from now on. */
  readonly events: Stream.Stream<SessionEvent>
  /** Subscribes before acting, so no event is missed. */
  readonly subscribe: Effect.Effect<Stream.Stream<SessionEvent>, never, Scope.Scope>
  readonly transport: Effect.Effect<"websocket" | "http">
}

/**
 * What the server holds warm for this session: the last response, the settings it was made with, and where its
 * output starts in the history.
 *
 * @since 0.1.0
 * @category models
 */
export interface Anchor {
  readonly response: Response.Response
  /** The anchored request's settings (`input` left empty: the history before `contextEnd` is append-only). */
  readonly request: ClientEvent.ResponseCreate
  /** History index where the anchored response's output begins. */
  readonly contextEnd: number
  readonly generation: number
}

/**
 * The continuation decision for a turn. Session-level conditions first (a recovery forces a full resend; a new
 * socket lost the warm state unless `store: true`), then protocol's `Continuation.decide` over the window that
 * can differ: the anchored response's output and what follows it. The history before the window is
 * append-only, so checking the window is checking the whole prefix, at O(new input) cost.
 *
 * @since 0.1.0
 * @category decisions
 */
export const plan = (
  anchor: Anchor | undefined,
  next: {
    readonly settings: Settings
    /** History items from `anchor.contextEnd` on (the anchored output, then the new items). */
    readonly window: (from: number) => ReadonlyArray<Items.InputItem>
    readonly historyLength: number
    readonly generation: number
    readonly store: boolean
    readonly forceFull: boolean
  }
): Continuation.Decision => {
  if (anchor === undefined) return { _tag: "Full", reason: { _tag: "NoPrevious" } }
  if (next.forceFull || (anchor.generation !== next.generation && !next.store) || anchor.contextEnd > next.historyLength) {
    return { _tag: "Full", reason: { _tag: "NoPrevious" } }
  }
  return Continuation.decide(
    { request: anchor.request, response: anchor.response },
    { ...next.settings, type: "response.create", input: next.window(anchor.contextEnd) } as ClientEvent.ResponseCreate
  )
}

// `@effect/ai` Telemetry's GenAI attribute names for a finished turn.
const annotateTurn = (span: Tracer.Span, response: Response.Response): void => {
  span.attribute("gen_ai.response.id", response.id)
  span.attribute("gen_ai.response.finish_reasons", [response.status])
  if (response.model !== undefined) span.attribute("gen_ai.response.model", response.model)
  if (response.usage != null) {
    span.attribute("gen_ai.usage.input_tokens", response.usage.input_tokens)
    span.attribute("gen_ai.usage.output_tokens", response.usage.output_tokens)
  }
}

/**
 * Opens a session on a socket of the pool (leased for the scope's life).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Session, ResponsesError, ConnectionPool.ConnectionPool | Scope.Scope> =>
  Effect.gen(function*() {
    const pool = yield* ConnectionPool.ConnectionPool
    const lease = yield* pool.acquire
    yield* validateLane(pool.config, lease.lane)
    const idleTimeout = Duration.decode(options.idleTimeout ?? Duration.minutes(5))
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<SessionEvent>(), PubSub.shutdown)
    const ctx: Context = {
      lease,
      config: pool.config,
      http: yield* Effect.serviceOption(HttpClient.HttpClient),
      history: History.make(options.history),
      frames: Frame.make(options.settings, lease.lane),
      counters: Counters.make(pubsub),
      backoff: { ...Recovery.defaultBackoff, ...options.backoff },
      httpFallback: options.httpFallback !== false,
      idleTimeout,
      idle: {
        millis: Duration.toMillis(idleTimeout),
        error: () =>
          new ResponsesError({
            reason: "ConnectionLost",
            code: "idle_timeout",
            message: `No event for ${Duration.format(idleTimeout)}: the connection is presumed dead.`
          })
      },
      anchor: undefined,
      mode: options.transport ?? "websocket"
    }
    const { counters, history } = ctx

    const runTurn = Turn.make(ctx)

    const exclusive = Exclusive.make()

    const send: Session["send"] = (newItems, settings) =>
      fromProducer<TurnEvent, ResponsesError, never>((emit) => turnWith(newItems, settings, emit))

    // One span per turn (as `@effect/ai`'s `LanguageModel.generateText`), so a user's tracing sees each turn; its
    // attributes are set on the span in plain code.
    const turnWith: Session["turnWith"] = (newItems, settings, onEvent) =>
      exclusive.run(Effect.suspend(() => {
        for (const item of newItems) history.append(item)
        const effective = ctx.frames.effective(settings)
        return Effect.useSpan("Session.turnWith", {
          captureStackTrace: false,
          attributes: {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": effective.model,
            "loopwire.socket": lease.socket,
            "loopwire.new_items": newItems.length
          }
        }, (span) =>
          Effect.map(Effect.withParentSpan(runTurn(effective, true, onEvent), span), (response) => {
            annotateTurn(span, response)
            return response
          }))
      }))

    const turn: Session["turn"] = (newItems, settings) => turnWith(newItems, settings, () => {})

    const prewarm: Session["prewarm"] = (settings) =>
      ctx.mode === "http" ? Effect.void : exclusive.run(
        Effect.asVoid(Effect.suspend(() => runTurn(ctx.frames.effective(settings), false, () => {})))
      )

    return {
      lease,
      send,
      turnWith,
      turn,
      prewarm,
      history: Effect.sync(history.items),
      metrics: Effect.sync(counters.snapshot),
      events: Stream.fromPubSub(pubsub),
      subscribe: Effect.map(PubSub.subscribe(pubsub), (q) => Stream.fromQueue(q)),
      transport: Effect.sync(() => ctx.mode)
    } satisfies Session
  })
