/**
 * Runs the docs examples against the OpenAI-like fake server (in memory): the agent with two tools, an @effect/ai
 * Chat with the toolkit over LanguageModel, the Effect.Service that owns the client, and the HTTP service where each
 * request runs an agent loop over the shared pool.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { createServer } from "node:http"
import * as AgentLoop from "../src/AgentLoop.js"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as LanguageModel from "../src/LanguageModel.js"
import { WeatherTools, WeatherToolsLive } from "./examples/agent.js"
import { ask } from "./examples/chat.js"
import { router } from "./examples/httpService.js"
import { WeatherAgent } from "./examples/service.js"
import { makeServer } from "./helpers/openaiLike.js"
import { memoryTransport } from "./helpers/servers.js"

const config = ClientConfig.make({ url: "ws://fake.test/v1/responses" })

describe("docs examples", () => {
  it.live("the two-tool agent runs its tools and answers", () => {
    const server = makeServer({ toolCalls: 1, toolName: "to_fahrenheit", args: () => JSON.stringify({ celsius: 100 }) })
    return Effect.gen(function*() {
      const events = yield* AgentLoop.run("convert", { toolkit: WeatherTools, settings: { model: "m", store: false } }).pipe(
        Stream.runCollect
      )
      const finished = [...events].find((e) => e._tag === "ToolFinished") as any
      assert.strictEqual(finished.output, "212")
      assert.strictEqual(([...events].at(-1) as any).text, "done after 1 tool calls for convert")
    }).pipe(
      Effect.provide(WeatherToolsLive),
      Effect.provide(ConnectionPool.layer(config).pipe(Layer.provide(memoryTransport(server))))
    )
  })

  it.live("an @effect/ai Chat with the toolkit, over WebSocket mode: the rollout's later turns are deltas", () => {
    const server = makeServer({ toolCalls: 2, toolName: "to_fahrenheit", args: () => JSON.stringify({ celsius: 100 }) })
    return Effect.gen(function*() {
      const text = yield* ask("convert")
      assert.strictEqual(text, "done after 2 tool calls for convert")
      assert.strictEqual(server.creates.length, 3)
      for (const c of server.creates.slice(1)) {
        assert.isDefined(c.previousResponseId)
        assert.strictEqual(c.inputItems, 1)
      }
      assert.deepStrictEqual(server.creates[0]!.tools!.map((t) => t.name ?? t.type), ["get_weather", "to_fahrenheit", "web_search"])
    }).pipe(
      Effect.provide(WeatherToolsLive),
      Effect.provide(
        LanguageModel.layer({ model: "m", store: false, tools: [{ type: "web_search" }] }).pipe(
          Layer.provide(ConnectionPool.layer(config)),
          Layer.provide(memoryTransport(server))
        )
      )
    )
  })

  it.live("an Effect.Service owns the model and the handlers; its method needs nothing", () => {
    const server = makeServer({ toolCalls: 1, toolName: "get_weather", args: () => JSON.stringify({ city: "Paris" }) })
    const ClientLive = LanguageModel.layer({ model: "m", store: false }).pipe(
      Layer.provideMerge(ConnectionPool.layer(config)),
      Layer.provide(memoryTransport(server))
    )
    const AgentLive = WeatherAgent.DefaultWithoutDependencies.pipe(Layer.provide(Layer.merge(ClientLive, WeatherToolsLive)))
    return Effect.gen(function*() {
      const agent = yield* WeatherAgent
      const answer: Effect.Effect<{ readonly text: string; readonly history: string }, unknown, never> = agent.ask("paris")
      const { history, text } = yield* answer
      assert.strictEqual(text, "done after 1 tool calls for paris")
      assert.include(history, "get_weather")
      assert.strictEqual(server.creates.length, 2)
      assert.isDefined(server.creates[1]!.previousResponseId)
      const events: Stream.Stream<AgentLoop.AgentEvent, unknown, never> = agent.events("berlin")
      const last = Chunk.toArray(yield* Stream.runCollect(events)).at(-1)!
      assert.strictEqual(last._tag, "FinalAnswer")
      assert.strictEqual((last as any).text, "done after 1 tool calls for berlin")
    }).pipe(Effect.provide(AgentLive))
  })

  it.scopedLive("the HTTP service answers concurrent requests over one shared pool", () => {
    const server = makeServer({ toolCalls: 2, toolName: "get_weather", args: () => JSON.stringify({ city: "Paris" }) })
    const ServerLive = HttpServer.serve(router).pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })),
      Layer.provide(WeatherToolsLive),
      Layer.provide(ConnectionPool.layer(config, { size: 2 }).pipe(Layer.provide(memoryTransport(server))))
    )
    return Effect.gen(function*() {
      const address = yield* HttpServer.addressWith((a) => Effect.succeed(a))
      const port = address._tag === "TcpAddress" ? address.port : 0
      const client = yield* HttpClient.HttpClient
      const ask = (question: string) =>
        HttpClientRequest.post(`http://127.0.0.1:${port}/ask`).pipe(
          HttpClientRequest.bodyUnsafeJson({ question }),
          client.execute,
          Effect.flatMap((r) => r.json),
          Effect.scoped
        )
      const answers = yield* Effect.forEach(["q1", "q2", "q3", "q4", "q5"], ask, { concurrency: "unbounded" })
      answers.forEach((a: any, i) => assert.strictEqual(a.answer, `done after 2 tool calls for q${i + 1}`))
      const bad = yield* HttpClientRequest.post(`http://127.0.0.1:${port}/ask`).pipe(
        HttpClientRequest.bodyUnsafeJson({ nope: 1 }),
        client.execute,
        Effect.map((r) => r.status),
        Effect.scoped
      )
      assert.strictEqual(bad, 400)
      assert.strictEqual(server.stats().connections, 2)
    }).pipe(Effect.provide(Layer.merge(ServerLive, NodeHttpClient.layerUndici)))
  })
})
