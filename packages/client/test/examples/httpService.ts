/**
 * Example (docs/client.md): the client composed into an @effect/platform HTTP service. Every request runs an
 * agent loop on its own Session, and all sessions share one pool of sockets.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { NodeHttpServer } from "@effect/platform-node"
import * as AgentLoop from "@loopwire/client/AgentLoop"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ConnectionPool from "@loopwire/client/ConnectionPool"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"
import { WeatherTools, WeatherToolsLive } from "./agent.js"

const Ask = Schema.Struct({ question: Schema.String })

export const router = HttpRouter.empty.pipe(
  HttpRouter.post(
    "/ask",
    Effect.gen(function*() {
      const { question } = yield* HttpServerRequest.schemaBodyJson(Ask)
      const answer = yield* AgentLoop.answer(question, {
        toolkit: WeatherTools,
        maxTurns: 8,
        settings: { model: "gpt-5.6", store: false }
      })
      return yield* HttpServerResponse.json({ answer })
    }).pipe(
      Effect.catchTags({
        ResponsesError: (error) =>
          HttpServerResponse.json({ error: error.message, code: error.code ?? null }, { status: 502 }),
        AgentError: (error) => HttpServerResponse.json({ error: error.message, reason: error.reason }, { status: 504 }),
        ParseError: () => HttpServerResponse.json({ error: "expected {\"question\": string}" }, { status: 400 })
      })
    )
  )
)

/** The service over any `ConnectionPool` and tool handlers. */
export const ServiceLive = (port: number) =>
  HttpServer.serve(router).pipe(
    Layer.provide(NodeHttpServer.layer(() => createServer(), { port, host: "127.0.0.1" }))
  )

/** Production wiring: 8 sockets to OpenAI, shared by every request. */
export const MainLive = ServiceLive(8080).pipe(
  Layer.provide(WeatherToolsLive),
  Layer.provide(
    ConnectionPool.layer(ClientConfig.openai({ apiKey: process.env.OPENAI_API_KEY ?? "" }), { size: 8 }).pipe(
      Layer.provide(WebSocket.layer())
    )
  )
)
// NodeRuntime.runMain(Layer.launch(MainLive))
