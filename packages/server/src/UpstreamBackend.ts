/**
 * A model backend that forwards each turn to any HTTP Responses API (`POST {baseUrl}/responses`, SSE). The
 * gateway holds the chain, so every request replays the full context (`turn.input`) with `store: false` and no
 * `previous_response_id`; the upstream's events are mapped back onto the gateway's response id.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Codec from "@loopwire/protocol/Codec"
import * as Events from "@loopwire/protocol/Events"
import { Response as ResponseSchema } from "@loopwire/protocol/Response"
import type { Response } from "@loopwire/protocol/Response"
import * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Sse from "./internal/sse.js"
import { generations, ModelBackend, ModelBackendError } from "./ModelBackend.js"
import type { ModelTurn, ServerEventBody, Shape } from "./ModelBackend.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The upstream API base, e.g. `https://api.openai.com/v1` (requests go to `{baseUrl}/responses`). */
  readonly baseUrl: string
  /** Sent as `Authorization: Bearer <apiKey>`; omitted when undefined. */
  readonly apiKey?: Redacted.Redacted | string | undefined
  /** Replaces the request's `model` for every upstream call; default: the request's model. */
  readonly model?: string | undefined
  /** Extra headers on every upstream request (e.g. `OpenAI-Organization`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /**
   * How long to wait for the answer's headers, and then for each next chunk of the stream, before failing with
   * reason `Timeout` (keep-alive comments count as progress). Default 5 minutes (Codex's stream idle timeout).
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultIdleTimeout: Duration.Duration = Duration.minutes(5)

// Fields the upstream must not see: WebSocket-only ones, Loopwire's resume extension, the chain (the gateway
// replays the full context instead), and modes the gateway does not forward.
const dropped = new Set([
  "type",
  "input",
  "previous_response_id",
  "conversation",
  "stream_id",
  "generate",
  "client_metadata",
  "loopwire_request_id",
  "background",
  "stream",
  "store"
])

/**
 * The upstream request body for a turn: the request's settings, the full context as `input`, `stream: true`,
 * `store: false`, no `previous_response_id`.
 *
 * @since 0.1.0
 * @category request
 */
export const requestBody = (turn: ModelTurn, model?: string | undefined): Record<string, unknown> => {
  const body = settingsOf(turn, model)
  body.input = turn.input
  body.stream = true
  body.store = false
  return body
}

/**
 * The settings a turn is sent upstream with: the request's fields without the input, the chain, WebSocket-only
 * and resume fields and the modes the gateway does not forward; `model` replaced when given.
 *
 * @since 0.1.0
 * @category request
 */
export const settingsOf = (turn: ModelTurn, model?: string | undefined): Record<string, unknown> => {
  const body: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(turn.request)) {
    if (!dropped.has(key) && value !== undefined) body[key] = value
  }
  body.model = model ?? turn.request.model ?? turn.response.model
  return body
}

/**
 * Maps an upstream HTTP error answer to a `ModelBackendError` carrying its status and, when the body is the usual
 * `{ error: { message, type, code, param } }`, those fields.
 *
 * @since 0.1.0
 * @category errors
 */
export const statusError = (status: number, body: string): ModelBackendError => {
  let detail: Record<string, unknown> | undefined
  try {
    const parsed = JSON.parse(body) as unknown
    if (typeof parsed === "object" && parsed !== null && "error" in parsed) {
      const error = (parsed as { error: unknown }).error
      if (typeof error === "object" && error !== null) detail = error as Record<string, unknown>
    }
  } catch {
    // Not JSON: keep the (truncated) text as the message.
  }
  const text = (value: unknown) => (typeof value === "string" ? value : undefined)
  const message = text(detail?.message) ?? (body.trim() === "" ? `HTTP ${status}` : body.slice(0, 500))
  return new ModelBackendError({
    reason: "HttpStatus",
    status,
    message: `Upstream answered ${status}: ${message}`,
    code: text(detail?.code) ?? null,
    ...(text(detail?.type) === undefined ? {} : { type: text(detail?.type)! }),
    param: text(detail?.param) ?? null
  })
}

const networkError = (error: HttpClientError.HttpClientError): ModelBackendError =>
  new ModelBackendError({ reason: "Network", message: `Upstream request failed: ${error.message}` })

const timeoutError = (idle: Duration.Duration) => () =>
  new ModelBackendError({
    reason: "Timeout",
    message: `Upstream sent nothing for ${Duration.format(idle)}.`
  })

