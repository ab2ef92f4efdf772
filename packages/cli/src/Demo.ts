/**
 * `loopwire demo`: the same 20-tool-call agent, run over HTTP (the full context every turn, as a stateless client
 * does) and over WebSocket mode (each turn a delta continuing the previous response), against an embedded gateway
 * on 127.0.0.1 with the scripted model and the built-in demo scenario; then a side-by-side table.
 *
 * Everything is in process and on loopback: no network, no configuration, the same answer every time.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as AgentLoop from "@loopwire/client/AgentLoop"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ConnectionPool from "@loopwire/client/ConnectionPool"
import * as Session from "@loopwire/client/Session"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as ToolRegistry from "@loopwire/client/ToolRegistry"
import { isResponseTerminal } from "@loopwire/protocol/ServerEvent"
import * as Gateway from "@loopwire/server/Gateway"
import { ModelBackend } from "@loopwire/server/ModelBackend"
import * as Scenario from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as WebSocket from "@loopwire/transport/WebSocket"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { performance } from "node:perf_hooks"

// ---------------------------------------------------------------------------------------------------------------
// The tools
// ---------------------------------------------------------------------------------------------------------------

/**
 * `get_population` was asked for a city the table does not know.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownCity extends Schema.TaggedError<UnknownCity>("@loopwire/cli/UnknownCity")("UnknownCity", {
  reason: Schema.Literal("UnknownCity"),
  city: Schema.String,
  message: Schema.String
}) {}

/**
 * `calculate` could not evaluate its expression. `position` is the 0-based character offset of the problem.
 *
 * @since 0.1.0
 * @category errors
 */
export class CalculationError extends Schema.TaggedError<CalculationError>("@loopwire/cli/CalculationError")(
  "CalculationError",
  {
    reason: Schema.Literal("Syntax", "DivisionByZero", "NotFinite", "TooComplex"),
    position: Schema.Number,
    message: Schema.String
  }
) {}

/**
 * @since 0.1.0
 * @category tools
 */
export const GetPopulation = Tool.make("get_population", {
  description: "The population of a city (city proper), from the demo's table.",
  parameters: { city: Schema.String },
  success: Schema.Struct({ city: Schema.String, population: Schema.Number }),
  failure: UnknownCity
}).annotate(ToolRegistry.Timeout, "5 seconds")

/**
 * @since 0.1.0
 * @category tools
 */
export const Calculate = Tool.make("calculate", {
  description: "Evaluates an arithmetic expression: numbers (decimals allowed), + - * /, parentheses.",
  parameters: { expression: Schema.String },
  success: Schema.Number,
  failure: CalculationError
}).annotate(ToolRegistry.Timeout, "5 seconds")

/**
 * The demo's toolkit: `get_population` and `calculate`.
 *
 * @since 0.1.0
 * @category tools
 */
export const DemoTools = Toolkit.make(GetPopulation, Calculate)

/**
 * Handlers: `get_population` reads `Scenario.demoPopulations` (so the scripted summary matches the tool outputs),
 * `calculate` is {@link evaluate}.
 *
 * @since 0.1.0
 * @category tools
 */
export const DemoToolsLive = DemoTools.toLayer({
  get_population: ({ city }) => {
    const population = Scenario.demoPopulations[city]
    return population === undefined
      ? Effect.fail(new UnknownCity({ reason: "UnknownCity", city, message: `No population known for '${city}'.` }))
      : Effect.succeed({ city, population })
  },
  calculate: ({ expression }) => Either.match(evaluate(expression), { onLeft: Effect.fail, onRight: Effect.succeed })
})

const maxExpressionLength = 1000
const maxDepth = 64

/**
 * Evaluates an arithmetic expression without `eval`: a recursive-descent parser over numbers (`12`, `3.5`, `.5`),
 * `+ - * /`, unary `+`/`-` and parentheses, with the usual precedence, left to right. Input longer than 1000
 * characters or nested deeper than 64 levels is refused (`TooComplex`), so evaluation is bounded.
 *
 * @since 0.1.0
 * @category tools
 */
