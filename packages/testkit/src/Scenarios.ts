/**
 * Builders for scripted-backend scenarios, so tests and benchmarks write "N tool calls then a final answer" in one
 * line instead of a JSON file. The values are the server's own `Scenario` type (`@loopwire/server/Scenario`), so
 * they feed `ScriptedBackend.make({ scenario })` directly, and {@link toJson} writes the file `loopwire serve
 * --script FILE` reads.
 *
 * @since 0.1.0
 */
import * as Scenario from "@loopwire/server/Scenario"
import * as Schema from "effect/Schema"

/**
 * An assistant message (`phase` optional: `commentary` or `final_answer`).
 *
 * @since 0.1.0
 * @category items
 */
export const text = (
  text: string,
  phase?: "commentary" | "final_answer" | undefined
): Scenario.OutputItem => (phase === undefined ? { type: "message", text } : { type: "message", text, phase })

/**
 * A `function_call`; `args` is encoded with `JSON.stringify` when it is an object, sent verbatim when a string.
 *
 * @since 0.1.0
 * @category items
 */
export const functionCall = (name: string, args: Readonly<Record<string, unknown>> | string = {}): Scenario.OutputItem => ({
  type: "function_call",
  name,
  arguments: typeof args === "string" ? args : JSON.stringify(args)
})

/**
 * A `custom_tool_call` with free-form `input`.
 *
 * @since 0.1.0
 * @category items
 */
export const customToolCall = (name: string, input: string): Scenario.OutputItem => ({
  type: "custom_tool_call",
  name,
  input
})

/**
 * Options of one turn.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnOptions {
  readonly latency?: Scenario.Latency | undefined
  /** End this turn's response with `response.failed` carrying this error (after its items). */
  readonly fail?: { readonly code: string; readonly message: string } | undefined
}

/**
 * One model turn from one or more output items.
 *
 * @since 0.1.0
 * @category constructors
 */
export const turn = (
  output: Scenario.OutputItem | ReadonlyArray<Scenario.OutputItem>,
  options: TurnOptions = {}
): Scenario.Turn => ({
  output: Array.isArray(output) ? output : [output as Scenario.OutputItem],
  ...(options.latency === undefined ? {} : { latency: options.latency }),
  ...(options.fail === undefined ? {} : { fail: options.fail })
})

/**
 * Options of a whole scenario.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly name?: string | undefined
  /** Default latency of every turn (see `Scenario.Latency`; defaults: 0 ms, 0 ms, 16 characters per delta). */
  readonly latency?: Scenario.Latency | undefined
  /** The answer once the turns run out (default `Scenario.defaultFallbackText`). */
  readonly fallbackText?: string | undefined
}

/**
 * A scenario from turns (turn `n` answers the chain's `n`-th model response).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (turns: ReadonlyArray<Scenario.Turn>, options: Options = {}): Scenario.Scenario => ({
  ...(options.name === undefined ? {} : { name: options.name }),
  ...(options.latency === undefined ? {} : { latency: options.latency }),
  fallback_text: options.fallbackText ?? Scenario.defaultFallbackText,
  turns
})

/**
 * A tool call of {@link toolCallsThenAnswer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly name: string
  readonly arguments?: Readonly<Record<string, unknown>> | string | undefined
}

/**
 * `calls.length` tool calls, `perTurn` per turn (default 1: one call per model response, as in a sequential agent
 * loop; more gives parallel tool calls), then one turn with the final answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toolCallsThenAnswer = (options: Options & {
  readonly calls: ReadonlyArray<ToolCall>
  readonly answer: string
  readonly perTurn?: number | undefined
  /** Optional commentary message before the first call. */
  readonly preamble?: string | undefined
}): Scenario.Scenario => {
  const perTurn = Math.max(1, Math.floor(options.perTurn ?? 1))
  const turns: Array<Scenario.Turn> = []
  for (let i = 0; i < options.calls.length; i += perTurn) {
    const items = options.calls.slice(i, i + perTurn).map((call) => functionCall(call.name, call.arguments ?? {}))
    turns.push(turn(i === 0 && options.preamble !== undefined ? [text(options.preamble, "commentary"), ...items] : items))
  }
  turns.push(turn(text(options.answer, "final_answer")))
  return make(turns, options)
}

/**
 * `n` calls of the same tool (arguments by index), then the final answer: the shape of the benchmark rollouts.
 *
 * @since 0.1.0
 * @category constructors
 */
export const repeatedToolCalls = (options: Options & {
  readonly n: number
  readonly name: string
  readonly arguments: (index: number) => Readonly<Record<string, unknown>> | string
  readonly answer: string
}): Scenario.Scenario =>
  toolCallsThenAnswer({
    ...options,
    calls: Array.from({ length: Math.max(0, Math.floor(options.n)) }, (_, i) => ({
      name: options.name,
      arguments: options.arguments(i)
    }))
  })

/**
 * A scenario whose every turn is one text answer (`answers[n]` for turn `n`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const answers = (answers: ReadonlyArray<string>, options: Options = {}): Scenario.Scenario =>
  make(answers.map((answer) => turn(text(answer))), options)

/**
 * The scenario as the JSON text of a scenario file (`loopwire serve --script FILE`); `Scenario.decodeJson` reads
 * it back to the same value.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toJson = (scenario: Scenario.Scenario): string =>
  JSON.stringify(Schema.encodeSync(Scenario.Scenario)(scenario), null, 2)
