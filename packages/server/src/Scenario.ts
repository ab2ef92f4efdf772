/**
 * Scenario files for the scripted model backend: a list of model turns, each a list of output items, with
 * latency knobs. Decoded with `effect/Schema`; a bad file yields a `ScenarioError` naming the bad path.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * Latency knobs, all optional; a turn's knobs override the scenario's, which override the defaults
 * (`time_to_first_token_ms` 0, `delta_delay_ms` 0, `chars_per_delta` 16).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Latency = Schema.Struct({
  /** Delay after `response.in_progress`, before the first output item. */
  time_to_first_token_ms: Schema.optional(Schema.NonNegative),
  /** Delay before every delta after the first one. */
  delta_delay_ms: Schema.optional(Schema.NonNegative),
  /** How many characters of text, arguments or input each delta carries. */
  chars_per_delta: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Latency = typeof Latency.Type

/**
 * The resolved latency of one turn.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedLatency {
  readonly timeToFirstTokenMs: number
  readonly deltaDelayMs: number
  readonly charsPerDelta: number
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultLatency: ResolvedLatency = { timeToFirstTokenMs: 0, deltaDelayMs: 0, charsPerDelta: 16 }

/**
 * An assistant message with one `output_text` part.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextItem = Schema.Struct({
  type: Schema.Literal("message"),
  text: Schema.String,
  phase: Schema.optional(Schema.Literal("commentary", "final_answer"))
})

// Arguments may be written as a JSON object (encoded once, keys in file order) or as the exact string to send.
const Arguments = Schema.transform(
  Schema.Union(Schema.String, Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  Schema.String,
  {
    strict: true,
    decode: (value) => (typeof value === "string" ? value : JSON.stringify(value)),
    encode: (value) => value
  }
)

/**
 * A `function_call`; `arguments` is a JSON object or a string (sent verbatim, even if it is not JSON).
 *
 * @since 0.1.0
 * @category schemas
 */
export const FunctionCallItem = Schema.Struct({
  type: Schema.Literal("function_call"),
  name: Schema.NonEmptyString,
  arguments: Arguments
})

/**
 * A `custom_tool_call` with free-form `input`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CustomToolCallItem = Schema.Struct({
  type: Schema.Literal("custom_tool_call"),
  name: Schema.NonEmptyString,
  input: Schema.String
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const OutputItem = Schema.Union(TextItem, FunctionCallItem, CustomToolCallItem)

/**
 * @since 0.1.0
 * @category models
 */
export type OutputItem = typeof OutputItem.Type

/**
 * One model turn: its output items in order, optional latency overrides, and optionally `fail`, which ends the
 * response with `response.failed` (carrying that error) after the items.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Turn = Schema.Struct({
  output: Schema.optionalWith(Schema.Array(OutputItem), { default: () => [] }),
  latency: Schema.optional(Latency),
  fail: Schema.optional(Schema.Struct({ code: Schema.NonEmptyString, message: Schema.String }))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Turn = typeof Turn.Type

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultFallbackText = "The scripted scenario has no more turns."

/**
 * A scenario file. `turns[n]` answers the chain's `n`-th model response (`turn` 0 is the first); past the end the
 * backend answers `fallback_text`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Scenario = Schema.Struct({
  name: Schema.optional(Schema.String),
  latency: Schema.optional(Latency),
  fallback_text: Schema.optionalWith(Schema.String, { default: () => defaultFallbackText }),
  turns: Schema.Array(Turn)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Scenario = typeof Scenario.Type

/**
 * @since 0.1.0
 * @category errors
 */
export class ScenarioError extends Schema.TaggedError<ScenarioError>("@loopwire/server/ScenarioError")(
  "ScenarioError",
  {
    reason: Schema.Literal("Read", "Json", "Schema"),
    message: Schema.String
  }
) {}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0
    ? "(root)"
    : path.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
      .join("")

const decodeUnknownEither = Schema.decodeUnknownEither(Scenario, { errors: "all", onExcessProperty: "error" })

