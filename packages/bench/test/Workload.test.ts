import { assert, describe, it } from "@effect/vitest"
import {
  realisticLatency,
  baseContext,
  Conversation,
  countToolOutputs,
  createBody,
  eventDelays,
  functionCallFor,
  gatewayScenario,
  isTerminalType,
  makeScenario,
  modelEvents,
  scriptedLatencyMs,
  scriptOf,
  toolOutput
} from "../src/Workload.js"

describe("Workload", () => {
  it("base context is Codex-sized, deterministic and made of valid function tools", () => {
    const a = baseContext(32 * 1024)
    const b = baseContext(32 * 1024)
    assert.strictEqual(a, b)
    assert.isAtLeast(a.bytes, 31 * 1024)
    assert.isAtMost(a.bytes, 34 * 1024)
    assert.isAbove(a.tools.length, 5)
    for (const tool of a.tools) {
      assert.strictEqual(tool.type, "function")
      const parameters = tool.parameters as { type: string; properties: object; required: Array<string> }
      assert.strictEqual(parameters.type, "object")
      assert.deepStrictEqual(parameters.required, Object.keys(parameters.properties))
    }
    assert.notStrictEqual(JSON.stringify(baseContext(8 * 1024)), JSON.stringify(a))
  })

  it("tool outputs have the requested size and differ by turn", () => {
    assert.strictEqual(toolOutput(3, 4096).length, 4096)
    assert.strictEqual(toolOutput(3, 4096), toolOutput(3, 4096))
    assert.notStrictEqual(toolOutput(3, 4096), toolOutput(4, 4096))
  })

  it("the scripted model calls a tool until the last turn, in the documented event order", () => {
    const scenario = makeScenario({ toolCalls: 2, baseContextBytes: 1024 })
    const body = createBody(scenario, { input: [], store: false })
    const script = scriptOf(body)
    assert.strictEqual(script.toolCalls, 2)
    const call = modelEvents(body, script, 0, "resp_a", 0).map((e) => e.type)
    assert.deepStrictEqual(call, [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      ...Array(script.argumentDeltas).fill("response.function_call_arguments.delta"),
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed"
    ])
    const text = modelEvents(body, script, 2, "resp_b", 0)
    assert.strictEqual(text.filter((e) => e.type === "response.output_text.delta").length, script.textDeltas)
    assert.strictEqual(text.filter((e) => isTerminalType(e.type)).length, 1)
    assert.isTrue(isTerminalType(text[text.length - 1]!.type))
  })

  it("scripts from hostile metadata are bounded", () => {
    const script = scriptOf({ metadata: { bench_text_deltas: "1e12", bench_first_event_ms: "99999999", bench_tool_calls: "-3" } })
    assert.isAtMost(script.textDeltas, 100_000)
    assert.isAtMost(script.firstEventMs, 60_000)
    assert.strictEqual(script.toolCalls, 0)
    assert.strictEqual(scriptOf({}).toolCalls, 0)
  })

  it("a conversation grows its full history but keeps deltas to the new tool output", () => {
    const scenario = makeScenario({ toolCalls: 3, baseContextBytes: 1024, toolOutputBytes: 100 })
    const conversation = new Conversation(scenario)
    const body = createBody(scenario, { input: [], store: false })
    assert.strictEqual(conversation.fullInput.length, 1)
    for (let turn = 0; turn < 3; turn++) {
      const events = modelEvents(body, scriptOf(body), turn, `resp_${turn}`, 0)
      const output = events.filter((e) => e.type === "response.output_item.done").map((e) => e.item as any)
      assert.isTrue(conversation.complete(`resp_${turn}`, output))
      assert.strictEqual(conversation.previousResponseId, `resp_${turn}`)
      assert.strictEqual(conversation.newInput.length, 1)
      assert.strictEqual(countToolOutputs(conversation.fullInput), turn + 1)
    }
    assert.strictEqual(conversation.fullInput.length, 1 + 3 * 2)
    const last = modelEvents(body, scriptOf(body), 3, "resp_3", 0)
    const output = last.filter((e) => e.type === "response.output_item.done").map((e) => e.item as any)
    assert.isFalse(conversation.complete("resp_3", output))
  })

  it("answers tool calls whatever call ids the server generates", () => {
    const scenario = makeScenario({ toolCalls: 2, baseContextBytes: 1024, toolOutputBytes: 64 })
    const conversation = new Conversation(scenario)
    const call = { type: "function_call", call_id: "call_9f2c1e", name: "shell", arguments: "{}" }
    assert.isTrue(conversation.complete("resp_x", [call]))
    assert.deepStrictEqual(conversation.newInput, [
      { type: "function_call_output", call_id: "call_9f2c1e", output: toolOutput(0, 64) }
    ])
  })

  it("renders the same script as a gateway scenario file", () => {
    const scenario = makeScenario({ toolCalls: 3, baseContextBytes: 1024 })
    const file = gatewayScenario(scenario) as any
    assert.strictEqual(file.turns.length, 4)
    for (let turn = 0; turn < 3; turn++) {
      const [item] = file.turns[turn].output
      assert.deepStrictEqual(item, { type: "function_call", ...functionCallFor(turn) })
      // As many argument deltas as the floor server sends.
      assert.strictEqual(Math.ceil(item.arguments.length / file.turns[turn].latency.chars_per_delta), scenario.argumentDeltas)
    }
    assert.strictEqual(file.turns[3].output[0].type, "message")
    assert.deepStrictEqual(file.latency, { time_to_first_token_ms: 0, delta_delay_ms: 0 })
  })

  it("schedules model latency like the gateway's scripted backend: TTFT, then a delay per later delta", () => {
    const scenario = makeScenario({ toolCalls: 1, baseContextBytes: 1024, latency: realisticLatency })
    const body = createBody(scenario, { input: [], store: false })
    for (const turn of [0, 1]) {
      const events = modelEvents(body, scriptOf(body), turn, "resp", 0)
      const delays = eventDelays(events, scriptOf(body))
      assert.deepStrictEqual(delays.slice(0, 3), [0, 0, realisticLatency.firstEventMs])
      assert.strictEqual(delays.reduce((a, b) => a + b, 0), scriptedLatencyMs(scenario, turn))
    }
    assert.strictEqual(scriptedLatencyMs(scenario, 0), 150 + 3 * 4)
    assert.strictEqual(scriptedLatencyMs(scenario, 1), 150 + 7 * 4)
  })
})
