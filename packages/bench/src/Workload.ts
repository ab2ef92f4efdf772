/**
 * The rollout workload: a Codex-sized base context (instructions + JSON tool schemas), tool calls with
 * fixed-size outputs, and the scripted model events a server answers each turn with. Everything is
 * deterministic (seeded), so every transport sends byte-identical content and every run is comparable.
 *
 * Shapes are the wire JSON of the Responses API (`reference/protocol.md`), written as plain objects here so
 * the benchmark does not depend on any Loopwire package for its own workload.
 *
 * @since 0.1.0
 */
import { isTerminal } from "@loopwire/protocol/ServerEvent"

/**
 * A JSON object as it appears on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonObject = { readonly [key: string]: unknown }

/**
 * Simulated model latency, applied by the server before it emits events.
 *
 * @since 0.1.0
 * @category models
 */
export interface LatencyProfile {
  readonly name: string
  /** Delay before the first output event, after `response.created` / `response.in_progress` (time to first token). */
  readonly firstEventMs: number
  /** Delay before every delta event after the first one. */
  readonly interEventMs: number
}

/**
 * Zero model latency: the run measures pure protocol and transport cost.
 *
 * @since 0.1.0
 * @category latency
 */
export const zeroLatency: LatencyProfile = { name: "zero", firstEventMs: 0, interEventMs: 0 }

/**
 * A "realistic" latency knob: 150 ms to the first output event, 4 ms between deltas (a fast tool-calling model).
 * It dilutes the transport differences the way a real model does.
 *
 * @since 0.1.0
 * @category latency
 */
export const realisticLatency: LatencyProfile = { name: "realistic", firstEventMs: 150, interEventMs: 4 }

/**
 * One benchmark scenario: a rollout of `toolCalls` function calls (so `toolCalls + 1` model turns: the last one
 * answers with a text message).
 *
 * @since 0.1.0
 * @category models
 */
export interface Scenario {
  readonly id: string
  readonly toolCalls: number
  /** Target size in bytes of instructions + tool definitions (re-sent every turn by every transport). */
  readonly baseContextBytes: number
  /** Size in bytes of each tool output string. */
  readonly toolOutputBytes: number
  /** `function_call_arguments.delta` events per tool call. */
  readonly argumentDeltas: number
  /** `output_text.delta` events in the final message. */
  readonly textDeltas: number
  readonly latency: LatencyProfile
  readonly model: string
}

/**
 * Build a scenario; the id encodes the knobs that change results.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeScenario = (options: {
  readonly toolCalls: number
  readonly baseContextBytes?: number | undefined
  readonly toolOutputBytes?: number | undefined
  readonly argumentDeltas?: number | undefined
  readonly textDeltas?: number | undefined
  readonly latency?: LatencyProfile | undefined
  readonly model?: string | undefined
}): Scenario => {
  const latency = options.latency ?? zeroLatency
  const baseContextBytes = options.baseContextBytes ?? 32 * 1024
  const toolOutputBytes = options.toolOutputBytes ?? 4 * 1024
  return {
    id: `n${options.toolCalls}-${latency.name}-ctx${Math.round(baseContextBytes / 1024)}k-out${
      Math.round(toolOutputBytes / 1024)
    }k`,
    toolCalls: options.toolCalls,
    baseContextBytes,
    toolOutputBytes,
    argumentDeltas: options.argumentDeltas ?? 4,
    textDeltas: options.textDeltas ?? 8,
    latency,
    model: options.model ?? "loopwire-bench-model"
  }
}

// --- deterministic text ----------------------------------------------------------------------------------------

/** mulberry32: a tiny seeded PRNG, good enough to make varied but reproducible text. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = (
  "the agent must read files before editing them and keep changes minimal run tests after each change " +
  "prefer ripgrep over grep use apply_patch for edits never rewrite whole files summarise what changed " +
  "respect the sandbox do not access the network unless approved report failing commands verbatim keep " +
  "answers short cite paths with line numbers check types compile lint format commit only when asked " +
  "workspace repository module function interface schema request response stream token context turn tool " +
  "output error retry timeout cache lane connection socket gateway client server protocol event delta"
).split(" ")

const sentence = (next: () => number, words: number): string => {
  const parts: Array<string> = []
  for (let i = 0; i < words; i++) parts.push(WORDS[Math.floor(next() * WORDS.length)]!)
  const text = parts.join(" ")
  return text.charAt(0).toUpperCase() + text.slice(1) + "."
}

/**
 * Deterministic prose of exactly `bytes` ASCII bytes.
 *
 * @since 0.1.0
 * @category workload
 */
