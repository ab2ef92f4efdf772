/**
 * The gateway's model backend for an upstream that speaks the Responses API: OpenAI, xAI, Azure, or another
 * Loopwire gateway. In WebSocket mode (the default, `transport: "auto"`) it removes the agent tax on the upstream
 * hop too: it keeps a pool of upstream sockets (the client's `ConnectionPool`), holds one client `Session` per
 * downstream chain (pinned to the socket and lane that hold the chain's latest upstream response), and sends each
 * turn upstream as `previous_response_id` + only the new items whenever the session's continuation rule allows,
 * with the full context otherwise. The session's recovery ladder handles the upstream's failures
 * (`previous_response_not_found` → one full resend, the socket's age → rotation between turns, a drop → resume
 * when the upstream is a Loopwire gateway offering it, else a reconnect).
 *
 * Stateless clients benefit too: a turn that arrives with its full context (HTTP `POST`, a `response.create`
 * without `previous_response_id`, Codex's full resend) is matched by `PrefixIndex` to the held chain, of the same
 * tenant and settings, whose context + output is a strict prefix of its input; the upstream turn is then a delta.
 *
 * What it never does: regenerate a response after output was delivered downstream. A socket lost mid-response
 * without resume fails the downstream response with code `upstream_connection_lost` (status 502); the downstream
 * client recovers as from any lost response (it resends the turn). An upstream that refuses the upgrade (426, 404,
 * 405) is served over HTTP (`transport: "auto"`), remembered for `fallbackFor`.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ConnectionPool from "@loopwire/client/ConnectionPool"
import type * as Recovery from "@loopwire/client/Recovery"
import type { ResponsesError } from "@loopwire/client/ResponsesError"
import * as Session from "@loopwire/client/Session"
import type { InputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import { generations, ModelBackend, ModelBackendError } from "@loopwire/server/ModelBackend"
import type { ModelTurn, ServerEventBody, Shape } from "@loopwire/server/ModelBackend"
import * as HttpUpstream from "@loopwire/server/UpstreamBackend"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { isResponseTerminal as isTerminal } from "@loopwire/protocol/ServerEvent"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as PrefixIndex from "./PrefixIndex.js"
import * as Proxy from "./Proxy.js"

/**
 * How turns go upstream: `auto` (WebSocket mode, HTTP when the upgrade is refused), `websocket` (WebSocket mode
 * only), `http` (a full-context `POST` every turn).
 *
 * @since 0.1.0
 * @category models
 */