export const evaluate = (expression: string): Either.Either<number, CalculationError> => {
  const fail = (reason: CalculationError["reason"], position: number, message: string) =>
    Either.left(new CalculationError({ reason, position, message }))
  if (expression.length > maxExpressionLength) {
    return fail("TooComplex", maxExpressionLength, `The expression is longer than ${maxExpressionLength} characters.`)
  }
  let pos = 0
  const skip = () => {
    while (pos < expression.length && /\s/.test(expression[pos]!)) pos++
  }
  const describe = () => pos >= expression.length ? "the end of the expression" : `'${expression[pos]}'`
  // Parsers return a number or a CalculationError (thrown nowhere: errors are values).
  type Result = number | CalculationError
  const error = (reason: CalculationError["reason"], at: number, message: string) =>
    new CalculationError({ reason, position: at, message })

  const binary = (next: (depth: number) => Result, ops: string, depth: number): Result => {
    let left = next(depth)
    if (typeof left !== "number") return left
    for (;;) {
      skip()
      const op = expression[pos]
      if (op === undefined || !ops.includes(op)) return left
      const at = pos++
      const right = next(depth)
      if (typeof right !== "number") return right
      if (op === "/" && right === 0) return error("DivisionByZero", at, `Division by zero at position ${at}.`)
      left = op === "+" ? left + right : op === "-" ? left - right : op === "*" ? left * right : left / right
    }
  }
  const factor = (depth: number): Result => {
    if (depth > maxDepth) return error("TooComplex", pos, `The expression nests deeper than ${maxDepth} levels.`)
    skip()
    const c = expression[pos]
    if (c === "+" || c === "-") {
      pos++
      const value = factor(depth + 1)
      return typeof value !== "number" ? value : c === "-" ? -value : value
    }
    if (c === "(") {
      const open = pos++
      const value = sum(depth + 1)
      if (typeof value !== "number") return value
      skip()
      if (expression[pos] !== ")") {
        return error("Syntax", pos, `Expected ')' (to close the '(' at position ${open}) but found ${describe()}.`)
      }
      pos++
      return value
    }
    const match = /^(\d+(\.\d*)?|\.\d+)/.exec(expression.slice(pos, pos + 400))
    if (match === null) return error("Syntax", pos, `Expected a number or '(' at position ${pos} but found ${describe()}.`)
    pos += match[0].length
    return Number(match[0])
  }
  const product = (depth: number): Result => binary(factor, "*/", depth)
  const sum = (depth: number): Result => binary(product, "+-", depth)

  const value = sum(0)
  if (typeof value !== "number") return Either.left(value)
  skip()
  if (pos < expression.length) {
    return fail("Syntax", pos, `Unexpected ${describe()} at position ${pos}: expected an operator or the end.`)
  }
  if (!Number.isFinite(value)) return fail("NotFinite", 0, "The result is not a finite number.")
  return Either.right(value)
}

// ---------------------------------------------------------------------------------------------------------------
// The program
// ---------------------------------------------------------------------------------------------------------------

/**
 * The scripted model's latency. The built-in scenario's own latency (120 ms to first token) is replaced, so a run
 * takes well under a second while the comparison still includes model time.
 *
 * @since 0.1.0
 * @category models
 */
