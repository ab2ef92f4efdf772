import { assert, describe, it } from "@effect/vitest"
import * as WebSocket from "@loopwire/transport/WebSocket"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as WS from "ws"
import * as Auth from "../src/Auth.js"
import * as Gateway from "../src/Gateway.js"
import type { GatewayConfigShape } from "../src/GatewayConfig.js"
import { type Json, makeBackend, services, user } from "./fixtures.js"

const key = "sk-test-good"

/** A gateway on a free loopback port, with the test backend and one static key. */
const start = (config: Partial<GatewayConfigShape> = {}) =>
  Effect.gen(function*() {
    const backend = makeBackend()
    const context = yield* Layer.build(
      Gateway.layer.pipe(
        Layer.provide(Layer.merge(
          services(backend, { port: 0, ...config }),
          Auth.layer({ _tag: "StaticKeys", keys: [[key, "tenant-a"], ["sk-other", "tenant-b"]] })
        ))
      )
    )
    const url = yield* Effect.provide(Gateway.baseUrl, context)
    return { url, backend }
  })

const post = (url: string, body: unknown, authorization = `Bearer ${key}`) =>
  Effect.promise(() =>
    fetch(`${url}/v1/responses`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
  )

const parseSse = (text: string): Array<{ event: string; data: Json }> =>
  text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const lines = block.split("\n")
    const event = lines.find((l) => l.startsWith("event: "))!.slice(7)
    const data = JSON.parse(lines.find((l) => l.startsWith("data: "))!.slice(6))
    return { event, data }
  })