export type Transport = "auto" | "websocket" | "http"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends HttpUpstream.Options {
  /** Default `auto`. */
  readonly transport?: Transport | undefined
  /** Upstream sockets in the pool (default 4). Each holds up to `maxLanes` chains with lanes, else one. */
  readonly poolSize?: number | undefined
  /** Whether the upstream multiplexes lanes (`stream_id`; default true: OpenAI and Loopwire do). */
  readonly lanes?: boolean | undefined
  /** Lanes per socket, i.e. chains held warm per socket (default 32). */
  readonly maxLanes?: number | undefined
  /** Rotate an upstream socket between turns once it is this old (default 55 minutes; OpenAI closes at 60). */
  readonly maxAge?: Duration.DurationInput | undefined
  /** The upstream sockets' ping (default every 30 s, 10 s to answer; `false`: none). */
  readonly heartbeat?: ClientConfig.Options["heartbeat"]
  /** How long a refused upgrade (426, 404, 405) sends this upstream's turns over HTTP (default 10 minutes). */
  readonly fallbackFor?: Duration.DurationInput | undefined
  /** Honour `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` on both transports (default true). */
  readonly proxy?: boolean | undefined
  /** Backoff of the upstream sessions' recovery ladder (default 0.5 s → 8 s, 5 retries). */
  readonly backoff?: Partial<Recovery.BackoffPolicy> | undefined
  /** Reconnect-with-resume when the upstream is a Loopwire gateway offering it (default true). */
  readonly resume?: boolean | undefined
  /** TLS options for `https`/`wss` upstreams on both transports (e.g. `ca` for a private certificate). */
  readonly tls?: WebSocket.TlsOptions | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultPoolSize = 4

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultFallbackFor: Duration.Duration = Duration.minutes(10)

/**
 * Upstream requests by transport (`websocket`, `http`) and mode (`delta`, `full`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requests = Metric.counter("loopwire_upstream_requests", { incremental: true })

/**
 * Bytes of the upstream requests (WebSocket frames; HTTP bodies), by transport.
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestBytes = Metric.counter("loopwire_upstream_request_bytes", { incremental: true })

/**
 * Full-context turns looked up in the prefix index, by `result` (`hit`, `miss`, `ambiguous`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const prefixLookups = Metric.counter("loopwire_upstream_prefix_lookups", { incremental: true })

/**
 * Refused WebSocket upgrades (426, 404, 405) that switched the upstream to HTTP for a while.
 *
 * @since 0.1.0
 * @category metrics
 */
export const upgradeRefusals = Metric.counter("loopwire_upstream_upgrade_refusals", { incremental: true })

/**
 * The code of the downstream failure when the upstream response was lost after output had been delivered
 * downstream: its socket dropped and the upstream could not resume it (or the upstream failed it with an `error`
 * frame, whose message is kept). The response ends with `response.failed`, status 502; the downstream client
 * recovers by sending the turn again.
 *
 * @since 0.1.0
 * @category errors
 */
export const connectionLostCode = "upstream_connection_lost"

/**
 * Parses an extra upstream header given as `Name: value`.
 *
 * @since 0.1.0
 * @category config
 */
export const parseHeader = (text: string): Either.Either<readonly [string, string], string> => {
  const colon = text.indexOf(":")
  const name = colon === -1 ? "" : text.slice(0, colon).trim()
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return Either.left(`expected 'Name: value', got '${text}'`)
  return Either.right([name, text.slice(colon + 1).trim()] as const)
}

/**
 * Parses several `Name: value` headers into a record (a later one of the same name wins).
 *
 * @since 0.1.0
 * @category config
 */
export const parseHeaders = (
  lines: ReadonlyArray<string>
): Either.Either<Readonly<Record<string, string>>, string> => {
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const parsed = parseHeader(line)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    headers[parsed.right[0]] = parsed.right[1]
  }
  return Either.right(headers)
}

// A chain held warm upstream: its session (socket + lane), and what its latest response is.
interface Held {
  readonly session: Session.Session
  readonly scope: Scope.CloseableScope
  readonly key: string
  digest: PrefixIndex.Digest
  length: number
  responseId: string | undefined
  busy: boolean
  lastUsed: number
}

// The upgrade was refused: the turn goes over HTTP (`auto`).
class Refused {
  readonly _tag = "Refused"
  constructor(readonly error: ResponsesError) {}
}

const refusedStatuses = new Set([404, 405, 426])

/**
 * The `ModelBackendError` for a failed upstream session turn.
 *
 * @since 0.1.0
 * @category errors
 */
export const backendError = (error: ResponsesError): ModelBackendError => {
  const detail = {
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.code !== undefined ? { code: error.code } : {}),
    ...(error.param !== undefined ? { param: error.param } : {}),
    ...(error.errorType !== undefined ? { type: error.errorType } : {})
  }
  switch (error.reason) {
    case "Connect":
      return new ModelBackendError({
        reason: error.status !== undefined ? "HttpStatus" : "Network",
        message: `Upstream connect failed: ${error.message}`,
        ...detail
      })
    case "ConnectionLost":
      return new ModelBackendError({ reason: "Network", message: `Upstream connection lost: ${error.message}`, ...detail })
    case "Protocol":
      return new ModelBackendError({ reason: "Protocol", message: `Upstream protocol error: ${error.message}` })
    case "LaneLimit":
    case "Invalid":
      return new ModelBackendError({ reason: "Internal", message: `Upstream session: ${error.message}`, ...detail })
    default:
      return new ModelBackendError({ reason: "Upstream", message: `Upstream error: ${error.message}`, ...detail })
  }
}

