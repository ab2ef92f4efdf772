/**
 * fast-check arbitraries for users' own property tests, composed from the protocol's Schema arbitraries
 * (`effect/Arbitrary`) and kept small: short strings, at most a few items, tools and output items per value.
 * Use them with `it.prop` / `it.effect.prop` from `@effect/vitest` or with `FastCheck` from `effect` directly.
 *
 * @since 0.1.0
 */
import * as ClientEvent from "@loopwire/protocol/ClientEvent"
import * as Events from "@loopwire/protocol/Events"
import * as Items from "@loopwire/protocol/Items"
import * as Response from "@loopwire/protocol/Response"
import * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Tools from "@loopwire/protocol/Tools"
import * as Scenario from "@loopwire/server/Scenario"
import * as Arbitrary from "effect/Arbitrary"
import * as fc from "effect/FastCheck"
import * as Scenarios from "./Scenarios.js"

const word = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/)

/**
 * A valid lane name (`stream_id`): 1–32 characters of `[A-Za-z0-9_.-]` (the protocol allows up to 256).
 *
 * @since 0.1.0
 * @category stream ids
 */
export const streamId: fc.Arbitrary<string> = fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/)

/**
 * An invalid `stream_id`: empty, longer than 256 characters, or containing a character outside `[A-Za-z0-9_.-]`.
 * Every value is rejected by `ClientEvent.isValidStreamId`.
 *
 * @since 0.1.0
 * @category stream ids
 */
export const invalidStreamId: fc.Arbitrary<string> = fc.oneof(
  fc.constant(""),
  fc.integer({ min: 257, max: 300 }).map((n) => "a".repeat(n)),
  fc.tuple(
    fc.stringMatching(/^[A-Za-z0-9_.-]{0,8}$/),
    fc.constantFrom(" ", "/", "!", ":", "é", "\n", "#", "+"),
    fc.stringMatching(/^[A-Za-z0-9_.-]{0,8}$/)
  ).map(([a, bad, b]) => `${a}${bad}${b}`)
)

/**
 * Any input item the protocol knows (messages long and short, tool calls and outputs, reasoning, unknown types).
 *
 * @since 0.1.0
 * @category items
 */
export const inputItem: fc.Arbitrary<Items.InputItem> = Arbitrary.make(Items.InputItem)

/**
 * Any output item (message, function call, custom tool call, reasoning, unknown type).
 *
 * @since 0.1.0
 * @category items
 */
export const outputItem: fc.Arbitrary<Items.OutputItem> = Arbitrary.make(Items.OutputItem)

/**
 * A user message with short text.
 *
 * @since 0.1.0
 * @category items
 */
export const userMessage: fc.Arbitrary<Items.Message> = fc.string({ maxLength: 40 }).map(Items.userText)

/**
 * A `function_call` with a fresh `call_id`, a snake_case name and JSON-object arguments.
 *
 * @since 0.1.0
 * @category items
 */
export const functionCall: fc.Arbitrary<Items.FunctionCall> = fc.record({
  id: fc.stringMatching(/^fc_[a-z0-9]{4,10}$/),
  call_id: fc.stringMatching(/^call_[a-z0-9]{4,10}$/),
  name: word,
  arguments: fc.dictionary(word, fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean()), { maxKeys: 3 })
    .map((args) => JSON.stringify(args))
}).map((call) => ({ type: "function_call" as const, ...call, status: "completed" as const }))

/**
 * A tool output (`function_call_output`) answering `callId` (or a generated `call_id`) with a JSON string.
 *
 * @since 0.1.0
 * @category items
 */
export const toolOutput = (callId?: string | undefined): fc.Arbitrary<Items.FunctionCallOutput> =>
  fc.tuple(
    callId === undefined ? fc.stringMatching(/^call_[a-z0-9]{4,10}$/) : fc.constant(callId),
    fc.dictionary(word, fc.oneof(fc.string({ maxLength: 12 }), fc.integer()), { maxKeys: 3 })
  ).map(([id, value]) => Items.functionCallOutput(id, JSON.stringify(value)))

/**
 * The tool outputs a client sends after `response`: one `function_call_output` per `function_call` of its output,
 * matched by `call_id`.
 *
 * @since 0.1.0
 * @category items
 */