const protocolError = (message: string): ModelBackendError =>
  new ModelBackendError({ reason: "Protocol", message: `Upstream stream is not a Responses event stream: ${message}` })

const hasResponse = (event: ServerEventBody): event is ServerEventBody & { readonly response: Response } =>
  typeof (event as { response?: unknown }).response === "object" && (event as { response?: unknown }).response !== null

/**
 * Maps one upstream event onto the gateway's response: drops `sequence_number`/`stream_id`, and in every carried
 * Response puts the gateway's `id`, `previous_response_id` and `store` in place of the upstream's.
 *
 * @since 0.1.0
 * @category events
 */
export const mapEvent = (turn: ModelTurn, event: ServerEventBody): ServerEventBody => {
  const { sequence_number: _s, stream_id: _l, ...body } = event
  if (!hasResponse(event)) return body as ServerEventBody
  const response: Response = {
    ...event.response,
    id: turn.response.id,
    previous_response_id: turn.response.previous_response_id ?? null,
    ...(turn.response.store === undefined ? {} : { store: turn.response.store })
  }
  return { ...body, response } as ServerEventBody
}

const decodeResponse = Schema.decodeUnknownEither(ResponseSchema)

const decodeResponseJson = (text: string): Either.Either<Response, ModelBackendError> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Either.left(protocolError("the JSON answer is not valid JSON"))
  }
  return Either.mapLeft(
    decodeResponse(value),
    (error) => protocolError(`the JSON answer is not a Response: ${error.message}`)
  )
}

interface Progress {
  readonly sse: Sse.SseState
  readonly started: boolean
  readonly done: boolean
}

/**
 * Turns upstream SSE events into the backend's event stream: `response.created` first (synthesised from the
 * gateway's skeleton if the upstream did not start with it), upstream `response.queued` dropped, an upstream
 * `error` event or a malformed one failing the stream, nothing after the terminal event.
 *
 * @internal
 */
const interpret = (
  turn: ModelTurn,
  progress: Progress,
  sse: Sse.SseEvent
): Either.Either<readonly [Progress, ReadonlyArray<ServerEventBody>], ModelBackendError> => {
  if (progress.done || sse.data === "[DONE]") return Either.right([progress, []])
  let value: unknown
  try {
    value = JSON.parse(sse.data)
  } catch {
    return Either.left(protocolError(`an SSE data line is not JSON (event ${sse.event ?? "message"})`))
  }
  const decoded = Codec.decodeServerEventUnknown(value)
  if (Either.isLeft(decoded)) return Either.left(protocolError(decoded.left.message))
  const event = decoded.right
  if (event.type === "error") {
    const flat = event as { code?: unknown; message?: unknown; param?: unknown; error?: unknown; status?: unknown }
    const nested = typeof flat.error === "object" && flat.error !== null ?
      flat.error as { code?: unknown; message?: unknown; type?: unknown; param?: unknown } :
      undefined
    const text = (v: unknown) => (typeof v === "string" ? v : undefined)
    const type = text(nested?.type)
    return Either.left(
      new ModelBackendError({
        reason: "Upstream",
        message: `Upstream error: ${text(nested?.message ?? flat.message) ?? "unknown error"}`,
        code: text(nested?.code ?? flat.code) ?? null,
        param: text(nested?.param ?? flat.param) ?? null,
        ...(typeof flat.status === "number" ? { status: flat.status } : {}),
        ...(type === undefined ? {} : { type })
      })
    )
  }
  if (event.type === "response.queued") return Either.right([progress, []])
  const out: Array<ServerEventBody> = []
  if (!progress.started && event.type !== "response.created") {
    out.push({ type: "response.created", response: turn.response })
  }
  out.push(mapEvent(turn, event))
  return Either.right([{ ...progress, started: true, done: ServerEvent.isResponseTerminal(event) }, out])
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Shape, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = HttpClient.withScope(yield* HttpClient.HttpClient)
    const url = `${options.baseUrl.replace(/\/+$/, "")}/responses`
    const apiKey = options.apiKey === undefined
      ? undefined
      : Redacted.isRedacted(options.apiKey)
      ? options.apiKey
      : Redacted.make(options.apiKey)
    const counter = generations.pipe(Metric.tagged("backend", "upstream"))
    const idle = Duration.decode(options.idleTimeout ?? defaultIdleTimeout)

    const generate = (turn: ModelTurn): Stream.Stream<ServerEventBody, ModelBackendError> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        yield* Metric.increment(counter)
        let request = HttpClientRequest.post(url).pipe(
          HttpClientRequest.setHeaders({ ...options.headers, accept: "text/event-stream" }),
          HttpClientRequest.bodyUnsafeJson(requestBody(turn, options.model))
        )
        if (apiKey !== undefined) request = HttpClientRequest.bearerToken(request, Redacted.value(apiKey))
        const response = yield* client.execute(request).pipe(
          Effect.mapError(networkError),
          Effect.timeoutFail({ duration: idle, onTimeout: timeoutError(idle) })
        )
        if (response.status < 200 || response.status >= 300) {
          const body = yield* response.text.pipe(
            Effect.timeoutFail({ duration: idle, onTimeout: timeoutError(idle) }),
            Effect.orElseSucceed(() => "")
          )
          return yield* Effect.fail(statusError(response.status, body))
        }
        const contentType = String(response.headers["content-type"] ?? "")
        if (contentType.includes("application/json")) {
          // An upstream that ignores `stream: true` answers with the final Response: cut it into its events.
          const text = yield* response.text.pipe(
            Effect.mapError(networkError),
            Effect.timeoutFail({ duration: idle, onTimeout: timeoutError(idle) })
          )
          const decoded = decodeResponseJson(text)
          if (Either.isLeft(decoded)) return yield* Effect.fail(decoded.left)
          return Stream.fromIterable(Events.fromResponse(decoded.right).map((event) => mapEvent(turn, event)))
        }
        const initial: Progress = { sse: Sse.initial, started: false, done: false }
        return response.stream.pipe(
          Stream.mapError(networkError),
          Stream.timeoutFail(timeoutError(idle), idle),
          Stream.decodeText(),
          Stream.mapAccumEffect(initial, (progress, chunk) => {
            const [sse, sseEvents] = Sse.feed(progress.sse, chunk)
            let current: Progress = { ...progress, sse }
            const out: Array<ServerEventBody> = []
            for (const sseEvent of sseEvents) {
              const step = interpret(turn, current, sseEvent)
              if (Either.isLeft(step)) return Effect.fail(step.left)
              current = step.right[0]
              out.push(...step.right[1])
            }
            return Effect.succeed([current, out] as const)
          }),
          Stream.flattenIterables,
          Stream.takeUntil(ServerEvent.isResponseTerminal),
          ensureTerminal
        )
      }))

    return ModelBackend.of({ supportsSteering: false, generate })
  })

