/**
 * Two gateways in a row: the front gateway's upstream backend sends each turn to the second gateway, either
 * replaying the full context to its HTTP endpoint (`@loopwire/server/UpstreamBackend`) or in WebSocket mode with
 * deltas (`@loopwire/upstream/Upstream`); a client talks WebSocket mode to the front one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Gateway from "@loopwire/server/Gateway"
import * as Scenario from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as UpstreamBackend from "@loopwire/server/UpstreamBackend"
import * as Upstream from "@loopwire/upstream/Upstream"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type { ModelBackend } from "@loopwire/server/ModelBackend"
import OpenAI from "openai"
import { ResponsesWS } from "openai/resources/responses/ws"

type Json = { readonly [key: string]: any }

const scenario = Either.getOrThrow(Scenario.decodeUnknown({
  turns: [
    { output: [{ type: "function_call", name: "lookup", arguments: { id: 7 } }] },
    { output: [{ type: "message", text: "Item 7 is a teapot." }] }
  ]
}))

const start = (backend: Layer.Layer<ModelBackend>, keys: ReadonlyArray<readonly [string, string]>) =>
  Effect.flatMap(
    Layer.build(Gateway.layerLocal({ config: { port: 0 }, auth: { _tag: "StaticKeys", keys }, backend })),
    (context) => Effect.provide(Gateway.baseUrl, context)
  )

const backends: ReadonlyArray<readonly [string, (baseUrl: string) => Layer.Layer<ModelBackend>]> = [
  [
    "full-context HTTP replay behind",
    (baseUrl) => UpstreamBackend.layer({ baseUrl, apiKey: "sk-inner" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  ],
  [
    "WebSocket mode with deltas behind",
    (baseUrl) => Upstream.layer({ baseUrl, apiKey: "sk-inner", transport: "websocket" })
  ]
]

describe.each(backends)("Upstream backend against a second gateway: %s", (_name, backend) => {
  it.live("a tool-call chain over WebSocket mode in front", () =>
    Effect.scoped(Effect.gen(function*() {
      const inner = yield* start(ScriptedBackend.layer({ scenario }), [["sk-inner", "front"]])
      const front = yield* start(backend(`${inner}/v1`), [["sk-front", "client"]])
      const ws = yield* Effect.acquireRelease(
        Effect.sync(() => new ResponsesWS(new OpenAI({ apiKey: "sk-front", baseURL: `${front}/v1`, maxRetries: 0 }))),
        (ws) => Effect.sync(() => ws.close())
      )
      const errors: Array<unknown> = []
      ws.on("error", (e) => errors.push(e))
      const next = Effect.promise(() =>
        new Promise<Json>((resolve) => {
          const onEvent = (event: Json) => {
            if (["response.completed", "response.failed", "response.incomplete", "error"].includes(event.type)) {
              ws.off("event", onEvent)
              resolve(event)
            }
          }
          ws.on("event", onEvent)
        })
      )

      ws.send({ type: "response.create", model: "m", input: "What is item 7?", store: false })
      const first = yield* next
      assert.strictEqual(first.type, "response.completed", JSON.stringify(first))
      const call = first.response.output[0]
      assert.strictEqual(call.type, "function_call")
      assert.strictEqual(call.name, "lookup")

      ws.send({
        type: "response.create",
        model: "m",
        previous_response_id: first.response.id,
        input: [{ type: "function_call_output", call_id: call.call_id, output: "teapot" }],
        store: false
      })
      const second = yield* next
      assert.strictEqual(second.type, "response.completed", JSON.stringify(second))
      // The inner gateway saw the whole history (one model response in it), so it answered its turn 1.
      assert.strictEqual(second.response.output[0].content[0].text, "Item 7 is a teapot.")
      assert.strictEqual(second.response.previous_response_id, first.response.id)
      assert.strictEqual(errors.length, 0)
    })))
})
