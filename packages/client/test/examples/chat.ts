/**
 * Example (docs/client.md): `@effect/ai` code, unchanged, over WebSocket mode. A `Chat` with a toolkit runs a tool
 * rollout: each `generateText` is one model turn (its tool calls resolved by the toolkit's handlers), and every turn
 * after the first goes out as a delta on the warm socket.
 */
import * as Chat from "@effect/ai/Chat"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ConnectionPool from "@loopwire/client/ConnectionPool"
import * as LanguageModel from "@loopwire/client/LanguageModel"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { Config, Effect, Layer } from "effect"
import { WeatherTools, WeatherToolsLive } from "./agent.js"

/** Asks, lets the model call tools until it answers in text (at most `maxTurns` model turns), and returns the text. */
export const ask = (question: string, maxTurns = 8) =>
  Effect.gen(function*() {
    const chat = yield* Chat.empty
    let response = yield* chat.generateText({ prompt: question, toolkit: WeatherTools })
    for (let turn = 1; response.toolCalls.length > 0 && turn < maxTurns; turn++) {
      // The tool results are in the chat's history already: the next turn sends only them.
      response = yield* chat.generateText({ prompt: [], toolkit: WeatherTools })
    }
    return response.text
  })

/** A pool of WebSocket-mode sockets to OpenAI (key from OPENAI_API_KEY). */
export const PoolLive = Layer.unwrapEffect(
  Effect.map(Config.redacted("OPENAI_API_KEY"), (apiKey) => ConnectionPool.layer(ClientConfig.openai({ apiKey })))
).pipe(Layer.provide(WebSocket.layer()))

/** `@effect/ai`'s `LanguageModel` over that pool (the pool is provided too, for Loopwire's own `AgentLoop`). */
export const ModelLive = LanguageModel.layer({
  model: "gpt-5.6",
  store: false,
  instructions: "Use the tools; answer in one sentence.",
  // Hosted tools pass through with the toolkit's function tools.
  tools: [{ type: "web_search" }]
}).pipe(Layer.provideMerge(PoolLive))

export const main = ask("What is the weather in Paris, in Fahrenheit?").pipe(
  Effect.flatMap(Effect.log),
  Effect.provide(Layer.merge(ModelLive, WeatherToolsLive))
)
// NodeRuntime.runMain(main)
