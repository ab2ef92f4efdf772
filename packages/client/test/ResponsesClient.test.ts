import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Layer, Stream } from "effect"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ResponsesClient from "../src/ResponsesClient.js"
import { makeServer } from "./helpers/openaiLike.js"
import { memoryTransport } from "./helpers/servers.js"

const config = ClientConfig.make({ url: "ws://fake.test/v1/responses", apiKey: "sk-test" })

const setup = (toolCalls = 0) => {
  const server = makeServer({ toolCalls })
  const layer = ResponsesClient.layer(config).pipe(Layer.provide(memoryTransport(server)))
  return { server, layer }
}

const user = (text: string) => ({ type: "message" as const, role: "user" as const, content: [{ type: "input_text" as const, text }] })

describe("ClientConfig", () => {
  it("derives the WebSocket URL from an HTTP base URL like the SDKs", () => {
    assert.strictEqual(ClientConfig.websocketUrl("https://api.openai.com/v1"), "wss://api.openai.com/v1/responses")
    assert.strictEqual(ClientConfig.websocketUrl("http://localhost:8080/v1/?x=1"), "ws://localhost:8080/v1/responses?x=1")
    assert.strictEqual(ClientConfig.openai({ apiKey: "k" }).headers["Authorization"], "Bearer k")
    assert.strictEqual(ClientConfig.xai().url, "wss://api.x.ai/v1/responses")
    assert.isFalse(ClientConfig.xai().lanes)
    assert.strictEqual(ClientConfig.azure("res").url, "wss://res.openai.azure.com/openai/v1/responses")
    assert.strictEqual(ClientConfig.azure("res", { apiKey: "k", apiKeyHeader: "api-key" }).headers["api-key"], "k")
    assert.strictEqual(config.httpUrl, "http://fake.test/v1/responses")
  })

  it.effect("bad options: make throws a ClientConfigError, makeEffect fails with it", () =>
    Effect.gen(function*() {
      assert.throws(() => ClientConfig.make({}), ClientConfig.ClientConfigError)
      const cases = [
        [{}, "MissingUrl"],
        [{ baseUrl: "not a url" }, "InvalidUrl"],
        [{ baseUrl: "ftp://example.com/v1" }, "UnsupportedScheme"]
      ] as const
      for (const [options, reason] of cases) {
        const error = yield* Effect.flip(ClientConfig.makeEffect(options))
        assert.strictEqual(error._tag, "ClientConfigError")
        assert.strictEqual(error.reason, reason)
      }
      const ok = yield* ClientConfig.makeEffect({ baseUrl: "https://api.openai.com/v1" })
      assert.strictEqual(ok.url, "wss://api.openai.com/v1/responses")
    }))
})