export const toolOutputsFor = (response: Response.Response): fc.Arbitrary<Array<Items.FunctionCallOutput>> =>
  fc.tuple(...response.output.filter(Items.isFunctionCall).map((call) => toolOutput(call.call_id)))

/**
 * A function tool definition with a small object JSON Schema.
 *
 * @since 0.1.0
 * @category tools
 */
export const functionTool: fc.Arbitrary<Tools.FunctionTool> = fc.record({
  name: word,
  description: fc.string({ maxLength: 30 }),
  properties: fc.uniqueArray(word, { maxLength: 3 })
}).map(({ description, name, properties }) => ({
  type: "function" as const,
  name,
  description,
  parameters: {
    type: "object",
    properties: Object.fromEntries(properties.map((p) => [p, { type: "string" }])),
    required: properties,
    additionalProperties: false
  },
  strict: true
}))

/**
 * Any `response.create` the protocol accepts (every field optional, unknown fields included; `stream_id`, when
 * present, valid). The whole space: use it for codec and server robustness properties.
 *
 * @since 0.1.0
 * @category client events
 */
export const anyResponseCreate: fc.Arbitrary<ClientEvent.ResponseCreate> = Arbitrary.make(ClientEvent.ResponseCreate)

/**
 * Options of {@link responseCreate}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  /** `model` of every request (default `"scripted"`). */
  readonly model?: string | undefined
  /** Put the request on a lane: `true` a generated one, a string that one, `false` the default lane. Default: sometimes. */
  readonly lane?: boolean | string | undefined
  /** Continue from this response id. */
  readonly previousResponseId?: string | undefined
  /** `store` (default false). */
  readonly store?: boolean | undefined
}

/**
 * A realistic `response.create` as an agent loop sends it: a model, `store`, 1–3 user messages, 0–2 function tools,
 * optionally a valid `stream_id` and `previous_response_id`. Every value passes `Codec.decodeClientEvent`.
 *
 * @since 0.1.0
 * @category client events
 */
export const responseCreate = (options: RequestOptions = {}): fc.Arbitrary<ClientEvent.ResponseCreate> =>
  fc.record({
    input: fc.array(userMessage, { minLength: 1, maxLength: 3 }),
    tools: fc.uniqueArray(functionTool, { maxLength: 2, selector: (tool) => tool.name }),
    lane: options.lane === undefined ?
      fc.option(streamId, { nil: undefined }) :
      typeof options.lane === "string" ?
      fc.constant(options.lane) :
      options.lane ?
      streamId.map((s): string | undefined => s) :
      fc.constant(undefined)
  }).map(({ input, lane, tools }) => ({
    type: "response.create" as const,
    model: options.model ?? "scripted",
    store: options.store ?? false,
    input,
    ...(tools.length === 0 ? {} : { tools }),
    ...(lane === undefined ? {} : { stream_id: lane }),
    ...(options.previousResponseId === undefined ? {} : { previous_response_id: options.previousResponseId })
  }))

/**
 * A client text frame a server must answer with a 400 `invalid_request_error` frame (and keep the connection):
 * not JSON, JSON but not an object, no or a non-string `type`, an unknown `type` (including the names of
 * `Object.prototype` members, `constructor`, `toString`, `__proto__` …), an invalid `stream_id`, a
 * `response.create` field of the wrong type, a `__proto__` key (however escaped), or a frame nested thousands of
 * levels deep (once a stack overflow in recursive code). Every value is rejected by `Codec.decodeClientEvent`.
 *
 * @since 0.1.0
 * @category client events
 */