/**
 * Decodes an already parsed JSON value.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeUnknown = (value: unknown): Either.Either<Scenario, ScenarioError> =>
  Either.mapLeft(decodeUnknownEither(value), (error) => {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
    // An optional field's schema is a union with `undefined`; its "Expected undefined" branch is noise whenever a
    // deeper issue explains what is wrong inside the value.
    const deeper = (path: ReadonlyArray<PropertyKey>) =>
      issues.some((other) => other.path.length > path.length && path.every((key, i) => other.path[i] === key))
    const lines = issues
      .filter((issue) => !(issue.message.startsWith("Expected undefined") && deeper(issue.path)))
      .map((issue) => `at ${formatPath(issue.path)}: ${issue.message}`)
    return new ScenarioError({ reason: "Schema", message: `Invalid scenario:\n${lines.join("\n")}` })
  })

/**
 * Decodes the text of a scenario file.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeJson = (text: string): Either.Either<Scenario, ScenarioError> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    return Either.left(
      new ScenarioError({ reason: "Json", message: `Scenario is not valid JSON: ${(cause as Error).message}` })
    )
  }
  return decodeUnknown(value)
}

/**
 * Reads and decodes a scenario file.
 *
 * @since 0.1.0
 * @category decoding
 */
export const load = (path: string): Effect.Effect<Scenario, ScenarioError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) =>
        new ScenarioError({ reason: "Read", message: `Cannot read scenario file ${path}: ${error.message}` })
      )
    )
    return yield* Either.match(decodeJson(text), {
      onLeft: (error) => Effect.fail(new ScenarioError({ reason: error.reason, message: `${path}: ${error.message}` })),
      onRight: Effect.succeed
    })
  })

/**
 * The latency of turn `turn` (its overrides, then the scenario's, then the defaults).
 *
 * @since 0.1.0
 * @category accessors
 */
export const latencyOf = (scenario: Scenario, turn: Turn | undefined): ResolvedLatency => ({
  timeToFirstTokenMs: turn?.latency?.time_to_first_token_ms ?? scenario.latency?.time_to_first_token_ms ??
    defaultLatency.timeToFirstTokenMs,
  deltaDelayMs: turn?.latency?.delta_delay_ms ?? scenario.latency?.delta_delay_ms ?? defaultLatency.deltaDelayMs,
  charsPerDelta: turn?.latency?.chars_per_delta ?? scenario.latency?.chars_per_delta ??
    defaultLatency.charsPerDelta
})

/**
 * The script's answer to the chain's `turn`-th model response: the scripted turn, or past the end a turn with
 * one message carrying `fallback_text`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const turnAt = (scenario: Scenario, turn: number): Turn =>
  scenario.turns[turn] ?? { output: [{ type: "message", text: scenario.fallback_text, phase: "final_answer" }] }

/**
 * City populations the demo scenario asks for; the demo's `get_population` tool should answer from this table so
 * the scenario's final summary matches the tool outputs.
 *
 * @since 0.1.0
 * @category demo
 */
export const demoPopulations: Readonly<Record<string, number>> = {
  "Tokyo": 14_094_034,
  "Delhi": 11_034_555,
  "Shanghai": 24_870_895,
  "São Paulo": 11_451_245,
  "Mexico City": 9_209_944,
  "Cairo": 10_100_166,
  "London": 8_866_180,
  "New York": 8_258_035,
  "Paris": 2_102_650,
  "Berlin": 3_878_100
}

const demoCities = Object.keys(demoPopulations)

const call = (name: string, args: Record<string, string>): OutputItem => ({
  type: "function_call",
  name,
  arguments: JSON.stringify(args)
})

const sumOf = (cities: ReadonlyArray<string>): number => cities.reduce((sum, city) => sum + demoPopulations[city]!, 0)

const grouping = (n: number): string => n.toLocaleString("en-US")