describe("Gateway over loopback", () => {
  it.live("GET /healthz, and GET /v1/responses without an upgrade is 426", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* start()
      const health = yield* Effect.promise(() => fetch(`${url}/healthz`))
      assert.strictEqual(health.status, 200)
      assert.deepStrictEqual(yield* Effect.promise(() => health.json()), { status: "ok" })
      const plain = yield* Effect.promise(() => fetch(`${url}/v1/responses`))
      assert.strictEqual(plain.status, 426)
    })))

  it.live("POST /v1/responses answers JSON; a stored response is continued over HTTP", () =>
    Effect.scoped(Effect.gen(function*() {
      const { backend, url } = yield* start()
      const first = yield* post(url, { model: "m", input: "hello" })
      assert.strictEqual(first.status, 200)
      const response = (yield* Effect.promise(() => first.json())) as Json
      assert.strictEqual(response.object, "response")
      assert.strictEqual(response.status, "completed")
      assert.strictEqual(response.output[0].content[0].text, "turn 0")

      const second = yield* post(url, { model: "m", previous_response_id: response.id, input: [user("more")] })
      const continued = (yield* Effect.promise(() => second.json())) as Json
      assert.strictEqual(continued.status, "completed")
      assert.strictEqual(continued.output[0].content[0].text, "turn 1")
      assert.strictEqual(backend.turns[1]!.input.length, 3)
    })))

  it.live("GET /v1/responses/:id serves the tenant's stored responses only", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* start()
      const createdRes = yield* post(url, { input: "keep me" })
      const created = (yield* Effect.promise(() => createdRes.json())) as Json
      const get = (id: string, token: string) =>
        Effect.promise(() => fetch(`${url}/v1/responses/${id}`, { headers: { authorization: `Bearer ${token}` } }))
      const own = yield* get(created.id, key)
      assert.strictEqual(own.status, 200)
      assert.deepStrictEqual(yield* Effect.promise(() => own.json()), created)
      const other = yield* get(created.id, "sk-other")
      assert.strictEqual(other.status, 404)
      assert.strictEqual(((yield* Effect.promise(() => other.json())) as Json).error.message, `Response with id '${created.id}' not found.`)
      assert.strictEqual((yield* get(created.id, "sk-nobody")).status, 401)
    })))

  it.live("POST errors: store:false ids are not continuable, bad JSON, stream_id, background, bad key", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* start()
      const first = (yield* Effect.promise(async () =>
        (await fetch(`${url}/v1/responses`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          body: JSON.stringify({ input: "x", store: false })
        })).json()
      )) as Json
      const missing = yield* post(url, { previous_response_id: first.id, input: "y" })
      assert.strictEqual(missing.status, 400)
      const body = (yield* Effect.promise(() => missing.json())) as Json
      assert.strictEqual(body.error.code, "previous_response_not_found")
      assert.strictEqual(body.error.message, `Previous response with id '${first.id}' not found.`)

      for (const bad of ["{nope", "[1]", { stream_id: "lane", input: "x" }, { background: true, input: "x" }]) {
        const res = yield* post(url, bad)
        assert.strictEqual(res.status, 400, JSON.stringify(bad))
        const err = (yield* Effect.promise(() => res.json())) as Json
        assert.strictEqual(err.error.type, "invalid_request_error")
      }
      const unauthorized = yield* post(url, { input: "x" }, "Bearer sk-wrong")
      assert.strictEqual(unauthorized.status, 401)
      assert.strictEqual(((yield* Effect.promise(() => unauthorized.json())) as Json).error.code, "invalid_api_key")
    })))

  it.live("POST with stream: true answers Server-Sent Events framed like OpenAI's", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* start()
      const res = yield* post(url, { model: "m", input: "hi", stream: true })
      assert.strictEqual(res.status, 200)
      assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/)
      const events = parseSse(yield* Effect.promise(() => res.text()))
      assert.deepStrictEqual(events.map((e) => e.event), [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.completed"
      ])
      assert.isTrue(events.every((e, i) => e.data.type === e.event && e.data.sequence_number === i))
      // A rejected streaming request is a plain HTTP error, not a stream.
      const rejected = yield* post(url, { input: "x", previous_response_id: "resp_nope", stream: true })
      assert.strictEqual(rejected.status, 400)
    })))

  it.live("WebSocket mode over a real upgrade; a bad key is a plain HTTP 401", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* start()
      const wsUrl = `${url.replace("http", "ws")}/v1/responses`
      const refused = yield* Effect.flip(WebSocket.connect(wsUrl, { headers: { authorization: "Bearer sk-bad" } }))
      assert.strictEqual(refused.reason, "Refused")
      assert.strictEqual(refused.status, 401)

      const connection = yield* WebSocket.connect(wsUrl, { headers: { authorization: `Bearer ${key}` } })
      yield* connection.send(JSON.stringify({ type: "response.create", model: "m", input: "hi", stream_id: "s1" }))
      const events = yield* connection.frames.pipe(
        Stream.map((text) => JSON.parse(text) as Json),
        Stream.takeUntil((e) => e.type === "response.completed"),
        Stream.runCollect
      )
      const list = Array.from(events)
      assert.strictEqual(list[list.length - 1]!.type, "response.completed")
      assert.isTrue(list.every((e) => e.stream_id === "s1"))
      yield* connection.close()
    })))

  it.live("426 mode refuses every upgrade; HTTP mode still works", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* start({ rejectWebSocket: true })
      const refused = yield* Effect.flip(
        WebSocket.connect(`${url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${key}` } })
      )
      assert.strictEqual(refused.status, 426)
      const res = yield* post(url, { input: "fallback" })
      assert.strictEqual(res.status, 200)
    })))

  it.live("transport violations close the socket: binary frames with 1003, oversize frames with 1009", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* start({ maxFrameBytes: 1024 })
      const wsUrl = `${url.replace("http", "ws")}/v1/responses`
      const closeCodeAfter = (send: (ws: WS.WebSocket) => void) =>
        Effect.async<number>((resume) => {
          const ws = new WS.WebSocket(wsUrl, { headers: { authorization: `Bearer ${key}` } })
          ws.on("error", () => {})
          ws.on("open", () => send(ws))
          ws.on("close", (code) => resume(Effect.succeed(code)))
        })
      assert.strictEqual(yield* closeCodeAfter((ws) => ws.send(Buffer.from([1, 2, 3]))), 1003)
      assert.strictEqual(yield* closeCodeAfter((ws) => ws.send("x".repeat(2048))), 1009)
      // The gateway is unaffected.
      const res = yield* post(url, { input: "still up" })
      assert.strictEqual(res.status, 200)
    })))
})