export interface Latency {
  readonly timeToFirstTokenMs: number
  readonly deltaDelayMs: number
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultLatency: Latency = { timeToFirstTokenMs: 5, deltaDelayMs: 1 }

/**
 * @since 0.1.0
 * @category constants
 */
export const noLatency: Latency = { timeToFirstTokenMs: 0, deltaDelayMs: 0 }

/**
 * @since 0.1.0
 * @category models
 */
export interface DemoOptions {
  /** Rounds of one HTTP and one WebSocket run each, order alternating (default 1); the report shows medians. */
  readonly runs?: number | undefined
  /** Default {@link defaultLatency}. */
  readonly latency?: Latency | undefined
  /** Receives one progress line per tool call and per final answer (default: none). */
  readonly progress?: ((line: string) => Effect.Effect<void>) | undefined
}

/**
 * The two ways the agent talks to the gateway.
 *
 * @since 0.1.0
 * @category models
 */
export type Transport = "http" | "websocket"

/**
 * What the agent did: every tool call with its output, and the final text. Tool call ids are left out (the model
 * derives them from response ids, which differ per run).
 *
 * @since 0.1.0
 * @category models
 */
export interface Transcript {
  readonly calls: ReadonlyArray<{ readonly name: string; readonly arguments: string; readonly output: string }>
  readonly finalText: string | undefined
}

/**
 * One model turn as measured by the client.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnMeasure {
  readonly mode: "delta" | "full"
  /** Bytes of the request frame (WebSocket) or body (HTTP). */
  readonly bytes: number
  /** From handing the new input to the session to the folded final response. */
  readonly turnMs: number
  /** The time the model spent generating this response, measured in the gateway's backend. */
  readonly modelMs: number
  /** `turnMs - modelMs`: what the turn cost beyond the model. */
  readonly overheadMs: number
}

/**
 * One run of the agent.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunResult {
  readonly transport: Transport
  readonly turns: number
  readonly toolCalls: number
  readonly e2eMs: number
  readonly perTurn: ReadonlyArray<TurnMeasure>
  readonly overheadMedianMs: number
  readonly overheadP99Ms: number
  readonly bytesSent: number
  readonly bytesSentPerTurn: number
  /** Requests that carried the whole history. */
  readonly fullRequests: number
  /** Requests that carried only new items after `previous_response_id`. */
  readonly deltaRequests: number
  /** Full resends forced by recovery (`previous_response_not_found`); 0 on a healthy run. */
  readonly recoveryResends: number
  readonly transcript: Transcript
}

/**
 * Medians over the runs of one transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly turns: number
  readonly toolCalls: number
  readonly e2eMs: number
  readonly perTurnMedianMs: number
  readonly perTurnP99Ms: number
  readonly bytesSent: number
  readonly bytesSentPerTurn: number
  readonly fullRequests: number
  readonly deltaRequests: number
  readonly recoveryResends: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DemoResult {
  readonly scenario: string
  readonly runs: number
  readonly latency: Latency
  readonly http: Summary
  readonly websocket: Summary
  /** WebSocket divided by HTTP (below 1 = WebSocket mode spends less). */
  readonly ratios: {
    readonly e2eMs: number
    readonly perTurnMedianMs: number
    readonly perTurnP99Ms: number
    readonly bytesSent: number
    readonly bytesSentPerTurn: number
  }
  /** Every run produced the same tool calls, outputs and final text. */
  readonly sameTranscript: boolean
  /** The first difference found when `sameTranscript` is false. */
  readonly transcriptDifference: string | null
  readonly answer: string | undefined
  readonly results: { readonly http: ReadonlyArray<RunResult>; readonly websocket: ReadonlyArray<RunResult> }
}

/**
 * The demo did not finish as it should (a run failed, or the transports disagreed).
 *
 * @since 0.1.0
 * @category errors
 */
export class DemoError extends Schema.TaggedError<DemoError>("@loopwire/cli/DemoError")("DemoError", {
  reason: Schema.Literal("RunFailed", "Incomplete", "TranscriptMismatch"),
  message: Schema.String
}) {}

const model = "loopwire-demo"
const warmupModel = "loopwire-demo-warmup"

const instructions = [
  "You are a careful research assistant. Answer questions about city populations.",
  "Use get_population for every population you need, one city per call, and never guess a number.",
  "Use calculate for every piece of arithmetic, one expression per call, and quote its results exactly.",
  "When you have everything, answer with a short summary as a bulleted list."
].join("\n")