export const prose = (seed: number, bytes: number): string => {
  const next = prng(seed)
  let text = ""
  while (text.length < bytes) text += (text.length === 0 ? "" : " ") + sentence(next, 8 + Math.floor(next() * 12))
  return text.slice(0, bytes)
}

// --- base context ------------------------------------------------------------------------------------------------

/**
 * Instructions plus tool definitions, the part of every request that is not conversation history.
 *
 * @since 0.1.0
 * @category models
 */
export interface BaseContext {
  readonly instructions: string
  readonly tools: ReadonlyArray<JsonObject>
  /** Serialized size of `{ instructions, tools }` in bytes. */
  readonly bytes: number
}

const TOOL_NAMES = [
  "shell", "apply_patch", "read_file", "list_dir", "grep_files", "view_image", "update_plan", "web_search",
  "run_tests", "git_status", "git_diff", "open_url", "find_symbol", "rename_symbol", "format_file", "lint_file"
]

const toolSchema = (next: () => number, index: number): JsonObject => {
  const base = TOOL_NAMES[index % TOOL_NAMES.length]!
  const name = index < TOOL_NAMES.length ? base : `${base}_${Math.floor(index / TOOL_NAMES.length)}`
  const properties: Record<string, JsonObject> = {
    path: { type: "string", description: sentence(next, 10) },
    command: { type: "array", items: { type: "string" }, description: sentence(next, 12) },
    timeout_ms: { type: "integer", minimum: 0, maximum: 600000, description: sentence(next, 6) },
    mode: { type: "string", enum: ["read", "write", "execute"], description: sentence(next, 6) },
    options: {
      type: "object",
      properties: {
        recursive: { type: "boolean", description: sentence(next, 5) },
        max_results: { type: "integer", minimum: 1, description: sentence(next, 5) }
      },
      required: ["recursive", "max_results"],
      additionalProperties: false
    }
  }
  return {
    type: "function",
    name,
    description: sentence(next, 30) + " " + sentence(next, 20),
    strict: true,
    parameters: {
      type: "object",
      properties,
      required: Object.keys(properties),
      additionalProperties: false
    }
  }
}

const contextCache = new Map<number, BaseContext>()

/**
 * A deterministic base context of about `targetBytes` (instructions ≈ 40%, tool schemas the rest; within a few
 * hundred bytes of the target). Memoised per size: every transport sends the very same strings.
 *
 * @since 0.1.0
 * @category workload
 */
export const baseContext = (targetBytes: number): BaseContext => {
  const cached = contextCache.get(targetBytes)
  if (cached !== undefined) return cached
  const next = prng(7)
  const tools: Array<JsonObject> = []
  const toolBudget = Math.floor(targetBytes * 0.6)
  let toolBytes = 2
  while (toolBytes < toolBudget) {
    const tool = toolSchema(next, tools.length)
    tools.push(tool)
    toolBytes += JSON.stringify(tool).length + 1
  }
  const instructionBytes = Math.max(64, targetBytes - toolBytes - 32)
  const instructions = prose(11, instructionBytes)
  const context: BaseContext = { instructions, tools, bytes: JSON.stringify({ instructions, tools }).length }
  contextCache.set(targetBytes, context)
  return context
}

// --- conversation items ------------------------------------------------------------------------------------------

/**
 * The user message that starts every rollout.
 *
 * @since 0.1.0
 * @category workload
 */
export const userMessage: JsonObject = {
  type: "message",
  role: "user",
  content: [{ type: "input_text", text: "Fix the failing test in packages/server and explain the cause." }]
}

/**
 * The `call_id` of the tool call made at a given turn.
 *
 * @since 0.1.0
 * @category workload
 */
export const callId = (turn: number): string => `call_${String(turn).padStart(4, "0")}`

/**
 * The function call the scripted model makes at a given turn (name and JSON arguments).
 *
 * @since 0.1.0
 * @category workload
 */
export const functionCallFor = (turn: number): { readonly name: string; readonly arguments: string } => ({
  name: "shell",
  arguments: JSON.stringify({
    command: ["bash", "-lc", `rg -n "pending_${turn}" packages/server/src --max-count 20`],
    path: `/workspace/repo/packages/server/src/module_${turn % 37}.ts`,
    timeout_ms: 10000,
    mode: "execute",
    options: { recursive: true, max_results: 20 }
  })
})

const outputCache = new Map<string, string>()

/**
 * The tool output the client returns for a given turn: `bytes` of command-output-like text (deterministic).
 *
 * @since 0.1.0
 * @category workload
 */