const lostMidResponse = (reason: string) =>
  new ModelBackendError({
    reason: "Network",
    status: 502,
    code: connectionLostCode,
    message: `The upstream connection was lost mid-response and the response could not be resumed (${reason}); ` +
      "send the turn again."
  })

/**
 * The backend over an already-built HTTP upstream backend (the fallback and the `http` transport).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Shape, never, Scope.Scope | import("@effect/platform/HttpClient").HttpClient> =>
  Effect.gen(function*() {
    const httpBackend = yield* HttpUpstream.make(options)
    const httpRequests = requests.pipe(Metric.tagged("transport", "http"), Metric.tagged("mode", "full"))
    const http = {
      generate: (turn: ModelTurn) => Stream.unwrap(Effect.as(Metric.increment(httpRequests), httpBackend.generate(turn)))
    }
    const transport = options.transport ?? "auto"
    if (transport === "http") return ModelBackend.of({ supportsSteering: false, generate: http.generate })

    const backendScope = yield* Effect.scope
    const config = ClientConfig.make({
      baseUrl: options.baseUrl,
      apiKey: options.apiKey === undefined
        ? undefined
        : Redacted.isRedacted(options.apiKey)
        ? (options.apiKey as Redacted.Redacted<string>)
        : options.apiKey,
      headers: options.headers,
      lanes: options.lanes ?? true,
      maxLanes: options.maxLanes,
      maxAge: options.maxAge,
      heartbeat: options.heartbeat,
      resume: options.resume ?? true
    })
    const agent = options.proxy === false ? undefined : Proxy.webSocketAgent(config.url)
    const pool = yield* ConnectionPool.make(config, { size: options.poolSize ?? defaultPoolSize }).pipe(
      Effect.provide(WebSocket.layer({
        ...(agent === undefined ? {} : { agent }),
        ...(options.tls === undefined ? {} : { tls: options.tls })
      }))
    )
    // The sessions' idle timeout runs from the later of the last event and the last answered ping: a silent model on a
    // live socket is waited for; a socket that answers nothing is cut (by the heartbeat, sooner).
    const idleTimeout = options.idleTimeout ?? HttpUpstream.defaultIdleTimeout
    const fallbackMillis = Duration.toMillis(Duration.decode(options.fallbackFor ?? defaultFallbackFor))
    let httpUntil = 0

    const byResponse = new Map<string, Held>()
    const index = PrefixIndex.make<Held>()
    const all = new Set<Held>()
    let tick = 0
    const counter = (transport: string, mode: string) =>
      requests.pipe(Metric.tagged("transport", transport), Metric.tagged("mode", mode))
    const bytesCounter = requestBytes.pipe(Metric.tagged("transport", "websocket"))
    const generationsCounter = generations.pipe(Metric.tagged("backend", "upstream"))
    const lookups = (result: string) => prefixLookups.pipe(Metric.tagged("result", result))

    const unregister = (held: Held) => {
      if (held.responseId !== undefined && byResponse.get(held.responseId) === held) byResponse.delete(held.responseId)
      index.remove(held.key, held.digest, held)
    }

    // Forgets the chain at once (when called, not when run: nothing can claim it in between), then closes its session.
    const discard = (held: Held): Effect.Effect<void> => {
      unregister(held)
      all.delete(held)
      held.busy = true
      return Scope.close(held.scope, Exit.void)
    }

    // A session on the pool (a socket and lane for the chain); when the pool is full, the least recently used idle
    // chain gives its place up. None when every place is busy.
    const open: (key: string) => Effect.Effect<Option.Option<Held>, ModelBackendError> = Effect.fn("Upstream.open")(
      function*(key: string) {
        for (let attempt = 0; attempt < 2; attempt++) {
          const scope = yield* Scope.fork(backendScope, ExecutionStrategy.sequential)
          const made = yield* Session.make({
            httpFallback: false,
            idleTimeout,
            ...(options.backoff !== undefined ? { backoff: options.backoff } : {})
          }).pipe(
            Effect.provideService(ConnectionPool.ConnectionPool, pool),
            Scope.extend(scope),
            Effect.either
          )
          if (Either.isRight(made)) {
            const held: Held = {
              session: made.right,
              scope,
              key,
              digest: PrefixIndex.empty,
              length: 0,
              responseId: undefined,
              busy: true,
              lastUsed: ++tick
            }
            all.add(held)
            return Option.some(held)
          }
          yield* Scope.close(scope, Exit.void)
          if (made.left.reason !== "LaneLimit") return yield* Effect.fail(backendError(made.left))
          let oldest: Held | undefined
          for (const h of all) if (!h.busy && (oldest === undefined || h.lastUsed < oldest.lastUsed)) oldest = h
          if (oldest === undefined) return Option.none()
          yield* discard(oldest)
        }
        return Option.none()
      }
    )

    const websocketTurn = (turn: ModelTurn): Stream.Stream<ServerEventBody, ModelBackendError | Refused> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const settings = { ...HttpUpstream.settingsOf(turn, options.model), store: false }
        const key = PrefixIndex.scopeOf(turn.tenant ?? "", settings)

        // The chain this turn extends: by the downstream previous_response_id (O(new input)), else by prefix.
        let held: Held | undefined
        let items: ReadonlyArray<InputItem> | undefined
        let newItems: ReadonlyArray<InputItem>
        let contextDigest: PrefixIndex.Digest | undefined
        let contextLength: number
        let lookup: string | undefined
        // A claimed chain whose turn never settles (interrupted before it ran) gives its place back.
        let claimed: Held | undefined
        let settled = false
        yield* Effect.addFinalizer(() => (claimed !== undefined && !settled ? discard(claimed) : Effect.void))
        const previous = turn.response.previous_response_id ?? undefined
        const direct = previous === undefined ? undefined : byResponse.get(previous)
        if (direct !== undefined && !direct.busy && direct.key === key) {
          held = direct
          newItems = turn.newInput
          contextLength = direct.length + newItems.length
        } else {
          items = turn.input
          const digests = PrefixIndex.prefixes(items)
          const match = index.longest(key, digests)
          lookup = match._tag === "Hit" ? "hit" : match._tag === "Miss" ? "miss" : "ambiguous"
          // A chain running a turn is not in the index (claimed): a fork of its response finds nothing and goes in full.
          if (match._tag === "Hit") {
            held = match.value
            newItems = items.slice(match.length)
          } else {
            newItems = items
          }
          contextDigest = digests[items.length - 1] ?? PrefixIndex.empty
          contextLength = items.length
        }
        const base = held
        // Claimed before anything yields: another turn of the same chain (a fork) must not take it too.
        if (held !== undefined) {
          held.busy = true
          unregister(held)
          claimed = held
        }
        if (lookup !== undefined) yield* Metric.increment(lookups(lookup))
        if (held === undefined) {
          const opened = yield* Effect.uninterruptible(open(key))
          if (Option.isSome(opened)) claimed = opened.value
          if (Option.isNone(opened)) {
            // Every upstream place is busy: this turn goes in full over HTTP (size the pool for the concurrency).
            return http.generate(turn)
          }
          held = opened.value
          newItems = items ?? turn.input
          contextLength = newItems.length
          if (contextDigest === undefined) contextDigest = PrefixIndex.extend(PrefixIndex.empty, newItems)
        }
        const chain = held
        const startDigest = base !== undefined && contextDigest === undefined ? base.digest : undefined
        const before = yield* chain.session.metrics

        const mailbox = yield* Mailbox.make<ServerEventBody, ModelBackendError | Refused>()
        let created = false
        let inProgress = false
        let output = false
        let abandoned = false
        let terminal: ServerEventBody | undefined
        const offer = (event: ServerEventBody) => void mailbox.unsafeOffer(HttpUpstream.mapEvent(turn, event))
        const onEvent = (turnEvent: Session.TurnEvent) => {
          if (abandoned) return
          if (turnEvent._tag === "Discard") {
            // Output already went downstream: never regenerate it silently.
            if (output) {
              abandoned = true
              mailbox.unsafeDone(Exit.fail(lostMidResponse(turnEvent.reason)))
            }
            return
          }
          const event = turnEvent.event as ServerEventBody
          if (event.type === "response.queued") return
          if (event.type === "response.created") {
            if (created) return
            created = true
            return offer(event)
          }
          if (event.type === "response.in_progress") {
            if (inProgress) return
            inProgress = true
            if (!created) {
              created = true
              mailbox.unsafeOffer({ type: "response.created", response: turn.response })
            }
            return offer(event)
          }
          if (!created) {
            created = true
            mailbox.unsafeOffer({ type: "response.created", response: turn.response })
          }
          output = true
          // The terminal event goes downstream once the chain is registered (below): the gateway ends the stream
          // (and this turn's scope) on it, and a client may continue the response the moment it sees it.
          if (isTerminal(event)) terminal = event
          else offer(event)
        }

        const settle = (exit: Exit.Exit<Response, ResponsesError>) =>
          Effect.gen(function*() {
            settled = true
            const after = yield* chain.session.metrics
            const deltas = after.deltaRequests - before.deltaRequests
            const fulls = after.fullRequests - before.fullRequests
            if (deltas > 0) yield* Metric.incrementBy(counter("websocket", "delta"), deltas)
            if (fulls > 0) yield* Metric.incrementBy(counter("websocket", "full"), fulls)
            yield* Metric.incrementBy(bytesCounter, after.bytesSent - before.bytesSent)
            // A generation is counted once the upstream started a response (a refused upgrade counts on HTTP).
            if (created) yield* Metric.increment(generationsCounter)
            if (Exit.isSuccess(exit) && exit.value.status !== "failed" && !abandoned) {
              const response = exit.value
              const digest = PrefixIndex.extend(
                startDigest !== undefined ? PrefixIndex.extend(startDigest, newItems) : contextDigest!,
                response.output
              )
              chain.digest = digest
              chain.length = contextLength + response.output.length
              chain.responseId = turn.response.id
              chain.busy = false
              chain.lastUsed = ++tick
              byResponse.set(turn.response.id, chain)
              index.register(chain.key, digest, chain.length, chain)
              if (terminal !== undefined) offer(terminal)
              mailbox.unsafeDone(Exit.void)
              return
            }
            // Failed, abandoned or interrupted: the session's history is not the chain's any more.
            yield* discard(chain)
            if (Exit.isSuccess(exit)) {
              if (terminal !== undefined && !abandoned) offer(terminal)
              return void mailbox.unsafeDone(Exit.void)
            }
            const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
            if (failure === undefined) return void mailbox.unsafeDone(Exit.void)
            const refused = failure.reason === "Connect" && failure.status !== undefined &&
              refusedStatuses.has(failure.status) && !created
            if (refused && transport === "auto") return void mailbox.unsafeDone(Exit.fail(new Refused(failure)))
            mailbox.unsafeDone(Exit.fail(backendError(failure)))
          })

        yield* chain.session.turnWith(newItems, settings as Session.Settings, onEvent).pipe(
          Effect.onExit(settle),
          Effect.forkScoped
        )
        return Mailbox.toStream(mailbox)
      }))

    const generate = (turn: ModelTurn): Stream.Stream<ServerEventBody, ModelBackendError> =>
      Stream.unwrap(Effect.map(Clock.currentTimeMillis, (now) => {
        if (now < httpUntil) return http.generate(turn)
        return websocketTurn(turn).pipe(
          Stream.catchAll((error) => {
            if (!(error instanceof Refused)) return Stream.fail(error)
            // Remembered for this upstream: the next turns go straight over HTTP until `fallbackFor` has passed.
            return Stream.unwrap(Effect.map(Clock.currentTimeMillis, (at) => {
              httpUntil = at + fallbackMillis
              return Stream.execute(Effect.zipRight(
                Metric.increment(upgradeRefusals),
                Effect.logWarning(
                  `upstream refused the WebSocket upgrade (${error.error.status}): HTTP for ${
                    Duration.format(Duration.millis(fallbackMillis))
                  }`
                )
              )).pipe(Stream.concat(http.generate(turn)))
            }))
          })
        )
      }))

    return ModelBackend.of({ supportsSteering: false, generate })
  })

/**
 * The HTTP client the `http` transport and the fallback use: undici, through `HTTPS_PROXY` / `HTTP_PROXY` unless
 * the host is in `NO_PROXY` (undici's `EnvHttpProxyAgent`), or direct with `proxy: false`; `tls` for `https`.
 *
 * @since 0.1.0
 * @category layers
 */