const question = "Look up the populations of Tokyo, Delhi, Shanghai, São Paulo, Mexico City, Cairo, London, " +
  "New York, Paris and Berlin, then give me the regional totals, the overall total and average, and how the " +
  "largest and smallest compare."

/**
 * The built-in demo scenario with the given latency on every turn.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scenario = (latency: Latency): Scenario.Scenario => ({
  ...Scenario.demo,
  latency: {
    time_to_first_token_ms: latency.timeToFirstTokenMs,
    delta_delay_ms: latency.deltaDelayMs,
    chars_per_delta: Scenario.demo.latency?.chars_per_delta ?? 12
  },
  turns: Scenario.demo.turns.map(({ latency: _latency, ...turn }) => turn)
})

/**
 * The scripted backend, timed: each response's generation time (first pull to terminal event) is recorded by
 * response id. Requests for the warm-up model get the same script with no latency.
 */
const timedBackend = (latency: Latency, modelMs: Map<string, number>) =>
  Layer.effect(
    ModelBackend,
    Effect.gen(function*() {
      const timed = yield* ScriptedBackend.make({ scenario: scenario(latency) })
      const instant = yield* ScriptedBackend.make({ scenario: scenario(noLatency) })
      return {
        supportsSteering: false,
        generate: (turn) =>
          Stream.suspend(() => {
            const start = performance.now()
            const backend = turn.request.model === warmupModel ? instant : timed
            return backend.generate(turn).pipe(
              Stream.tap((event) =>
                isResponseTerminal(event)
                  ? Effect.sync(() => modelMs.set(turn.response.id, performance.now() - start))
                  : Effect.void
              )
            )
          })
      }
    })
  )

/**
 * The value at quantile `q` (nearest rank) of the numbers.
 *
 * @since 0.1.0
 * @category utils
 */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

const median = (values: ReadonlyArray<number>) => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const label = (transport: Transport) => transport === "http" ? "http" : "ws  "

const clip = (text: string, max: number) => text.length <= max ? text : `${text.slice(0, max - 1)}…`

const argsPreview = (name: string, args: string) => {
  try {
    const parsed = JSON.parse(args) as Record<string, unknown>
    const values = Object.values(parsed).map((v) => typeof v === "string" ? v : JSON.stringify(v))
    return `${name}(${clip(values.join(", "), 48)})`
  } catch {
    return `${name}(${clip(args, 48)})`
  }
}

const outputPreview = (output: string) => {
  try {
    const parsed = JSON.parse(output) as any
    if (typeof parsed === "number") return String(Number(parsed.toPrecision(12)))
    if (parsed !== null && typeof parsed === "object" && typeof parsed.population === "number") {
      return parsed.population.toLocaleString("en-US")
    }
  } catch {
    // not JSON: shown as is
  }
  return clip(output, 40)
}

const formatBytes = (n: number) => `${Math.round(n).toLocaleString("en-US")} B`

/**
 * One run of the agent over one transport, on a fresh client (its own socket or HTTP connection pool).
 *
 * @since 0.1.0
 * @category constructors
 */