// The stream must end with a terminal event; an upstream that closes early is a protocol failure.
const ensureTerminal = <E>(
  events: Stream.Stream<ServerEventBody, E>
): Stream.Stream<ServerEventBody, E | ModelBackendError> =>
  Stream.unwrap(Effect.sync(() => {
    let terminated = false
    return events.pipe(
      Stream.tap((event) => Effect.sync(() => {
        if (ServerEvent.isResponseTerminal(event)) terminated = true
      })),
      Stream.concat(Stream.suspend(() =>
        terminated ? Stream.empty : Stream.fail(protocolError("the stream ended before a terminal event"))
      ))
    )
  }))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ModelBackend, never, HttpClient.HttpClient> =>
  Layer.effect(ModelBackend, make(options))

/**
 * Options from configuration: `LOOPWIRE_UPSTREAM_URL` (required, e.g. `https://api.openai.com/v1`),
 * `LOOPWIRE_UPSTREAM_API_KEY` (redacted, optional), `LOOPWIRE_UPSTREAM_MODEL` (optional model override),
 * `LOOPWIRE_UPSTREAM_IDLE_TIMEOUT` (duration, default 5 minutes).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.url("LOOPWIRE_UPSTREAM_URL"),
  apiKey: Config.option(Config.redacted("LOOPWIRE_UPSTREAM_API_KEY")),
  model: Config.option(Config.nonEmptyString("LOOPWIRE_UPSTREAM_MODEL")),
  idleTimeout: Config.withDefault(Config.duration("LOOPWIRE_UPSTREAM_IDLE_TIMEOUT"), defaultIdleTimeout)
}).pipe(Config.map(({ apiKey, baseUrl, idleTimeout, model }) => ({
  baseUrl: baseUrl.toString(),
  apiKey: Option.getOrUndefined(apiKey),
  model: Option.getOrUndefined(model),
  idleTimeout
})))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<ModelBackend, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(ModelBackend, Effect.flatMap(options, make))