export const httpClientLayer = (
  options: { readonly proxy?: boolean | undefined; readonly tls?: WebSocket.TlsOptions | undefined } = {}
) =>
  NodeHttpClient.layerUndiciWithoutDispatcher.pipe(Layer.provide(Proxy.dispatcherLayer(options)))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ModelBackend> =>
  Layer.scoped(ModelBackend, make(options)).pipe(Layer.provide(httpClientLayer(options)))

/**
 * Options from configuration, each overridable (the CLI's flags): `LOOPWIRE_UPSTREAM_URL` (required unless
 * `overrides.baseUrl`), `LOOPWIRE_UPSTREAM_API_KEY` (redacted), `LOOPWIRE_UPSTREAM_MODEL`,
 * `LOOPWIRE_UPSTREAM_IDLE_TIMEOUT` (default 5 minutes), `LOOPWIRE_UPSTREAM_TRANSPORT` (`auto` | `websocket` |
 * `http`, default `auto`), `LOOPWIRE_UPSTREAM_POOL_SIZE` (default 4), `LOOPWIRE_UPSTREAM_HEADERS` (`Name: value`
 * lines, newline-separated; `overrides.headers` are added to them), `LOOPWIRE_UPSTREAM_LANES` (default true),
 * `LOOPWIRE_UPSTREAM_MAX_AGE` (default 55 minutes), `LOOPWIRE_UPSTREAM_FALLBACK_FOR` (default 10 minutes).
 *
 * @since 0.1.0
 * @category config
 */