export const runOnce = (options: {
  readonly baseUrl: string
  readonly transport: Transport
  readonly modelMs: ReadonlyMap<string, number>
  readonly warmup?: boolean | undefined
  readonly tag?: string | undefined
  readonly progress?: ((line: string) => Effect.Effect<void>) | undefined
}): Effect.Effect<RunResult, DemoError> =>
  Effect.gen(function*() {
    const { transport } = options
    const totalTurns = Scenario.demo.turns.length
    const start = performance.now()
    const session = yield* Session.make({ transport, httpFallback: false })
    const measures: Array<TurnMeasure> = []
    let seen = yield* session.metrics
    // Measured in the loop's own fiber, around each turn (the agent loop runs `turnWith`): the turn's cost without
    // any consumer lag.
    const timed: Session.Session = {
      ...session,
      turnWith: (items, settings, onEvent) =>
        Effect.suspend(() => {
          const sentAt = performance.now()
          return Effect.tap(session.turnWith(items, settings, onEvent), (response) =>
            Effect.gen(function*() {
              const turnMs = performance.now() - sentAt
              const metrics = yield* session.metrics
              const modelMs = options.modelMs.get(response.id) ?? 0
              measures.push({
                mode: metrics.deltaRequests > seen.deltaRequests ? "delta" : "full",
                bytes: metrics.bytesSent - seen.bytesSent,
                turnMs,
                modelMs,
                overheadMs: Math.max(0, turnMs - modelMs)
              })
              seen = metrics
            }))
        })
    }
    const calls: Array<{ name: string; arguments: string; output: string }> = []
    const started = new Map<string, { name: string; arguments: string }>()
    let finalText: string | undefined
    let turns = 0
    const progress = options.progress ?? (() => Effect.void)
    const prefix = `${options.tag ?? ""}${label(transport)}`
    const lineFor = (turn: number, what: string) => {
      const m = measures[turn - 1]
      const stats = m === undefined
        ? ""
        : `${m.mode.padEnd(5)} ${formatBytes(m.bytes).padStart(9)}  overhead ${m.overheadMs.toFixed(1).padStart(5)} ms  `
      return `${prefix}  turn ${String(turn).padStart(2)}/${totalTurns}  ${stats}${what}`
    }
    yield* AgentLoop.runWith(timed, question, {
      toolkit: DemoTools,
      maxTurns: totalTurns + 4,
      settings: { model: options.warmup === true ? warmupModel : model, instructions, store: false }
    }).pipe(
      Stream.runForEach((event) => {
        switch (event._tag) {
          case "ToolStarted":
            return Effect.sync(() => started.set(event.callId, { name: event.name, arguments: event.arguments }))
          case "ToolFinished": {
            const call = started.get(event.callId) ?? { name: event.name, arguments: "" }
            calls.push({ name: call.name, arguments: call.arguments, output: event.output })
            return progress(
              lineFor(event.turn, `${argsPreview(call.name, call.arguments)} → ${outputPreview(event.output)}`)
            )
          }
          case "TurnCompleted":
            return Effect.sync(() => {
              turns = event.turn
            })
          case "FinalAnswer":
            finalText = event.text
            return progress(lineFor(event.turns, `final answer (${event.text.length} characters)`))
          default:
            return Effect.void
        }
      }),
      Effect.mapError((error) =>
        new DemoError({ reason: "RunFailed", message: `The ${transport} run failed: ${error.message}` })
      ),
      Effect.provide(DemoToolsLive)
    )
    const e2eMs = performance.now() - start
    const metrics = yield* session.metrics
    const overheads = measures.map((m) => m.overheadMs)
    return {
      transport,
      turns,
      toolCalls: calls.length,
      e2eMs,
      perTurn: measures,
      overheadMedianMs: median(overheads),
      overheadP99Ms: quantile(overheads, 0.99),
      bytesSent: metrics.bytesSent,
      bytesSentPerTurn: turns === 0 ? 0 : metrics.bytesSent / turns,
      fullRequests: metrics.fullRequests,
      deltaRequests: metrics.deltaRequests,
      recoveryResends: metrics.fullResends,
      transcript: { calls, finalText }
    } satisfies RunResult
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.merge(
        ConnectionPool.layer(ClientConfig.make({ baseUrl: `${options.baseUrl}/v1` })).pipe(
          Layer.provide(WebSocket.layer())
        ),
        NodeHttpClient.layerUndici
      )
    ),
    Effect.catchTag("ResponsesError", (error) =>
      Effect.fail(new DemoError({ reason: "RunFailed", message: `The ${options.transport} run failed: ${error.message}` })))
  )