export const badClientFrame: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("", "{", "not json", "{\"type\":", "[1,", "{'type':'response.create'}"),
  fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }))
    .map((value) => JSON.stringify(value)),
  fc.record({ model: fc.string({ maxLength: 6 }) }).map((value) => JSON.stringify(value)),
  fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)).map((type) => JSON.stringify({ type })),
  fc.constantFrom(
    "response.cancel",
    "response.append",
    "session.update",
    "x.unknown",
    "constructor",
    "toString",
    "__proto__",
    "hasOwnProperty",
    "valueOf"
  ).map((type) => JSON.stringify({ type })),
  fc.constantFrom(
    "{\"type\":\"response.create\",\"__proto__\":{\"stream_id\":\"bad id!\"}}",
    "{\"type\":\"response.create\",\"input\":[{\"role\":\"user\",\"content\":\"x\",\"\\u005f_proto__\":{}}]}"
  ),
  // Written as text: JSON.stringify would overflow building it.
  fc.integer({ min: 200, max: 6_000 }).map((levels) =>
    `{"type":"response.create","input":"x","x_deep":${"[".repeat(levels)}0${"]".repeat(levels)}}`
  ),
  invalidStreamId.map((stream_id) => JSON.stringify({ type: "response.create", stream_id })),
  fc.constantFrom<Record<string, unknown>>(
    { input: 42 },
    { temperature: "hot" },
    { tools: "none" },
    { store: "yes" },
    { previous_response_id: 7 }
  ).map((fields) => JSON.stringify({ type: "response.create", ...fields }))
)

/**
 * Any Response object (any status, any output).
 *
 * @since 0.1.0
 * @category responses
 */
export const anyResponse: fc.Arbitrary<Response.Response> = Arbitrary.make(Response.Response)

/**
 * A finished Response: status `completed`, `incomplete` or `failed`, the way a terminal event carries it.
 *
 * @since 0.1.0
 * @category responses
 */
export const finalResponse: fc.Arbitrary<Response.Response> = fc.tuple(
  anyResponse,
  fc.constantFrom("completed" as const, "incomplete" as const, "failed" as const)
).map(([response, status]) => ({ ...response, status }))

/**
 * A completed Response whose output is 0–3 function calls then an optional assistant message: what a model turn
 * of an agent loop returns.
 *
 * @since 0.1.0
 * @category responses
 */
export const agentResponse: fc.Arbitrary<Response.Response> = fc.record({
  id: fc.stringMatching(/^resp_[a-z0-9]{6,12}$/),
  calls: fc.uniqueArray(functionCall, { maxLength: 3, selector: (call) => call.call_id }),
  answer: fc.option(fc.string({ maxLength: 40 }), { nil: undefined })
}).map(({ answer, calls, id }): Response.Response => ({
  id,
  object: "response",
  created_at: 1_700_000_000,
  status: "completed",
  model: "scripted",
  output: [
    ...calls,
    ...(answer === undefined ? [] : [{
      type: "message" as const,
      id: `msg_${id}`,
      role: "assistant" as const,
      status: "completed" as const,
      content: [{ type: "output_text" as const, text: answer, annotations: [] }]
    }])
  ],
  usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 }
}))

/**
 * The numbered event stream a server sends for a response (`response.created` … terminal), cut by the protocol's
 * `Events.fromResponse` with a random delta size, numbered from 0 and tagged with `lane` when given. The
 * protocol's `Accumulator.fold` folds it back into the response.
 *
 * @since 0.1.0
 * @category server events
 */
export const responseEvents = (
  response: fc.Arbitrary<Response.Response> = finalResponse,
  lane?: string | undefined
): fc.Arbitrary<Array<ServerEvent.ServerEvent>> =>
  fc.tuple(response, fc.integer({ min: 1, max: 8 })).map(([r, chunkSize]) =>
    Events.sequence(Events.fromResponse(r, { chunkSize }), 0, lane)
  )

/**
 * Any server event the protocol knows (and unknown ones).
 *
 * @since 0.1.0
 * @category server events
 */
export const serverEvent: fc.Arbitrary<ServerEvent.ServerEvent> = Arbitrary.make(ServerEvent.ServerEvent)

/**
 * A scripted-backend scenario: 0–`maxToolCalls` (default 5) tool calls spread over turns of 1–2 calls, then a
 * final answer; every value decodes with `Scenario.decodeUnknown`.
 *
 * @since 0.1.0
 * @category scenarios
 */
export const scenario = (maxToolCalls = 5): fc.Arbitrary<Scenario.Scenario> =>
  fc.record({
    calls: fc.array(
      fc.record({
        name: word,
        arguments: fc.dictionary(word, fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxKeys: 2 })
      }),
      { maxLength: maxToolCalls }
    ),
    perTurn: fc.integer({ min: 1, max: 2 }),
    answer: fc.string({ minLength: 1, maxLength: 40 })
  }).map(({ answer, calls, perTurn }) => Scenarios.toolCallsThenAnswer({ calls, answer, perTurn }))