export const toolOutput = (turn: number, bytes: number): string => {
  const key = `${turn}:${bytes}`
  const cached = outputCache.get(key)
  if (cached !== undefined) return cached
  const next = prng(1000 + turn)
  let text = ""
  let line = 1
  while (text.length < bytes) {
    text += `packages/server/src/module_${Math.floor(next() * 40)}.ts:${line * 7}: ${sentence(next, 9)}\n`
    line++
  }
  const output = text.slice(0, bytes)
  if (outputCache.size > 4096) outputCache.clear()
  outputCache.set(key, output)
  return output
}

/**
 * The `function_call_output` input item answering the call of `turn`.
 *
 * @since 0.1.0
 * @category workload
 */
export const functionCallOutput = (turn: number, bytes: number): JsonObject => ({
  type: "function_call_output",
  call_id: callId(turn),
  output: toolOutput(turn, bytes)
})

// --- request bodies (client side) --------------------------------------------------------------------------------

/**
 * Keys of the `metadata` map through which a request tells the scripted bench server how to answer. This is the
 * bench's script contract: any server under test that wants to run the workload reads the same keys (the
 * gateway's scripted backend can be configured from them).
 *
 * @since 0.1.0
 * @category workload
 */
export const MetadataKeys = {
  toolCalls: "bench_tool_calls",
  argumentDeltas: "bench_argument_deltas",
  textDeltas: "bench_text_deltas",
  firstEventMs: "bench_first_event_ms",
  interEventMs: "bench_inter_event_ms"
} as const

/**
 * The `metadata` map of every request of a scenario.
 *
 * @since 0.1.0
 * @category workload
 */
export const scenarioMetadata = (scenario: Scenario): Record<string, string> => ({
  [MetadataKeys.toolCalls]: String(scenario.toolCalls),
  [MetadataKeys.argumentDeltas]: String(scenario.argumentDeltas),
  [MetadataKeys.textDeltas]: String(scenario.textDeltas),
  [MetadataKeys.firstEventMs]: String(scenario.latency.firstEventMs),
  [MetadataKeys.interEventMs]: String(scenario.latency.interEventMs)
})

/**
 * The create body of one turn, without `type` (HTTP) — add `type: "response.create"` for WebSocket mode. Every
 * turn re-sends instructions and tools, as the protocol requires (they are not inherited) and as Codex does.
 *
 * @since 0.1.0
 * @category workload
 */
export const createBody = (
  scenario: Scenario,
  options: {
    readonly input: ReadonlyArray<JsonObject>
    readonly previousResponseId?: string | undefined
    readonly store: boolean
    readonly stream?: boolean | undefined
  }
): JsonObject => {
  const context = baseContext(scenario.baseContextBytes)
  return {
    model: scenario.model,
    instructions: context.instructions,
    tools: context.tools,
    tool_choice: "auto",
    parallel_tool_calls: false,
    store: options.store,
    ...(options.stream === undefined ? {} : { stream: options.stream }),
    ...(options.previousResponseId === undefined ? {} : { previous_response_id: options.previousResponseId }),
    metadata: scenarioMetadata(scenario),
    input: options.input
  }
}

/**
 * The non-input fields of every request of a scenario (`createBody` without `input` and
 * `previous_response_id`): what a history-owning client is given as its settings.
 *
 * @since 0.1.0
 * @category workload
 */
export const settingsOf = (scenario: Scenario, store: boolean): JsonObject => {
  const { input: _input, ...settings } = createBody(scenario, { input: [], store })
  return settings
}

/**
 * The client-side conversation of one rollout: the history a stateless client re-sends, and the new items of the
 * current turn that a delta-continuation client sends. A real client keeps exactly this.
 *
 * @since 0.1.0
 * @category workload
 */
export class Conversation {
  private readonly history: Array<JsonObject> = [userMessage]
  private pending: Array<JsonObject> = [userMessage]
  private lastResponseId: string | undefined = undefined
  private turnIndex = 0
  private callsAnswered = 0

  constructor(readonly scenario: Scenario) {}

  /** Model turns taken so far. */
  get turn(): number {
    return this.turnIndex
  }

  /** The whole history (for a full-context request). */
  get fullInput(): ReadonlyArray<JsonObject> {
    return this.history
  }

  /** Only the items added since the last response (for a delta request). */
  get newInput(): ReadonlyArray<JsonObject> {
    return this.pending
  }

  /** The id to continue from, once a response has completed. */
  get previousResponseId(): string | undefined {
    return this.lastResponseId
  }