const summarize = (results: ReadonlyArray<RunResult>): Summary => ({
  turns: median(results.map((r) => r.turns)),
  toolCalls: median(results.map((r) => r.toolCalls)),
  e2eMs: median(results.map((r) => r.e2eMs)),
  perTurnMedianMs: median(results.map((r) => r.overheadMedianMs)),
  perTurnP99Ms: median(results.map((r) => r.overheadP99Ms)),
  bytesSent: median(results.map((r) => r.bytesSent)),
  bytesSentPerTurn: median(results.map((r) => r.bytesSentPerTurn)),
  fullRequests: median(results.map((r) => r.fullRequests)),
  deltaRequests: median(results.map((r) => r.deltaRequests)),
  recoveryResends: median(results.map((r) => r.recoveryResends))
})

const ratio = (ws: number, http: number) => (http === 0 ? 0 : ws / http)

/**
 * The first difference between two transcripts, or undefined when they are the same.
 *
 * @since 0.1.0
 * @category utils
 */
export const transcriptDifference = (a: Transcript, b: Transcript): string | undefined => {
  const n = Math.max(a.calls.length, b.calls.length)
  for (let i = 0; i < n; i++) {
    const x = a.calls[i]
    const y = b.calls[i]
    if (x === undefined || y === undefined) return `tool call ${i + 1} is missing in one run`
    if (x.name !== y.name || x.arguments !== y.arguments || x.output !== y.output) {
      return `tool call ${i + 1} differs: ${x.name}(${x.arguments}) → ${x.output} vs ${y.name}(${y.arguments}) → ${y.output}`
    }
  }
  return a.finalText === b.finalText ? undefined : "the final answers differ"
}

