/**
 * `@effect/ai` over WebSocket mode against the real gateway on loopback (scripted model): a `Chat` with a two-tool
 * `@effect/ai` toolkit, provided by `@loopwire/client/LanguageModel`, runs a tool rollout and a follow-up; each tool
 * runs once; every turn after the first is a delta, which the gateway's state-cache hits and the frames it received
 * show.
 */
import * as Chat from "@effect/ai/Chat"
import * as AiLanguageModel from "@effect/ai/LanguageModel"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ConnectionPool from "@loopwire/client/ConnectionPool"
import * as LanguageModel from "@loopwire/client/LanguageModel"
import * as Auth from "@loopwire/server/Auth"
import * as Gateway from "@loopwire/server/Gateway"
import * as GatewayConfig from "@loopwire/server/GatewayConfig"
import { ModelBackend, type ModelTurn } from "@loopwire/server/ModelBackend"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import type * as Scenario from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as StateCache from "@loopwire/server/StateCache"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Metric, Ref, Schema, Stream } from "effect"

const key = "sk-lm"

const GetWeather = Tool.make("get_weather", {
  description: "Current weather for a city, in Celsius",
  parameters: { city: Schema.String },
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number })
})
const ToFahrenheit = Tool.make("to_fahrenheit", {
  description: "Converts Celsius to Fahrenheit",
  parameters: { celsius: Schema.Number },
  success: Schema.Number
})
const WeatherTools = Toolkit.make(GetWeather, ToFahrenheit)

const handlers = (runs: Ref.Ref<Record<string, number>>) => {
  const count = (name: string) => Ref.update(runs, (r) => ({ ...r, [name]: (r[name] ?? 0) + 1 }))
  return WeatherTools.toLayer({
    get_weather: ({ city }) => count("get_weather").pipe(Effect.as({ city, celsius: 21 })),
    to_fahrenheit: ({ celsius }) => count("to_fahrenheit").pipe(Effect.as(celsius * 9 / 5 + 32))
  })
}

