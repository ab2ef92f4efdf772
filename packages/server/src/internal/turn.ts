/**
 * One `response.create`, from its parent lookup to its terminal event: shared by WebSocket mode and HTTP mode.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"
import type * as MetricLabel from "effect/MetricLabel"
import type { ResponseCreate } from "@loopwire/protocol/ClientEvent"
import type { InputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import { type ErrorEnvelope } from "@loopwire/protocol/ServerEvent"
import * as AccessLog from "../AccessLog.js"
import type { Tenant } from "../Auth.js"
import type * as Drain from "../Drain.js"
import * as Metrics from "../Metrics.js"
import type { GatewayConfigShape } from "../GatewayConfig.js"
import { type ModelBackend } from "../ModelBackend.js"
import type { ResponseStore } from "../ResponseStore.js"
import { type StateCache } from "../StateCache.js"
import * as Encode from "./encode.js"
import * as Generate from "./turn/generate.js"
import { seconds } from "./turn/parent.js"

export type { Frame, WireEvent } from "./encode.js"

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
export const responseId: () => string = Generate.responseId

const durationSeries = Metrics.series(Metrics.responseDuration, "mode")
const firstEventSeries = Metrics.series(Metrics.timeToFirstEvent, "mode")
const responsesSeries = Metrics.series(Metrics.responses, "mode", "kind", "status")
const errorsSeries = Metrics.series(Metrics.errors, "code")
const tokensSeries = Metrics.series(Metrics.tokens, "model", "tenant", "type")
const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []
const enterInFlight = Effect.sync(() => Metrics.responsesInFlight.unsafeUpdate(1, noLabels))
const leaveInFlight = Effect.sync(() => Metrics.responsesInFlight.unsafeUpdate(-1, noLabels))

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
    const observe = (outcome: Outcome, span: Tracer.Span) =>
      Effect.suspend(() => {
        const ended = clock.unsafeCurrentTimeNanos()
        const status = outcome._tag === "Rejected" ? "rejected" : outcome.status
        const code = errorCodeOf(outcome)
        const usage = outcome._tag === "Finished" ? usageTokens(outcome.response) : { input: undefined, output: undefined }
        // The turn's series, updated in place (no effect per update; no ambient metric labels are used).
        durationSeries(mode).unsafeUpdate(seconds(started, ended), noLabels)
        if (firstEvent !== undefined) firstEventSeries(mode).unsafeUpdate(seconds(started, firstEvent), noLabels)
        responsesSeries(mode, kind, status).unsafeUpdate(1, noLabels)
        if (code !== undefined) errorsSeries(code).unsafeUpdate(1, noLabels)
        if (usage.input !== undefined) tokensSeries(model, env.tenant, "input").unsafeUpdate(usage.input, noLabels)
        if (usage.output !== undefined) tokensSeries(model, env.tenant, "output").unsafeUpdate(usage.output, noLabels)
        span.attribute("loopwire.response.status", status)
        if (code !== undefined) span.attribute("error.type", code)
        if (usage.input !== undefined) span.attribute("gen_ai.usage.input_tokens", usage.input)
        if (usage.output !== undefined) span.attribute("gen_ai.usage.output_tokens", usage.output)
        return AccessLog.turn({
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
    // `useSpan` hands over the span, so the outcome is recorded on it in plain code.
    const turn = Effect.useSpan("loopwire.response", {
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
    }, (span) =>
      Generate.runTurn(env, request, { ...options, responseId: id, sink }).pipe(
        Effect.tap((outcome) => observe(outcome, span)),
        Effect.ensuring(leaveInFlight),
        (self) => Effect.zipRight(enterInFlight, self),
        Effect.withParentSpan(span)
      ))
    return env.drain === undefined ? turn : env.drain.track(turn)
  })


/**
 * What to report for a backend failure (see `turn/generate.ts`).
 *
 * @internal
 */
export const describeFailure = Generate.describeFailure