/**
 * Runs the demo: starts the embedded gateway on 127.0.0.1 (a free port) with the timed scripted backend, warms
 * both paths up once (no latency, not measured), then runs `runs` rounds of one HTTP and one WebSocket run
 * (order alternating), checks every run finished the script (20 tool calls and a final answer) with the same
 * transcript, and returns the medians. Fails with `DemoError` otherwise. The gateway and every client socket are
 * closed when it returns.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: DemoOptions = {}): Effect.Effect<DemoResult, DemoError> =>
  Effect.gen(function*() {
    const runs = Math.max(1, Math.floor(options.runs ?? 1))
    const latency = options.latency ?? defaultLatency
    const modelMs = new Map<string, number>()
    const context = yield* Layer.build(
      Gateway.layerLocal({ config: { port: 0, host: "127.0.0.1" }, backend: timedBackend(latency, modelMs) })
    ).pipe(
      Effect.mapError((error) =>
        new DemoError({ reason: "RunFailed", message: `The gateway did not start: ${String(error)}` })
      )
    )
    const baseUrl = yield* Effect.provide(Gateway.baseUrl, context)
    const once = (transport: Transport, round: number, warmup = false) =>
      runOnce({
        baseUrl,
        transport,
        modelMs,
        warmup,
        tag: runs > 1 ? `run ${round}/${runs}  ` : "",
        progress: warmup ? undefined : options.progress
      })
    // One unmeasured round first, so neither transport pays the JIT warm-up for the other.
    yield* once("http", 0, true)
    yield* once("websocket", 0, true)
    const http: Array<RunResult> = []
    const websocket: Array<RunResult> = []
    for (let round = 1; round <= runs; round++) {
      const order: ReadonlyArray<Transport> = round % 2 === 1 ? ["http", "websocket"] : ["websocket", "http"]
      for (const transport of order) {
        const result = yield* once(transport, round)
        ;(transport === "http" ? http : websocket).push(result)
      }
    }
    const expectedCalls = Scenario.demo.turns.length - 1
    for (const result of [...http, ...websocket]) {
      if (result.toolCalls !== expectedCalls || result.transcript.finalText === undefined) {
        return yield* new DemoError({
          reason: "Incomplete",
          message: `The ${result.transport} run made ${result.toolCalls} tool calls (expected ${expectedCalls})` +
            (result.transcript.finalText === undefined ? " and gave no final answer." : ".")
        })
      }
    }
    const reference = http[0]!.transcript
    let difference: string | undefined
    for (const result of [...http, ...websocket]) {
      difference ??= transcriptDifference(reference, result.transcript)
    }
    const h = summarize(http)
    const w = summarize(websocket)
    const result: DemoResult = {
      scenario: Scenario.demo.name ?? "demo",
      runs,
      latency,
      http: h,
      websocket: w,
      ratios: {
        e2eMs: ratio(w.e2eMs, h.e2eMs),
        perTurnMedianMs: ratio(w.perTurnMedianMs, h.perTurnMedianMs),
        perTurnP99Ms: ratio(w.perTurnP99Ms, h.perTurnP99Ms),
        bytesSent: ratio(w.bytesSent, h.bytesSent),
        bytesSentPerTurn: ratio(w.bytesSentPerTurn, h.bytesSentPerTurn)
      },
      sameTranscript: difference === undefined,
      transcriptDifference: difference ?? null,
      answer: reference.finalText,
      results: { http, websocket }
    }
    return result
  }).pipe(Effect.scoped)

// ---------------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------------

/**
 * The side-by-side table (plain text, fixed width).
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (result: DemoResult): string => {
  const ms = (n: number) => n.toFixed(1)
  const int = (n: number) => Math.round(n).toLocaleString("en-US")
  const times = (n: number) => `${n.toFixed(2)}×`
  const rows: ReadonlyArray<readonly [string, string, string, string]> = [
    ["", "HTTP (full context)", "WebSocket (delta)", "WS / HTTP"],
    ["turns", int(result.http.turns), int(result.websocket.turns), ""],
    ["tool calls", int(result.http.toolCalls), int(result.websocket.toolCalls), ""],
    ["end-to-end ms", ms(result.http.e2eMs), ms(result.websocket.e2eMs), times(result.ratios.e2eMs)],
    [
      "per-turn overhead, median ms",
      ms(result.http.perTurnMedianMs),
      ms(result.websocket.perTurnMedianMs),
      times(result.ratios.perTurnMedianMs)
    ],
    [
      "per-turn overhead, p99 ms",
      ms(result.http.perTurnP99Ms),
      ms(result.websocket.perTurnP99Ms),
      times(result.ratios.perTurnP99Ms)
    ],
    ["bytes sent", int(result.http.bytesSent), int(result.websocket.bytesSent), times(result.ratios.bytesSent)],
    [
      "bytes sent per turn",
      int(result.http.bytesSentPerTurn),
      int(result.websocket.bytesSentPerTurn),
      times(result.ratios.bytesSentPerTurn)
    ],
    ["full-context requests", int(result.http.fullRequests), int(result.websocket.fullRequests), ""],
    ["delta requests", int(result.http.deltaRequests), int(result.websocket.deltaRequests), ""],
    ["recovery resends", int(result.http.recoveryResends), int(result.websocket.recoveryResends), ""]
  ]
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)))
  return rows.map((row) =>
    [row[0].padEnd(widths[0]!), row[1].padStart(widths[1]!), row[2].padStart(widths[2]!), row[3].padStart(widths[3]!)]
      .join("   ").trimEnd()
  ).join("\n")
}

/**
 * The human-readable report: what ran, the table, how to read it, and the final answer.
 *
 * @since 0.1.0
 * @category formatting
 */