  /**
   * Fold a completed response: append its output items, answer every function call (whatever its `call_id`,
   * servers generate their own) with the next scripted tool output. Returns whether the rollout continues (the
   * model asked for a tool).
   */
  complete(responseId: string, output: ReadonlyArray<JsonObject>): boolean {
    this.lastResponseId = responseId
    this.turnIndex++
    this.pending = []
    let calls = 0
    for (const item of output) {
      this.history.push(item)
      if (item.type === "function_call") {
        calls++
        const answer: JsonObject = {
          type: "function_call_output",
          call_id: item.call_id,
          output: toolOutput(this.callsAnswered++, this.scenario.toolOutputBytes)
        }
        this.history.push(answer)
        this.pending.push(answer)
      }
    }
    return calls > 0
  }
}

// --- the scripted model (server side) ----------------------------------------------------------------------------

const metaNumber = (metadata: unknown, key: string, fallback: number): number => {
  if (typeof metadata !== "object" || metadata === null) return fallback
  const raw = (metadata as Record<string, unknown>)[key]
  const n = typeof raw === "string" ? Number(raw) : Number.NaN
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : fallback
}

/**
 * What the scripted model does, read from a request's `metadata` (see {@link MetadataKeys}). Defaults: 0 tool
 * calls, 4 argument deltas, 8 text deltas, zero latency.
 *
 * @since 0.1.0
 * @category models
 */
export interface Script {
  readonly toolCalls: number
  readonly argumentDeltas: number
  readonly textDeltas: number
  readonly firstEventMs: number
  readonly interEventMs: number
}

/**
 * Read the script of a request (bounded: at most 100,000 deltas, 60 s of latency, so a hostile body cannot make
 * the bench server loop or sleep forever).
 *
 * @since 0.1.0
 * @category workload
 */
export const scriptOf = (body: JsonObject): Script => {
  const m = body.metadata
  return {
    toolCalls: metaNumber(m, MetadataKeys.toolCalls, 0),
    argumentDeltas: Math.min(100_000, Math.max(1, metaNumber(m, MetadataKeys.argumentDeltas, 4))),
    textDeltas: Math.min(100_000, Math.max(1, metaNumber(m, MetadataKeys.textDeltas, 8))),
    firstEventMs: Math.min(60_000, metaNumber(m, MetadataKeys.firstEventMs, 0)),
    interEventMs: Math.min(60_000, metaNumber(m, MetadataKeys.interEventMs, 0))
  }
}

/**
 * Count the `function_call_output` items of an input (the model turn a full-context request is at).
 *
 * @since 0.1.0
 * @category workload
 */
export const countToolOutputs = (input: unknown): number =>
  Array.isArray(input) ? input.filter((item) => item?.type === "function_call_output").length : 0

const split = (text: string, parts: number): Array<string> => {
  const size = Math.max(1, Math.ceil(text.length / parts))
  const chunks: Array<string> = []
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size))
  return chunks.length === 0 ? [""] : chunks
}

/**
 * The events (without `sequence_number`) of the scripted model's response at `turn`: a function call while
 * `turn < script.toolCalls`, else a final text message. The order is the documented streaming order:
 * created, in_progress, output_item.added, (arguments deltas, arguments.done | content part, text deltas, text
 * done, part done), output_item.done, completed. `created` and `completed` echo instructions and tools, as the
 * Response object does.
 *
 * @since 0.1.0
 * @category workload
 */
