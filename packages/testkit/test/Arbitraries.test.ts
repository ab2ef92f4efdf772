import { assert, describe, it } from "@effect/vitest"
import * as Accumulator from "@loopwire/protocol/Accumulator"
import { isValidStreamId } from "@loopwire/protocol/ClientEvent"
import * as Codec from "@loopwire/protocol/Codec"
import { isFunctionCall } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import * as Scenario from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import { Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import * as Arbitraries from "../src/Arbitraries.js"
import * as Scenarios from "../src/Scenarios.js"

const runs = { fastCheck: { numRuns: 50 } }

describe("Arbitraries", () => {
  it.prop("streamId is always a valid lane name", [Arbitraries.streamId], ([s]) => {
    assert.isTrue(isValidStreamId(s), s)
  }, runs)

  it.prop("invalidStreamId is never a valid lane name", [Arbitraries.invalidStreamId], ([s]) => {
    assert.isFalse(isValidStreamId(s), s)
  }, runs)

  it.prop("responseCreate values are valid client frames", [Arbitraries.responseCreate()], ([request]) => {
    const decoded = Codec.decodeClientEvent(JSON.stringify(request))
    assert.isTrue(Either.isRight(decoded), Either.isLeft(decoded) ? decoded.left.message : "")
    assert.isAtLeast((request.input as ReadonlyArray<unknown>).length, 1)
  }, runs)

  it.prop(
    "responseCreate honours lane and previous_response_id",
    [Arbitraries.responseCreate({ lane: true, previousResponseId: "resp_1", model: "m" })],
    ([request]) => {
      assert.isTrue(isValidStreamId(request.stream_id))
      assert.strictEqual(request.previous_response_id, "resp_1")
      assert.strictEqual(request.model, "m")
    },
    runs
  )

  it.prop("badClientFrame values are rejected by the codec with a 400 frame", [Arbitraries.badClientFrame], ([frame]) => {
    const decoded = Codec.decodeClientEvent(frame)
    assert.isTrue(Either.isLeft(decoded), frame)
    if (Either.isLeft(decoded)) assert.strictEqual(Codec.clientFrameErrorToFrame(decoded.left).status, 400)
  }, runs)

  it.prop("anyResponseCreate values decode as response.create", [Arbitraries.anyResponseCreate], ([request]) => {
    const decoded = Codec.decodeClientEvent(JSON.stringify(request))
    assert.isTrue(Either.isRight(decoded), Either.isLeft(decoded) ? decoded.left.message : "")
  }, runs)

  it.prop("responseEvents fold back into their response and are valid frames", [
    Arbitraries.finalResponse.chain((r) => Arbitraries.responseEvents(fc.constant(r)).map((events) => [r, events] as const))
  ], ([[response, events]]) => {
    for (const event of events) assert.isTrue(Either.isRight(Codec.decodeServerEvent(JSON.stringify(event))))
    assert.deepStrictEqual(Either.getOrThrow(Accumulator.fold(events)), response)
  }, runs)

  it.prop("responseEvents on a lane tag every event", [Arbitraries.responseEvents(Arbitraries.agentResponse, "lane-1")], ([events]) => {
    assert.isTrue(events.every((event) => event.stream_id === "lane-1"))
    assert.deepStrictEqual(events.map((e) => e.sequence_number), events.map((_, i) => i))
  }, runs)

  it.prop("toolOutputsFor answers every function call of an agent response", [
    Arbitraries.agentResponse.chain((r) => Arbitraries.toolOutputsFor(r).map((outputs) => [r, outputs] as const))
  ], ([[response, outputs]]) => {
    const calls = response.output.filter(isFunctionCall).map((call) => call.call_id)
    assert.deepStrictEqual(outputs.map((o) => o.call_id), calls)
    for (const output of outputs) JSON.parse(output.output as string)
  }, runs)
})

const play = (scenario: Scenario.Scenario, turn: number) =>
  Effect.gen(function*() {
    const backend = yield* ScriptedBackend.make({ scenario })
    const response: Response = {
      id: `resp_${turn}`,
      object: "response",
      created_at: 1,
      status: "in_progress",
      model: "scripted",
      output: []
    }
    const events = Chunk.toReadonlyArray(yield* Stream.runCollect(backend.generate({
      response,
      request: { type: "response.create" },
      input: [],
      newInput: [],
      turn
    })))
    return Either.getOrThrow(Accumulator.fold(events.map((e, i) => ({ ...e, sequence_number: i }))))
  })

describe("Scenarios", () => {
  it.effect("toolCallsThenAnswer plays N tool calls then the answer on the scripted backend", () =>
    Effect.gen(function*() {
      const scenario = Scenarios.toolCallsThenAnswer({
        calls: [{ name: "get_population", arguments: { city: "Paris" } }, { name: "calculate", arguments: "1 + 1" }],
        answer: "Done.",
        preamble: "Let me look."
      })
      assert.strictEqual(scenario.turns.length, 3)
      const first = yield* play(scenario, 0)
      assert.deepStrictEqual(first.output.map((item) => item.type), ["message", "function_call"])
      const call = first.output.find(isFunctionCall)!
      assert.strictEqual(call.name, "get_population")
      assert.strictEqual(call.arguments, "{\"city\":\"Paris\"}")
      const second = (yield* play(scenario, 1)).output.find(isFunctionCall)!
      assert.strictEqual(second.arguments, "1 + 1")
      const last = yield* play(scenario, 2)
      assert.deepStrictEqual(last.output.map((item) => item.type), ["message"])
      assert.include(JSON.stringify(last.output), "Done.")
    }))

  it("perTurn groups parallel calls; repeatedToolCalls numbers its arguments", () => {
    const grouped = Scenarios.toolCallsThenAnswer({
      calls: [{ name: "a" }, { name: "b" }, { name: "c" }],
      perTurn: 2,
      answer: "ok"
    })
    assert.deepStrictEqual(grouped.turns.map((t) => t.output.length), [2, 1, 1])
    const repeated = Scenarios.repeatedToolCalls({ n: 20, name: "step", arguments: (i) => ({ i }), answer: "end" })
    assert.strictEqual(repeated.turns.length, 21)
    assert.deepStrictEqual(repeated.turns[19]!.output, [{ type: "function_call", name: "step", arguments: "{\"i\":19}" }])
  })

  it.prop("toJson writes a scenario file that decodes to the same value", [Arbitraries.scenario()], ([scenario]) => {
    assert.deepStrictEqual(Either.getOrThrow(Scenario.decodeJson(Scenarios.toJson(scenario))), scenario)
  }, runs)

  it("builders keep the options", () => {
    const s = Scenarios.answers(["one", "two"], {
      name: "n",
      fallbackText: "fallback",
      latency: { chars_per_delta: 4 }
    })
    assert.deepStrictEqual(Either.getOrThrow(Scenario.decodeJson(Scenarios.toJson(s))), s)
    assert.strictEqual(Scenario.turnAt(s, 5).output[0]!.type, "message")
    assert.deepStrictEqual(Scenarios.turn(Scenarios.customToolCall("apply_patch", "x"), {
      fail: { code: "server_error", message: "boom" }
    }), {
      output: [{ type: "custom_tool_call", name: "apply_patch", input: "x" }],
      fail: { code: "server_error", message: "boom" }
    })
  })
})