export const report = (result: DemoResult): string => {
  const latency = result.latency.timeToFirstTokenMs === 0 && result.latency.deltaDelayMs === 0
    ? "no model latency (protocol cost only)"
    : `model latency ${result.latency.timeToFirstTokenMs} ms to first token, ${result.latency.deltaDelayMs} ms per delta`
  return [
    "",
    `${result.scenario}: ${result.http.toolCalls} tool calls, ${latency}, ` +
    (result.runs === 1 ? "1 run per transport" : `${result.runs} runs per transport (medians)`),
    "",
    table(result),
    "",
    "per-turn overhead = a turn's time at the client minus the model's generation time in the gateway.",
    "every request, delta or not, carries the instructions and tool definitions (settings are not inherited).",
    `same transcript over both transports: ${
      result.sameTranscript ? "yes" : `NO (${result.transcriptDifference})`
    }`,
    "",
    "final answer:",
    result.answer ?? "(none)",
    ""
  ].join("\n")
}

/**
 * The machine-readable result (`--json`): the summaries, ratios and every run's per-turn measures.
 *
 * @since 0.1.0
 * @category formatting
 */
export const toJson = (result: DemoResult): string => JSON.stringify(result, null, 2)

// ---------------------------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------------------------

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

const nonNegative = (name: string) => (n: number) =>
  Number.isFinite(n) && n >= 0 ? Effect.succeed(n) : Effect.fail(invalid(`--${name} must be a number ≥ 0`))

/**
 * The flags of `loopwire demo`.
 *
 * @since 0.1.0
 * @category options
 */
export const options = {
  runs: Options.integer("runs").pipe(
    Options.withDescription("Rounds of one HTTP and one WebSocket run, interleaved; the table shows medians."),
    Options.withDefault(1),
    Options.mapEffect((n) => n >= 1 && n <= 1000 ? Effect.succeed(n) : Effect.fail(invalid("--runs must be 1 to 1000")))
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print the result as JSON on stdout.")),
  ttftMs: Options.float("ttft-ms").pipe(
    Options.withDescription("Scripted model: milliseconds to first token."),
    Options.withDefault(defaultLatency.timeToFirstTokenMs),
    Options.mapEffect(nonNegative("ttft-ms"))
  ),
  deltaMs: Options.float("delta-ms").pipe(
    Options.withDescription("Scripted model: milliseconds before each streamed delta."),
    Options.withDefault(defaultLatency.deltaDelayMs),
    Options.mapEffect(nonNegative("delta-ms"))
  ),
  noLatency: Options.boolean("no-latency").pipe(
    Options.withDescription("No model latency at all (measures the protocol alone); overrides --ttft-ms/--delta-ms.")
  ),
  quiet: Options.boolean("quiet").pipe(Options.withDescription("No progress lines on stderr."))
}

/**
 * The parsed flags.
 *
 * @since 0.1.0
 * @category models
 */
export type DemoFlags = Command.Command.ParseConfig<typeof options>

/**
 * The demo options the flags select.
 *
 * @since 0.1.0
 * @category options
 */
export const fromFlags = (flags: DemoFlags): DemoOptions => ({
  runs: flags.runs,
  latency: flags.noLatency ? noLatency : { timeToFirstTokenMs: flags.ttftMs, deltaDelayMs: flags.deltaMs },
  progress: flags.quiet ? undefined : Console.error
})

/**
 * Runs the demo and prints the report (or JSON) on stdout; fails when the transports disagreed.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (flags: DemoFlags): Effect.Effect<void, DemoError> =>
  Effect.gen(function*() {
    const result = yield* run(fromFlags(flags))
    yield* Console.log(flags.json ? toJson(result) : report(result))
    if (!result.sameTranscript) {
      return yield* new DemoError({
        reason: "TranscriptMismatch",
        message: `The HTTP and WebSocket runs produced different transcripts: ${result.transcriptDifference}.`
      })
    }
  })

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("demo", options, handler).pipe(
  Command.withDescription(
    "Run a 20-tool-call agent over HTTP (full context every turn) and over WebSocket mode (deltas) against an " +
      "embedded gateway on 127.0.0.1, and compare them side by side."
  )
)