const weather: Scenario.Scenario = {
  fallback_text: "no more turns",
  turns: [
    {
      output: [
        { type: "function_call", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { type: "function_call", name: "to_fahrenheit", arguments: "{\"celsius\":21}" }
      ]
    },
    { output: [{ type: "message", text: "Paris is at 21 °C, 69.8 °F." }] },
    { output: [{ type: "message", text: "Tomorrow looks the same." }] }
  ]
}

/** The gateway with the scripted model, recording what each model turn received. */
const startGateway = (scenario: Scenario.Scenario) => Effect.gen(function*() {
  const turns: Array<ModelTurn> = []
  const Recording = Layer.effect(
    ModelBackend,
    Effect.map(ScriptedBackend.make({ scenario }), (scripted) => ({
      ...scripted,
      generate: (turn: ModelTurn) => {
        turns.push(turn)
        return scripted.generate(turn)
      }
    }))
  )
  const context = yield* Layer.build(
    Gateway.layer.pipe(
      Layer.provide(Layer.mergeAll(
        GatewayConfig.layer({ port: 0, host: "127.0.0.1" }),
        StateCache.layer(),
        ResponseStore.layerMemory(),
        Auth.layer({ _tag: "StaticKeys", keys: [[key, "tenant-lm"]] }),
        Recording
      ))
    )
  )
  const baseUrl = yield* Effect.provide(Gateway.baseUrl, context)
  return { turns, config: ClientConfig.make({ baseUrl: `${baseUrl}/v1`, apiKey: key }) }
})

const modelLayer = (config: ClientConfig.ClientConfig, options: LanguageModel.Options) =>
  LanguageModel.layer(options).pipe(
    Layer.provide(ConnectionPool.layer(config, { size: 1 })),
    Layer.provide(WebSocket.layer())
  )

const cacheHits = Metric.value(StateCache.metrics.hits).pipe(Effect.map((s) => s.count))

describe("@effect/ai LanguageModel over WebSocket mode", () => {
  it.scopedLive("a Chat with a two-tool toolkit: rollout and follow-up, each tool once, every later turn a delta", () =>
    Effect.gen(function*() {
      const { config, turns } = yield* startGateway(weather)
      const runs = yield* Ref.make<Record<string, number>>({})
      const hitsBefore = yield* cacheHits
      const result = yield* Effect.gen(function*() {
        const chat = yield* Chat.empty
        const first = yield* chat.generateText({ prompt: "What is the weather in Paris, in Fahrenheit?", toolkit: WeatherTools })
        const second = yield* chat.generateText({ prompt: [], toolkit: WeatherTools })
        // The follow-up streams: its parts come as the socket delivers them.
        const parts = Chunk.toArray(
          yield* Stream.runCollect(chat.streamText({ prompt: "And tomorrow?", toolkit: WeatherTools }))
        )
        return { first, second, parts }
      }).pipe(
        Effect.provide(Layer.merge(
          modelLayer(config, { model: "scripted", store: false, tools: [{ type: "web_search" }] }),
          handlers(runs)
        ))
      )

      // The rollout: two tool calls, resolved by @effect/ai with the toolkit's handlers, each once.
      assert.deepStrictEqual(result.first.toolCalls.map((c) => c.name), ["get_weather", "to_fahrenheit"])
      assert.deepStrictEqual(result.first.toolResults.map((r) => r.result), [{ city: "Paris", celsius: 21 }, 69.8])
      assert.strictEqual(result.first.finishReason, "tool-calls")
      assert.strictEqual(result.second.text, "Paris is at 21 °C, 69.8 °F.")
      assert.strictEqual(result.second.finishReason, "stop")
      assert.isDefined(result.second.usage.inputTokens)
      assert.deepStrictEqual(yield* Ref.get(runs), { get_weather: 1, to_fahrenheit: 1 })

      // The streamed follow-up: text deltas, then finish with usage.
      const text = result.parts.filter((p) => p.type === "text-delta").map((p: any) => p.delta).join("")
      assert.strictEqual(text, "Tomorrow looks the same.")
      assert.strictEqual(result.parts[0]!.type, "response-metadata")
      const finish = result.parts.at(-1)!
      assert.strictEqual(finish.type, "finish")
      assert.strictEqual((finish as any).reason, "stop")

      // What the gateway received: one full request, then deltas carrying only the new items.
      assert.strictEqual(turns.length, 3)
      assert.isUndefined(turns[0]!.request.previous_response_id ?? undefined)
      assert.strictEqual(turns[0]!.newInput.length, 1)
      assert.strictEqual(turns[1]!.request.previous_response_id, turns[0]!.response.id)
      assert.deepStrictEqual(turns[1]!.newInput.map((i: any) => i.type), ["function_call_output", "function_call_output"])
      assert.deepStrictEqual(
        turns[1]!.newInput.map((i: any) => JSON.parse(i.output)),
        [{ city: "Paris", celsius: 21 }, 69.8]
      )
      assert.strictEqual(turns[2]!.request.previous_response_id, turns[1]!.response.id)
      assert.deepStrictEqual(turns[2]!.newInput.map((i: any) => i.role), ["user"])
      // Served from the connection-local state cache, not rebuilt: one hit per continued turn.
      assert.strictEqual((yield* cacheHits) - hitsBefore, 2)
      // The toolkit's function tools and the hosted tool from the settings, on every request.
      for (const turn of turns) {
        assert.deepStrictEqual(
          (turn.request.tools ?? []).map((t: any) => t.type === "function" ? t.name : t.type),
          ["get_weather", "to_fahrenheit", "web_search"]
        )
        assert.strictEqual(turn.request.tool_choice, "auto")
      }
    }))

  it.scopedLive("generateObject sends a json_schema format and decodes the answer; provider options pass through; an unrelated prompt goes out in full", () =>
    Effect.gen(function*() {
      const { config, turns } = yield* startGateway({
        fallback_text: "no more turns",
        turns: [{ output: [{ type: "message", text: "{\"city\":\"Paris\"}" }] }, { output: [{ type: "message", text: "hi" }] }]
      })
      const Answer = Schema.Struct({ city: Schema.String })
      const result = yield* Effect.gen(function*() {
        const object = yield* AiLanguageModel.generateObject({ prompt: "Which city?", schema: Answer, objectName: "answer" })
        const other = yield* AiLanguageModel.generateText({ prompt: "Something else" }).pipe(
          LanguageModel.withConfigOverride({ reasoning: { effort: "high" } })
        )
        return { object, other }
      }).pipe(Effect.provide(modelLayer(config, {
        model: "scripted",
        store: false,
        include: ["reasoning.encrypted_content"],
        reasoning: { effort: "low" }
      })))
      assert.deepStrictEqual(result.object.value, { city: "Paris" })
      const format = (turns[0]!.request as any).text.format
      assert.strictEqual(format.type, "json_schema")
      assert.strictEqual(format.name, "answer")
      assert.deepStrictEqual(format.schema.required, ["city"])
      // A new conversation: the scripted chain starts over, the request is a full one.
      assert.strictEqual(result.other.text, "{\"city\":\"Paris\"}")
      assert.isUndefined(turns[1]!.request.previous_response_id ?? undefined)
      assert.isUndefined((turns[1]!.request as any).tools)
      // Provider options pass through; withConfigOverride changes them for one call.
      assert.deepStrictEqual(turns.map((t) => [t.request.store, (t.request as any).include, (t.request as any).reasoning]), [
        [false, ["reasoning.encrypted_content"], { effort: "low" }],
        [false, ["reasoning.encrypted_content"], { effort: "high" }]
      ])
    }))
})
