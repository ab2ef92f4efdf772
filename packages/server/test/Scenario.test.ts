import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Scenario from "@loopwire/server/Scenario"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const errorOf = (result: Either.Either<Scenario.Scenario, Scenario.ScenarioError>) =>
  Either.match(result, { onLeft: (e) => e, onRight: () => assert.fail("expected a ScenarioError") })

describe("Scenario decoding", () => {
  it("decodes turns of text, function calls (object or string arguments) and custom tool calls", () => {
    const scenario = Either.getOrThrow(Scenario.decodeJson(JSON.stringify({
      name: "t",
      latency: { time_to_first_token_ms: 50, delta_delay_ms: 5, chars_per_delta: 4 },
      turns: [
        { output: [{ type: "message", text: "hi" }, { type: "function_call", name: "f", arguments: { a: 1, b: [2] } }] },
        { output: [{ type: "function_call", name: "g", arguments: "{\"x\":true}" }], latency: { chars_per_delta: 1 } },
        { output: [{ type: "custom_tool_call", name: "apply_patch", input: "*** Begin Patch" }] },
        { output: [], fail: { code: "server_error", message: "boom" } }
      ]
    })))
    assert.strictEqual(scenario.turns.length, 4)
    assert.deepStrictEqual(scenario.turns[0]!.output[1], { type: "function_call", name: "f", arguments: "{\"a\":1,\"b\":[2]}" })
    assert.deepStrictEqual(scenario.turns[1]!.output[0], { type: "function_call", name: "g", arguments: "{\"x\":true}" })
    assert.strictEqual(scenario.fallback_text, Scenario.defaultFallbackText)
    assert.deepStrictEqual(Scenario.latencyOf(scenario, scenario.turns[1]), {
      timeToFirstTokenMs: 50,
      deltaDelayMs: 5,
      charsPerDelta: 1
    })
    assert.deepStrictEqual(Scenario.latencyOf(Scenario.empty, undefined), Scenario.defaultLatency)
  })

  it("answers past the end of the script with the fallback text", () => {
    const scenario = Either.getOrThrow(Scenario.decodeUnknown({ fallback_text: "done", turns: [] }))
    assert.deepStrictEqual(Scenario.turnAt(scenario, 3).output, [{ type: "message", text: "done", phase: "final_answer" }])
  })

  it("names the bad path in its errors", () => {
    const bad = errorOf(Scenario.decodeUnknown({
      turns: [{ output: [{ type: "message", text: "ok" }] }, { output: [{ type: "function_call", arguments: {} }] }]
    }))
    assert.strictEqual(bad.reason, "Schema")
    assert.include(bad.message, "at turns[1].output[0].name")

    const badType = errorOf(Scenario.decodeUnknown({ turns: [{ output: [{ type: "reasoning", text: "x" }] }] }))
    assert.include(badType.message, "at turns[0].output[0].type")

    const badLatency = errorOf(Scenario.decodeUnknown({ latency: { chars_per_delta: 0 }, turns: [] }))
    assert.include(badLatency.message, "at latency.chars_per_delta")

    const extra = errorOf(Scenario.decodeUnknown({ turns: [], turn: [] }))
    assert.include(extra.message, "at turn")

    const missing = errorOf(Scenario.decodeUnknown({}))
    assert.include(missing.message, "at turns")

    const json = errorOf(Scenario.decodeJson("{ turns: "))
    assert.strictEqual(json.reason, "Json")
  })

  it("the demo makes 20 tool calls over get_population and calculate, then a final answer", () => {
    const calls = Scenario.demo.turns.flatMap((turn) => turn.output.filter((item) => item.type === "function_call"))
    assert.strictEqual(calls.length, 20)
    assert.deepStrictEqual([...new Set(calls.map((c) => c.name))], ["get_population", "calculate"])
    for (const c of calls) {
      const args = JSON.parse(c.arguments) as Record<string, unknown>
      if (c.name === "get_population") assert.isTrue(typeof args.city === "string" && args.city in Scenario.demoPopulations)
      else assert.match(String(args.expression), /^[\d\s+\-*/().]+$/)
    }
    const last = Scenario.demo.turns[Scenario.demo.turns.length - 1]!
    assert.strictEqual(last.output.length, 1)
    assert.strictEqual(last.output[0]!.type, "message")
    // The demo round-trips through its own schema (it is a valid scenario file).
    const encoded = JSON.stringify(Scenario.demo)
    assert.deepStrictEqual(Either.getOrThrow(Scenario.decodeJson(encoded)), Scenario.demo)
  })
})

describe("Scenario documentation", () => {
  it("the example in docs/server-backends.md is a valid scenario", () => {
    const doc = fs.readFileSync(path.join(__dirname, "../../../docs/server-backends.md"), "utf8")
    const example = /```json\n([\s\S]*?)```/.exec(doc)
    assert.isNotNull(example)
    const scenario = Either.getOrThrow(Scenario.decodeJson(example![1]!))
    assert.strictEqual(scenario.turns.length, 4)
  })
})

describe("Scenario.load", () => {
  it.effect("reads a file and reports read errors with the path", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loopwire-scenario-"))
      const file = path.join(dir, "s.json")
      fs.writeFileSync(file, JSON.stringify({ turns: [{ output: [{ type: "message", text: "hello" }] }] }))
      const scenario = yield* Scenario.load(file)
      assert.strictEqual(scenario.turns.length, 1)
      const missing = yield* Effect.flip(Scenario.load(path.join(dir, "nope.json")))
      assert.strictEqual(missing.reason, "Read")
      assert.include(missing.message, "nope.json")
      fs.writeFileSync(file, JSON.stringify({ turns: [{ output: [{ type: "message" }] }] }))
      const invalid = yield* Effect.flip(Scenario.load(file))
      assert.include(invalid.message, "at turns[0].output[0].text")
      fs.rmSync(dir, { recursive: true, force: true })
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