const demoTurns = (): ReadonlyArray<Turn> => {
  const latency = { time_to_first_token_ms: 120, delta_delay_ms: 15, chars_per_delta: 12 }
  const lookups: Array<Turn> = demoCities.map((city, i) => ({
    output: i === 0
      ? [
        {
          type: "message" as const,
          phase: "commentary" as const,
          text: "I'll look up the population of each of the ten cities, then do the arithmetic step by step."
        },
        call("get_population", { city })
      ]
      : [call("get_population", { city })]
  }))
  const n = (city: string) => String(demoPopulations[city]!)
  const asia = ["Tokyo", "Delhi", "Shanghai"]
  const americas = ["São Paulo", "Mexico City", "New York"]
  const europe = ["London", "Paris", "Berlin"]
  const expressions = [
    asia.map(n).join(" + "),
    americas.map(n).join(" + "),
    europe.map(n).join(" + "),
    `${sumOf(asia)} + ${sumOf(americas)} + ${sumOf(europe)} + ${n("Cairo")}`,
    `${sumOf(demoCities)} / 10`,
    `${n("Shanghai")} - ${n("Paris")}`,
    `${n("Shanghai")} / ${n("Paris")}`,
    `${n("Tokyo")} / ${sumOf(demoCities)} * 100`,
    `${sumOf(europe)} / ${sumOf(demoCities)} * 100`,
    `(${n("London")} + ${n("Paris")}) - ${n("New York")}`
  ]
  const calculations: Array<Turn> = expressions.map((expression) => ({
    output: [call("calculate", { expression })]
  }))
  const total = sumOf(demoCities)
  const summary = [
    `Here is the summary for the ten cities (${grouping(total)} people in total):`,
    `- Asia (Tokyo, Delhi, Shanghai): ${grouping(sumOf(asia))}.`,
    `- The Americas (São Paulo, Mexico City, New York): ${grouping(sumOf(americas))}.`,
    `- Europe (London, Paris, Berlin): ${grouping(sumOf(europe))}; Cairo adds ${grouping(demoPopulations["Cairo"]!)}.`,
    `- The average city has ${grouping(total / 10)} inhabitants.`,
    `- Shanghai is the largest: ${grouping(demoPopulations["Shanghai"]! - demoPopulations["Paris"]!)} more people ` +
    `than Paris, the smallest, about ${(demoPopulations["Shanghai"]! / demoPopulations["Paris"]!).toFixed(1)} times ` +
    `its size.`,
    `- Tokyo holds ${(demoPopulations["Tokyo"]! / total * 100).toFixed(1)}% of the total, the three European ` +
    `cities ${(sumOf(europe) / total * 100).toFixed(1)}%.`,
    `- London and Paris together exceed New York by ${
      grouping(demoPopulations["London"]! + demoPopulations["Paris"]! - demoPopulations["New York"]!)
    }.`
  ].join("\n")
  return [
    ...lookups,
    ...calculations,
    { output: [{ type: "message", phase: "final_answer", text: summary }], latency }
  ]
}

/**
 * The built-in demo scenario: 20 tool calls (ten `get_population({ city })`, then ten
 * `calculate({ expression })` over the results), one per turn, then a final answer summarising them.
 *
 * @since 0.1.0
 * @category demo
 */
export const demo: Scenario = {
  name: "demo: ten cities, twenty tool calls",
  latency: { time_to_first_token_ms: 120, delta_delay_ms: 15, chars_per_delta: 12 },
  fallback_text: defaultFallbackText,
  turns: demoTurns()
}

/**
 * The conformance suite's scenario (`loopwire serve --script builtin:conformance`, docs/conformance.md): the first
 * turn of every chain calls a tool (`conformance_lookup`), the next answers, later turns get the fallback text; so
 * `function-call-round-trip` runs against the gateway.
 *
 * @since 0.1.0
 * @category constructors
 */
export const conformance: Scenario = {
  name: "conformance: one tool call, then the answer",
  fallback_text: defaultFallbackText,
  turns: [
    { output: [call("conformance_lookup", { key: "alpha" })] },
    { output: [{ type: "message", text: "The value is 42." }] }
  ]
}

/**
 * A scenario with no turns: every response is the fallback text. The scripted backend's default.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: Scenario = { fallback_text: defaultFallbackText, turns: [] }