export const modelEvents = (
  request: JsonObject,
  script: Script,
  turn: number,
  responseId: string,
  createdAt: number
): Array<JsonObject> => {
  const response = {
    id: responseId,
    object: "response",
    created_at: createdAt,
    status: "in_progress",
    model: request.model ?? "loopwire-bench-model",
    previous_response_id: request.previous_response_id ?? null,
    instructions: request.instructions ?? null,
    tools: request.tools ?? [],
    tool_choice: request.tool_choice ?? "auto",
    parallel_tool_calls: request.parallel_tool_calls ?? false,
    store: request.store ?? true,
    metadata: request.metadata ?? {},
    output: [] as Array<JsonObject>,
    usage: null as JsonObject | null
  }
  const events: Array<JsonObject> = [
    { type: "response.created", response },
    { type: "response.in_progress", response }
  ]
  let item: JsonObject
  if (turn < script.toolCalls) {
    const call = functionCallFor(turn)
    const itemId = `fc_${responseId}`
    events.push({
      type: "response.output_item.added",
      output_index: 0,
      item: { type: "function_call", id: itemId, call_id: callId(turn), name: call.name, arguments: "", status: "in_progress" }
    })
    for (const delta of split(call.arguments, script.argumentDeltas)) {
      events.push({ type: "response.function_call_arguments.delta", item_id: itemId, output_index: 0, delta })
    }
    events.push({
      type: "response.function_call_arguments.done",
      item_id: itemId,
      output_index: 0,
      name: call.name,
      arguments: call.arguments
    })
    item = { type: "function_call", id: itemId, call_id: callId(turn), name: call.name, arguments: call.arguments, status: "completed" }
  } else {
    const itemId = `msg_${responseId}`
    const text = prose(turn, Math.max(16, script.textDeltas * 12))
    events.push({
      type: "response.output_item.added",
      output_index: 0,
      item: { type: "message", id: itemId, role: "assistant", status: "in_progress", content: [] }
    })
    events.push({
      type: "response.content_part.added",
      item_id: itemId,
      output_index: 0,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [] }
    })
    for (const delta of split(text, script.textDeltas)) {
      events.push({
        type: "response.output_text.delta",
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        delta,
        logprobs: []
      })
    }
    events.push({ type: "response.output_text.done", item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [] })
    const part = { type: "output_text", text, annotations: [] }
    events.push({ type: "response.content_part.done", item_id: itemId, output_index: 0, content_index: 0, part })
    item = { type: "message", id: itemId, role: "assistant", status: "completed", content: [part] }
  }
  events.push({ type: "response.output_item.done", output_index: 0, item })
  events.push({
    type: "response.completed",
    response: {
      ...response,
      status: "completed",
      output: [item],
      usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 }
    }
  })
  return events
}

/**
 * The delay (ms) before each event of a response, the scripted backend's latency semantics: the first output
 * event waits `firstEventMs` (time to first token, after `response.created` / `response.in_progress`), every
 * delta after the first waits `interEventMs`, everything else goes at once. Pure.
 *
 * @since 0.1.0
 * @category workload
 */
export const eventDelays = (
  events: ReadonlyArray<JsonObject>,
  script: Pick<Script, "firstEventMs" | "interEventMs">
): ReadonlyArray<number> => {
  let firstOutput = true
  let firstDelta = true
  return events.map((event) => {
    const type = String(event.type)
    if (type === "response.created" || type === "response.in_progress") return 0
    let delay = 0
    if (firstOutput) {
      firstOutput = false
      delay += script.firstEventMs
    }
    if (type.endsWith(".delta")) {
      if (!firstDelta) delay += script.interEventMs
      firstDelta = false
    }
    return delay
  })
}

/**
 * The scripted model latency of turn `index` of a scenario (what `eventDelays` adds up to), for the overhead
 * figure: time to first token plus one inter-event delay per delta after the first.
 *
 * @since 0.1.0
 * @category workload
 */
export const scriptedLatencyMs = (scenario: Scenario, index: number): number => {
  const deltas = index < scenario.toolCalls ? scenario.argumentDeltas : scenario.textDeltas
  return scenario.latency.firstEventMs + Math.max(0, deltas - 1) * scenario.latency.interEventMs
}

/**
 * Whether a server event type ends a request (exactly one per response): the protocol's `isTerminal`, for a
 * parsed frame's `type` of any JSON type.
 *
 * @since 0.1.0
 * @category workload
 */
export const isTerminalType = (type: unknown): boolean => typeof type === "string" && isTerminal({ type })

/**
 * The scenario as a script file for the gateway's scripted backend (`@loopwire/server/Scenario` JSON:
 * `{ name, latency, turns: [{ output: [...] }] }`): the same calls, arguments, final text, event counts and
 * latency as the floor server's script, so a gateway started for one bench scenario answers its rollouts the same
 * way. Plain JSON, so the bench does not import the server package for it.
 *
 * @since 0.1.0
 * @category workload
 */
export const gatewayScenario = (scenario: Scenario): JsonObject => {
  const turns: Array<JsonObject> = []
  for (let turn = 0; turn < scenario.toolCalls; turn++) {
    const call = functionCallFor(turn)
    turns.push({
      output: [{ type: "function_call", name: call.name, arguments: call.arguments }],
      latency: { chars_per_delta: Math.max(1, Math.ceil(call.arguments.length / scenario.argumentDeltas)) }
    })
  }
  const text = prose(scenario.toolCalls, Math.max(16, scenario.textDeltas * 12))
  turns.push({
    output: [{ type: "message", text, phase: "final_answer" }],
    latency: { chars_per_delta: Math.max(1, Math.ceil(text.length / scenario.textDeltas)) }
  })
  return {
    name: `loopwire-bench ${scenario.id}`,
    latency: {
      time_to_first_token_ms: scenario.latency.firstEventMs,
      delta_delay_ms: scenario.latency.interEventMs
    },
    turns
  }
}
