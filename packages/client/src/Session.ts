/**
 * A conversation. The client's history is the source of truth; the server's warm state is an optimisation
 * that may vanish. Each `send` appends the new items and sends only them (a delta continuing the last
 * response) when the continuation rule allows, else the full history. Failures walk the recovery ladder of
 * protocol.md §6.4 (see `Recovery`), and every step is published as a session event and counted in metrics.
 *
 * Cost per turn is O(new input): every history item is serialized once, when it enters the history, and the
 * full-resend size used by the metrics is kept as a running sum.
 *
 * @since 0.1.0
 */
import * as Accumulator from "@loopwire/protocol/Accumulator"
import type * as ClientEvent from "@loopwire/protocol/ClientEvent"
import * as Continuation from "@loopwire/protocol/Continuation"
import type * as Items from "@loopwire/protocol/Items"
import type * as Response from "@loopwire/protocol/Response"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectionPool from "./ConnectionPool.js"
import * as HttpResponses from "./HttpResponses.js"
import { failWhenIdle } from "./internal/idle.js"
import { fromProducer } from "./internal/produce.js"
import type * as Mux from "./internal/mux.js"
import * as Recovery from "./Recovery.js"
import type { CreateRequest } from "./ResponsesClient.js"
import { terminalResponse, validateLane } from "./ResponsesClient.js"
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

