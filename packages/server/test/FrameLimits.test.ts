import { assert, describe, it } from "@effect/vitest"
import * as WebSocket from "@loopwire/transport/WebSocket"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Auth from "../src/Auth.js"
import * as Gateway from "../src/Gateway.js"
import type { GatewayConfigShape } from "../src/GatewayConfig.js"
import { type Json, makeBackend, services } from "./fixtures.js"

// Frames nested `levels` deep, written as text (JSON.stringify would overflow building them).
const nested = (levels: number) => "[".repeat(levels) + "0" + "]".repeat(levels)

const start = (config: Partial<GatewayConfigShape> = {}) =>
  Effect.gen(function*() {
    const backend = makeBackend({ gated: true, steering: true })
    const context = yield* Layer.build(Gateway.layer.pipe(Layer.provide(Layer.merge(services(backend, { port: 0, ...config }), Auth.layer()))))
    const url = yield* Effect.provide(Gateway.baseUrl, context)
    return { url, backend }
  })

const post = (url: string, body: string) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}/v1/responses`, { method: "POST", headers: { "content-type": "application/json" }, body })
    return { status: res.status, type: res.headers.get("content-type"), json: JSON.parse(await res.text()) as Json }
  })

describe("structural limits and prototype keys over a real gateway", () => {
  it.live("WebSocket: deep frames and prototype-key types get their error frames while a response runs to the end", () =>
    Effect.scoped(Effect.gen(function*() {
      const { backend, url } = yield* start()
      const connection = yield* WebSocket.connect(`${url.replace("http", "ws")}/v1/responses`)
      const inbox = yield* Queue.unbounded<Json>()
      yield* connection.frames.pipe(Stream.runForEach((text) => Queue.offer(inbox, JSON.parse(text))), Effect.forkScoped)
      const next = Queue.take(inbox)

      yield* connection.send(JSON.stringify({ type: "response.create", model: "m", input: "running" }))
      let running = ""
      for (let e = yield* next; e.type !== "response.in_progress"; e = yield* next) running = e.response?.id ?? running

      const deep = nested(4_500)
      const bad: ReadonlyArray<readonly [string, string, string]> = [
        [`{"type":"response.create","input":[{"role":"user","content":"x","x_extra":${deep}}]}`, "nesting_above_max_depth", "input[0].x_extra"],
        [`{"type":"response.create","input":"x","tools":[{"type":"function","name":"f","parameters":${deep}}]}`, "nesting_above_max_depth", "tools[0].parameters"],
        [`{"type":"response.steer","previous_response_id":"${running}","input":[{"role":"user","content":"x","x_extra":${deep}}]}`, "nesting_above_max_depth", "input[0].x_extra"],
        [`{"type":"response.create","input":"caf\\u00e9","metadata":{"k":"v"},"x_extra":${nested(3_000)}}`, "nesting_above_max_depth", "x_extra"],
        ...["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"].map((type) =>
          [JSON.stringify({ type }), "unknown_event_type", "type"] as const
        )
      ]
      for (const [frame, code, param] of bad) {
        yield* connection.send(frame)
        const reply = yield* next
        assert.strictEqual(reply.type, "error", frame.slice(0, 80))
        assert.strictEqual(reply.status, 400)
        assert.strictEqual(reply.error.code, code, frame.slice(0, 80))
        assert.isTrue(String(reply.error.param).startsWith(param), `${reply.error.param} starts with ${param}`)
      }

      // The running response was not touched: it finishes, and the connection takes another request.
      yield* backend.release(1)
      let last = yield* next
      while (last.type !== "response.completed") last = yield* next
      assert.strictEqual(last.response.id, running)
      yield* connection.send(JSON.stringify({ type: "response.create", model: "m", input: "after" }))
      yield* backend.release(1)
      while (last.type !== "response.completed" || last.response.id === running) last = yield* next
      assert.strictEqual(last.response.status, "completed")
    })))

  it.live("HTTP: deep bodies get 400 with the depth error (JSON and stream: true); __proto__ bodies get invalid_value", () =>
    Effect.scoped(Effect.gen(function*() {
      const { backend, url } = yield* start()
      for (const stream of [false, true]) {
        const deep = yield* post(url, `{"input":"x","stream":${stream},"text":${nested(5_000)}}`)
        assert.strictEqual(deep.status, 400)
        assert.strictEqual(deep.json.error.code, "nesting_above_max_depth")
        assert.isTrue(deep.json.error.param.startsWith("text[0]"))
      }
      for (const body of ["{\"input\":\"x\",\"__proto__\":{\"stream_id\":\"bad id!\"}}", "{\"__proto__\":{\"input\":{\"length\":3}}}"]) {
        const answer = yield* post(url, body)
        assert.strictEqual(answer.status, 400, body)
        assert.strictEqual(answer.json.error.code, "invalid_value")
        assert.strictEqual(answer.json.error.param, "__proto__")
      }
      yield* backend.release(1)
      const many = yield* post(url, JSON.stringify({ input: Array.from({ length: 4 }, () => ({ role: "user", content: "x" })) }))
      assert.strictEqual(many.status, 200, "within the default limit")
    })))

  it.live("the limits are configuration: a smaller maxInputItems and maxStringLength answer over HTTP", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* start({ maxInputItems: 2, maxStringLength: 100 })
      const items = yield* post(url, JSON.stringify({ input: Array.from({ length: 3 }, () => ({ role: "user", content: "x" })) }))
      assert.strictEqual(items.status, 400)
      assert.strictEqual(items.json.error.code, "array_above_max_length")
      assert.strictEqual(items.json.error.param, "input")
      const long = yield* post(url, JSON.stringify({ input: "y".repeat(101) }))
      assert.strictEqual(long.status, 400)
      assert.strictEqual(long.json.error.code, "string_above_max_length")
      assert.strictEqual(long.json.error.param, "input")
    })))
})