export const configWith = (overrides: Partial<Options> = {}): Config.Config<Options> =>
  Config.all({
    baseUrl: overrides.baseUrl !== undefined
      ? Config.succeed(overrides.baseUrl)
      : Config.map(Config.url("LOOPWIRE_UPSTREAM_URL"), (url) => url.toString()),
    apiKey: Config.option(Config.redacted("LOOPWIRE_UPSTREAM_API_KEY")),
    model: Config.option(Config.nonEmptyString("LOOPWIRE_UPSTREAM_MODEL")),
    idleTimeout: Config.withDefault(Config.duration("LOOPWIRE_UPSTREAM_IDLE_TIMEOUT"), HttpUpstream.defaultIdleTimeout),
    transport: Config.literal("auto", "websocket", "http")("LOOPWIRE_UPSTREAM_TRANSPORT").pipe(
      Config.withDefault("auto" as const)
    ),
    poolSize: Config.integer("LOOPWIRE_UPSTREAM_POOL_SIZE").pipe(
      Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 }),
      Config.withDefault(defaultPoolSize)
    ),
    headers: Config.string("LOOPWIRE_UPSTREAM_HEADERS").pipe(
      Config.withDefault(""),
      Config.mapOrFail((text) =>
        Either.mapLeft(
          parseHeaders(text.split("\n").filter((line) => line.trim() !== "")),
          (message) => ConfigError.InvalidData(["LOOPWIRE_UPSTREAM_HEADERS"], message)
        )
      )
    ),
    lanes: Config.boolean("LOOPWIRE_UPSTREAM_LANES").pipe(Config.withDefault(true)),
    maxAge: Config.duration("LOOPWIRE_UPSTREAM_MAX_AGE").pipe(Config.withDefault(Duration.minutes(55))),
    fallbackFor: Config.duration("LOOPWIRE_UPSTREAM_FALLBACK_FOR").pipe(Config.withDefault(defaultFallbackFor))
  }).pipe(Config.map(({ apiKey, headers, model, ...rest }): Options => ({
    ...rest,
    apiKey: Option.getOrUndefined(apiKey),
    model: Option.getOrUndefined(model),
    ...overrides,
    headers: { ...headers, ...overrides.headers }
  })))

/**
 * `configWith()`: everything from the environment.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = configWith()

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<ModelBackend, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(options, layer))