interface Entry {
  readonly item: Items.InputItem
  readonly json: string
  readonly bytes: number
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

const utf8 = (s: string) => Buffer.byteLength(s, "utf8")
const INPUT_OPEN = `,"input":[`

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
const turnAttributes = (response: Response.Response): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {
    "gen_ai.response.id": response.id,
    "gen_ai.response.finish_reasons": [response.status]
  }
  if (response.model !== undefined) attributes["gen_ai.response.model"] = response.model
  if (response.usage != null) {
    attributes["gen_ai.usage.input_tokens"] = response.usage.input_tokens
    attributes["gen_ai.usage.output_tokens"] = response.usage.output_tokens
  }
  return attributes
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
    const http = yield* Effect.serviceOption(HttpClient.HttpClient)
    const lease = yield* pool.acquire
    const config = pool.config
    yield* validateLane(config, lease.lane)
    const policy: Recovery.BackoffPolicy = { ...Recovery.defaultBackoff, ...options.backoff }
    const idleTimeout = Duration.decode(options.idleTimeout ?? Duration.minutes(5))
    const idle: Mux.Idle = {
      millis: Duration.toMillis(idleTimeout),
      error: () =>
        new ResponsesError({
          reason: "ConnectionLost",
          code: "idle_timeout",
          message: `No event for ${Duration.format(idleTimeout)}: the connection is presumed dead.`
        })
    }
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<SessionEvent>(), PubSub.shutdown)
    const publish = (event: SessionEvent) => PubSub.publish(pubsub, event)

    const history: Array<Entry> = []
    let historyBytes = 0 // sum of entry bytes
    const append = (item: Items.InputItem) => {
      const json = JSON.stringify(item)
      const bytes = utf8(json)
      history.push({ item, json, bytes })
      historyBytes += bytes
    }
    for (const item of options.history ?? []) append(item)

    let anchor: Anchor | undefined
    let mode: "websocket" | "http" = options.transport ?? "websocket"
    let metrics: Metrics = {
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
    const count = (patch: Partial<Metrics>) => {
      metrics = { ...metrics, ...patch }
    }

    // Settings are serialized once per distinct settings object, not per turn.
    let lastSettings: Settings | undefined
    let lastSettingsJson = ""
    const settingsJsonOf = (settings: Settings): string => {
      if (settings === lastSettings) return lastSettingsJson
      const { input: _i, previous_response_id: _p, stream_id: _s, type: _t, ...rest } = settings as Record<
        string,
        unknown
      >
      lastSettings = settings
      lastSettingsJson = JSON.stringify(rest).slice(1, -1)
      return lastSettingsJson
    }

    const prefixOf = (settingsJson: string, extra: string) =>
      `{"type":"response.create"${settingsJson === "" ? "" : `,${settingsJson}`}${extra}${
        lease.lane !== undefined ? `,"stream_id":${JSON.stringify(lease.lane)}` : ""
      }`

    const fullInputJson = () => {
      let s = "["
      for (let i = 0; i < history.length; i++) s += (i === 0 ? "" : ",") + history[i]!.json
      return s + "]"
    }
    const fullInputBytes = () => historyBytes + Math.max(0, history.length - 1) + 2

    // Merged once per distinct override, so the serialized settings are reused turn after turn.
    let lastOverride: Settings | undefined
    let lastMerged: Settings = options.settings ?? {}
    const effectiveSettings = (settings: Settings | undefined): Settings => {
      if (settings === undefined) return options.settings ?? {}
      if (settings !== lastOverride) {
        lastOverride = settings
        lastMerged = options.settings === undefined ? settings : { ...options.settings, ...settings }
      }
      return lastMerged
    }

    // One attempt over the socket: returns the event stream and the frame's bookkeeping.
    const attemptWebSocket = (settings: Settings, settingsJson: string, forceFull: boolean, generate: boolean) =>
      Effect.gen(function*() {
        const mux = yield* lease.slot.get
        const store = settings.store === true
        const decision = plan(anchor, {
          settings,
          window: (from) => history.slice(from).map((e) => e.item),
          historyLength: history.length,
          generation: mux.generation,
          store,
          forceFull
        })
        const prefix = prefixOf(settingsJson, generate ? "" : `,"generate":false`)
        let frame: string
        const fullBytes = utf8(prefix) + INPUT_OPEN.length - 1 + fullInputBytes() + 1
        if (decision._tag === "Delta") {
          // The delta's items are the history's last ones: reuse their serialized form.
          const from = history.length - decision.input.length
          let input = "["
          for (let i = from; i < history.length; i++) input += (i === from ? "" : ",") + history[i]!.json
          frame = `${prefix},"previous_response_id":${JSON.stringify(decision.previous_response_id)},"input":${input}]}`
        } else {
          frame = `${prefix},"input":${fullInputJson()}}`
        }
        const bytes = utf8(frame)
        count({
          deltaRequests: metrics.deltaRequests + (decision._tag === "Delta" ? 1 : 0),
          fullRequests: metrics.fullRequests + (decision._tag === "Full" ? 1 : 0),
          bytesSent: metrics.bytesSent + bytes,
          bytesFullResend: metrics.bytesFullResend + fullBytes
        })
        yield* publish({
          _tag: "RequestSent",
          mode: decision._tag === "Delta" ? "delta" : "full",
          transport: "websocket",
          bytes,
          fullBytes,
          socket: lease.socket,
          generation: mux.generation
        })
        const generation = mux.generation
        const notify = (notice: Mux.Notice) => {
          switch (notice._tag) {
            case "Resumed":
              count({ resumes: metrics.resumes + 1 })
              pubsub.unsafeOffer({
                _tag: "Resumed",
                socket: lease.socket,
                generation,
                startingAfter: notice.startingAfter
              })
              return
            case "Resent":
              count({ resent: metrics.resent + 1 })
              pubsub.unsafeOffer({ _tag: "RequestResent", socket: lease.socket, generation })
              return
            case "ResumeRefused":
              count({ resumeRefusals: metrics.resumeRefusals + 1 })
              pubsub.unsafeOffer({ _tag: "ResumeRefused", socket: lease.socket, generation, reason: notice.reason })
              return
            case "ResumedEvent":
              count({ resumedEvents: metrics.resumedEvents + 1 })
              return
            case "Duplicate":
              count({ duplicatesDropped: metrics.duplicatesDropped + 1 })
              return
          }
        }
        return {
          generation: mux.generation,
          // The multiplexer's reader hands each event straight to `onEvent` (no per-event hop through a mailbox
          // and this turn's fiber); `run` succeeds once the terminal event was handed over, or fails.
          // The idle timeout is watched by the socket's one watchdog; answered pings keep a silent turn alive (a model
          // may think for minutes before its first event).
          run: (onEvent: (event: ServerEvent.ServerEvent) => void): Effect.Effect<void, ResponsesError> =>
            mux.run(frame, lease.lane, onEvent, notify, idle),
          wasDelta: decision._tag === "Delta"
        }
      })

    const attemptHttp = (settings: Settings) =>
      Effect.gen(function*() {
        if (Option.isNone(http)) {
          return yield* new ResponsesError({ reason: "Connect", status: 426, message: "HTTP fallback needs an HttpClient." })
        }
        const body = `{${settingsJsonOf(settings)}${settingsJsonOf(settings) === "" ? "" : ","}"input":${fullInputJson()}}`
        const bytes = utf8(body)
        count({
          fullRequests: metrics.fullRequests + 1,
          bytesSent: metrics.bytesSent + bytes,
          bytesFullResend: metrics.bytesFullResend + bytes
        })
        yield* publish({
          _tag: "RequestSent",
          mode: "full",
          transport: "http",
          bytes,
          fullBytes: bytes,
          socket: lease.socket,
          generation: 0
        })
        const request = JSON.parse(body) as CreateRequest
        return {
          generation: -1,
          // One watchdog per HTTP attempt (the fallback path): events alone count.
          run: (onEvent: (event: ServerEvent.ServerEvent) => void): Effect.Effect<void, ResponsesError> =>
            failWhenIdle(
              (touch) =>
                HttpResponses.create(config, request).pipe(
                  Stream.provideService(HttpClient.HttpClient, http.value),
                  Stream.runForEach((event) =>
                    Effect.sync(() => {
                      touch()
                      onEvent(event)
                    })
                  )
                ),
              idle.error,
              idleTimeout
            ),
          wasDelta: false
        }
      })

    const lock = yield* Effect.makeSemaphore(1)

    // Runs one turn through the recovery ladder. `emit` receives events as they arrive.
    const runTurn = (
      settings: Settings,
      generate: boolean,
      emit: (event: TurnEvent) => void
    ): Effect.Effect<Response.Response, ResponsesError> =>
      Effect.gen(function*() {
        const settingsJson = settingsJsonOf(settings)
        const store = settings.store === true
        let forceFull = false
        let fullResendDone = false
        let retries = 0
        for (;;) {
          let delivered = 0
          let final: Response.Response | undefined
          let generation = -1
          let wasDelta = false
          let acc = Accumulator.empty
          let folding = true
          let foldError: Accumulator.AccumulatorError | undefined
          let lost: ResponsesError | undefined
          const outcome = yield* Effect.either(Effect.gen(function*() {
            const attempt = mode === "http" ? yield* attemptHttp(settings) : yield* attemptWebSocket(
              settings,
              settingsJson,
              forceFull,
              generate
            )
            generation = attempt.generation
            wasDelta = attempt.wasDelta
            // Events run synchronously in the delivering fiber; once this attempt ends (or is interrupted), late
            // events of its request are ignored.
            let live = true
            yield* attempt.run((event) => {
                if (!live) return
                delivered++
                // The accumulator rebuilds the output from the deltas (sparse streams included: it fills an
                // omitted terminal output). A server it cannot follow still gets its terminal Response used as
                // is, unless that omits an output the stream had: then the turn fails rather than lose it.
                if (folding) {
                  const next = Accumulator.step(acc, event)
                  if (Either.isRight(next)) acc = next.right
                  else {
                    folding = false
                    foldError = next.left
                  }
                }
                const done = terminalResponse(event)
                if (Option.isSome(done)) {
                  final = folding && acc.final !== undefined ? acc.final : done.value
                  if (!folding && done.value.output.length === 0 && acc.output.some((item) => item !== undefined)) {
                    lost = new ResponsesError({
                      reason: "Protocol",
                      message: `The response's terminal event omits its output, and the streamed output could not be rebuilt: ${foldError?.message}`
                    })
                  }
                }
                emit({ _tag: "Event", event })
              }).pipe(Effect.ensuring(Effect.sync(() => {
                live = false
              })))
          }))
          if (outcome._tag === "Right") {
            if (lost !== undefined) {
              // Not retried: the server answered, and a retry would generate the turn again.
              yield* publish({ _tag: "TurnFailed", error: lost })
              return yield* lost
            }
            if (final === undefined) {
              // The stream ended without a terminal event: treat like a drop.
              const error = new ResponsesError({ reason: "ConnectionLost", message: "The response ended without a terminal event." })
              const r = yield* recover(error)
              if (r === "fail") return yield* error
              continue
            }
            const response: Response.Response = final
            if (response.status === "failed") {
              anchor = undefined
            } else {
              const contextEnd = history.length
              for (const item of response.output) append(item as Items.InputItem)
              anchor = mode === "http" || generation < 0
                ? undefined
                : {
                  response,
                  request: { ...settings, type: "response.create", input: [] } as ClientEvent.ResponseCreate,
                  contextEnd,
                  generation
                }
            }
            count({ turns: metrics.turns + 1 })
            yield* publish({
              _tag: "TurnCompleted",
              responseId: response.id,
              status: response.status,
              usage: response.usage ?? undefined
            })
            return response
          }
          const error = outcome.left
          if (delivered > 0) emit({ _tag: "Discard", reason: error.message })
          const r = yield* recover(error)
          if (r === "fail") {
            yield* publish({ _tag: "TurnFailed", error })
            return yield* error
          }
          continue

          // Applies one rung of the ladder; "retry" loops, "fail" gives up.
          function recover(error: ResponsesError): Effect.Effect<"retry" | "fail", ResponsesError> {
            return Effect.gen(function*() {
              const action = Recovery.classify(error)
              const giveUp = (why: string) =>
                Effect.gen(function*() {
                  yield* publish({ _tag: "TurnFailed", error })
                  return yield* Effect.fail(new ResponsesError({
                    reason: "RetriesExhausted",
                    message: `${why}: ${error.message}`,
                    ...(error.code !== undefined ? { code: error.code } : {}),
                    ...(error.status !== undefined ? { status: error.status } : {})
                  }))
                })
              switch (action) {
                case "Fail":
                  return "fail" as const
                case "FullResend": {
                  if (fullResendDone) return yield* giveUp("previous_response_not_found after a full resend")
                  fullResendDone = true
                  forceFull = true
                  anchor = undefined
                  count({ fullResends: metrics.fullResends + 1 })
                  yield* publish({ _tag: "Recovering", action, error, attempt: 0, delayMillis: 0 })
                  return "retry" as const
                }
                case "FallbackHttp": {
                  if (options.httpFallback === false || Option.isNone(http)) return "fail" as const
                  mode = "http"
                  anchor = undefined
                  count({ httpFallback: true })
                  yield* publish({ _tag: "FellBackToHttp", error })
                  return "retry" as const
                }
                case "Rotate":
                case "Reconnect":
                case "Backoff": {
                  if (retries >= policy.maxRetries) return yield* giveUp(`gave up after ${retries} retries`)
                  const delay = action === "Rotate"
                    ? 0
                    : Recovery.delayMillis(policy, retries, yield* Random.next, error.retryAfterMillis)
                  retries++
                  yield* publish({ _tag: "Recovering", action, error, attempt: retries, delayMillis: delay })
                  if (action === "Rotate") {
                    yield* lease.slot.rotate(generation)
                    count({ rotations: metrics.rotations + 1 })
                  } else if (action === "Reconnect") {
                    // A silent socket is still open: drop it so the reconnect dials a fresh one — unless other
                    // responses on it are still flowing (this request was only queued behind them).
                    if (error.code === "idle_timeout" && generation >= 0) {
                      const mux = lease.slot.current()
                      const now = yield* Clock.currentTimeMillis
                      if (mux !== undefined && now - mux.lastInboundMillis() >= Duration.toMillis(idleTimeout)) {
                        yield* lease.slot.invalidate(generation, error)
                      }
                    }
                    count({ reconnects: metrics.reconnects + 1 })
                  } else {
                    count({ retries: metrics.retries + 1 })
                  }
                  // Without `store`, a lost socket or a failed continuation takes the parent with it.
                  if (!store && (action !== "Backoff" || wasDelta)) {
                    forceFull = action === "Backoff"
                    if (action !== "Backoff") anchor = undefined
                  }
                  if (delay > 0) yield* Effect.sleep(delay)
                  return "retry" as const
                }
              }
            })
          }
        }
      })

    const send: Session["send"] = (newItems, settings) =>
      fromProducer<TurnEvent, ResponsesError, never>((emit) => turnWith(newItems, settings, emit))

    // One span per turn (as `@effect/ai`'s `LanguageModel.generateText`), so a user's tracing sees each turn.
    const turnWith: Session["turnWith"] = (newItems, settings, onEvent) =>
      lock.withPermits(1)(Effect.suspend(() => {
        for (const item of newItems) append(item)
        const effective = effectiveSettings(settings)
        return runTurn(effective, true, onEvent).pipe(
          Effect.tap((response) => Effect.annotateCurrentSpan(turnAttributes(response))),
          Effect.withSpan("Session.turnWith", {
            captureStackTrace: false,
            attributes: {
              "gen_ai.operation.name": "chat",
              "gen_ai.request.model": effective.model,
              "loopwire.socket": lease.socket,
              "loopwire.new_items": newItems.length
            }
          })
        )
      }))

    const turn: Session["turn"] = (newItems, settings) => turnWith(newItems, settings, () => {})

    const prewarm: Session["prewarm"] = (settings) =>
      mode === "http" ? Effect.void : lock.withPermits(1)(
        Effect.asVoid(runTurn(effectiveSettings(settings), false, () => {}))
      )

    return {
      lease,
      send,
      turnWith,
      turn,
      prewarm,
      history: Effect.sync(() => history.map((e) => e.item)),
      metrics: Effect.sync(() => metrics),
      events: Stream.fromPubSub(pubsub),
      subscribe: Effect.map(PubSub.subscribe(pubsub), (q) => Stream.fromQueue(q)),
      transport: Effect.sync(() => mode)
    } satisfies Session
  })
