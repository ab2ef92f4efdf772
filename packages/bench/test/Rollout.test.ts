import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { openWebSocket, wsExchange } from "../src/internal/clients.js"
import * as Rollout from "../src/Rollout.js"
import * as Transports from "../src/Transports.js"
import { type JsonObject, makeScenario, settingsOf } from "../src/Workload.js"

const scenario = makeScenario({ toolCalls: 3, baseContextBytes: 2048, toolOutputBytes: 256 })

describe("Rollout", () => {
  it.live("runSession drives a client that owns its history (delta after the first turn) through a full rollout", () =>
    Effect.scoped(Effect.gen(function*() {
      const { endpoint } = yield* Transports.floorTarget().start(scenario)
      const ws = yield* openWebSocket(`ws://${endpoint.host}:${endpoint.port}/v1/responses`, endpoint)
      const history: Array<JsonObject> = []
      let previous: string | undefined
      const seenSettings: Array<JsonObject> = []
      const records = yield* Rollout.runSession(scenario, { store: false }, (newItems, settings) =>
        Effect.gen(function*() {
          seenSettings.push(settings)
          const body = {
            type: "response.create",
            ...settings,
            input: previous === undefined ? [...history, ...newItems] : newItems,
            ...(previous === undefined ? {} : { previous_response_id: previous })
          }
          const delta = previous !== undefined
          const exchanged = yield* wsExchange(ws)(body)
          history.push(...newItems, ...exchanged.output)
          previous = exchanged.responseId
          return { ...exchanged, delta }
        }))
      assert.deepStrictEqual(records.map((r) => r.delta), [false, true, true, true])
      assert.deepStrictEqual(seenSettings[0], settingsOf(scenario, false))
      assert.isUndefined(seenSettings[0]!.input)
      assert.strictEqual(history.filter((i) => i.type === "function_call_output").length, 3)
    })))

  it.effect("a server that stops calling tools early fails the rollout with a Protocol error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Rollout.runSession(scenario, { store: false }, () =>
        Effect.succeed({
          responseId: "resp_1",
          output: [{ type: "message", role: "assistant", content: [] }],
          bytesSent: 1,
          bytesReceived: 1,
          events: 1,
          delta: false
        })))
      assert.strictEqual(error.reason, "Protocol")
      assert.include(error.detail, "ended after 1 turns (expected 4)")
    }))

  it("foldEvent collects output items and maps failures to a Protocol error", () => {
    const output: Array<JsonObject> = []
    assert.deepStrictEqual(Rollout.foldEvent({ type: "response.output_item.done", item: { type: "x" } }, output), { done: false })
    assert.deepStrictEqual(output, [{ type: "x" }])
    assert.deepStrictEqual(Rollout.foldEvent({ type: "response.completed", response: { id: "r" } }, output), {
      done: true,
      responseId: "r"
    })
    const failed = Rollout.foldEvent({ type: "response.failed", response: { id: "r" } }, output)
    assert.isTrue(failed instanceof Error && "reason" in failed && failed.reason === "Protocol")
    assert.deepStrictEqual(Rollout.foldEvent({ type: "response.output_text.delta" }, output), { done: false })
  })
})