describe("ResponsesClient", () => {
  it.live("streams one response's typed events until the terminal event", () => {
    const { layer } = setup()
    return Effect.gen(function*() {
      const client = yield* ResponsesClient.ResponsesClient
      const events = yield* Stream.runCollect(client.create({ model: "m", input: [user("hi")], store: false }))
      const types = Chunk.toArray(events).map((e) => e.type)
      assert.strictEqual(types[0], "response.created")
      assert.strictEqual(types.at(-1), "response.completed")
    }).pipe(Effect.provide(layer))
  })

  it.live("multiplexes lanes on one socket and routes events by stream_id", () => {
    const { layer, server } = setup()
    return Effect.gen(function*() {
      const client = yield* ResponsesClient.ResponsesClient
      const lanes = Array.from({ length: 20 }, (_, i) => `lane-${i}`)
      const results = yield* Effect.forEach(
        lanes,
        (lane) => Stream.runCollect(client.create({ model: "m", input: [user(lane)], store: false }, { lane })),
        { concurrency: "unbounded" }
      )
      for (let i = 0; i < lanes.length; i++) {
        const events = Chunk.toArray(results[i]!)
        assert.isTrue(events.every((e) => (e as any).stream_id === lanes[i]))
        assert.strictEqual(events.at(-1)!.type, "response.completed")
      }
      assert.strictEqual(server.stats().connections, 1)
    }).pipe(Effect.provide(layer))
  })

  it.live("error frames surface as typed errors with code, status and param", () => {
    const { layer } = setup()
    return Effect.gen(function*() {
      const client = yield* ResponsesClient.ResponsesClient
      const exit = yield* Effect.exit(
        Stream.runDrain(client.create({ model: "m", previous_response_id: "resp_nope", input: [], store: false }, { lane: "a" }))
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = (exit as any).cause.error
      assert.strictEqual(error.reason, "ErrorFrame")
      assert.strictEqual(error.code, "previous_response_not_found")
      assert.strictEqual(error.status, 400)
      assert.strictEqual(error.param, "previous_response_id")
      assert.strictEqual(error.streamId, "a")
      // The connection stays usable after a request-scoped error.
      const ok = yield* Stream.runCollect(client.create({ model: "m", input: [user("x")], store: false }, { lane: "a" }))
      assert.strictEqual(Chunk.last(ok).pipe((o) => (o as any).value.type), "response.completed")
    }).pipe(Effect.provide(layer))
  })

  it.live("rejects an invalid lane name and the 33rd distinct lane without sending", () => {
    const { layer, server } = setup()
    return Effect.gen(function*() {
      const client = yield* ResponsesClient.ResponsesClient
      const bad = yield* Effect.flip(Stream.runDrain(client.create({ input: "x" }, { lane: "bad lane!" })))
      assert.strictEqual(bad.code, "invalid_stream_id")
      yield* Effect.forEach(Array.from({ length: 32 }, (_, i) => `l${i}`), (lane) =>
        Stream.runDrain(client.create({ input: "x", store: false }, { lane })), { concurrency: 8 })
      const over = yield* Effect.flip(Stream.runDrain(client.create({ input: "x" }, { lane: "l32" })))
      assert.strictEqual(over.reason, "LaneLimit")
      assert.strictEqual(server.creates.length, 32)
    }).pipe(Effect.provide(layer))
  })

  it.live("queues beyond 16 in flight", () => {
    const { layer, server } = setup()
    return Effect.gen(function*() {
      const client = yield* ResponsesClient.ResponsesClient
      const results = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => Stream.runCollect(client.create({ input: `q${i}`, store: false }, { lane: `l${i % 30}` })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.length, 40)
      assert.strictEqual(server.stats().maxOutstanding, 16)
      for (const r of results) assert.strictEqual(Chunk.toArray(r).at(-1)!.type, "response.completed")
    }).pipe(Effect.provide(layer))
  })

  it.live("prewarm returns a chainable empty response", () => {
    const { layer, server } = setup()
    return Effect.gen(function*() {
      const client = yield* ResponsesClient.ResponsesClient
      const warm = yield* client.prewarm({ model: "m", input: [user("hi")], store: false })
      assert.strictEqual(warm.output.length, 0)
      assert.isFalse(server.creates[0]!.generate)
      const next = yield* Stream.runCollect(client.create({ model: "m", previous_response_id: warm.id, input: [], store: false }))
      assert.strictEqual(Chunk.toArray(next).at(-1)!.type, "response.completed")
    }).pipe(Effect.provide(layer))
  })
})

describe("ResponsesClient lanes", () => {
  it.live("requests on one lane are sent one at a time and each gets its own events", () => {
    const { layer, server } = setup()
    return Effect.gen(function*() {
      const client = yield* ResponsesClient.ResponsesClient
      const results = yield* Effect.forEach(
        [1, 2, 3, 4],
        (i) => Stream.runCollect(client.create({ input: [user(`same-${i}`)], store: false }, { lane: "same" })),
        { concurrency: "unbounded" }
      )
      const ids = results.map((r) => (Chunk.toArray(r).at(-1) as any).response.id)
      assert.strictEqual(new Set(ids).size, 4)
      for (const r of results) {
        const events = Chunk.toArray(r)
        const id = (events[0] as any).response.id
        assert.isTrue(events.every((e: any) => e.response === undefined || e.response.id === id))
      }
      assert.strictEqual(server.stats().maxOutstanding, 1)
    }).pipe(Effect.provide(layer))
  })
})
