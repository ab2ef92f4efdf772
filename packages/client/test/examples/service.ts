/**
 * Example (docs/client.md): a service built with `Effect.Service` that owns the client layer. Its methods need
 * nothing from their callers: the model, the pool and the toolkit's handlers are resolved once, when the service is
 * built.
 */
import * as Chat from "@effect/ai/Chat"
import * as AiLanguageModel from "@effect/ai/LanguageModel"
import * as AgentLoop from "@loopwire/client/AgentLoop"
import { Effect } from "effect"
import { WeatherTools, WeatherToolsLive } from "./agent.js"
import { ModelLive } from "./chat.js"

export class WeatherAgent extends Effect.Service<WeatherAgent>()("example/WeatherAgent", {
  effect: Effect.gen(function*() {
    const model = yield* AiLanguageModel.LanguageModel
    // The toolkit with its handlers, resolved from WeatherToolsLive: `generateText` takes it as is.
    const toolkit = yield* WeatherTools
    const ask = (question: string, maxTurns = 8) =>
      Effect.gen(function*() {
        const chat = yield* Chat.empty
        let response = yield* chat.generateText({ prompt: question, toolkit })
        for (let turn = 1; response.toolCalls.length > 0 && turn < maxTurns; turn++) {
          response = yield* chat.generateText({ prompt: [], toolkit })
        }
        return { text: response.text, history: yield* chat.exportJson }
      }).pipe(Effect.provideService(AiLanguageModel.LanguageModel, model))
    // Loopwire's own loop over the same pool and handlers, as a Stream of agent events that needs nothing.
    const agent = yield* AgentLoop.make({ toolkit: WeatherTools, maxTurns: 8, settings: { model: "gpt-5.6", store: false } })
    return { ask, events: agent.run } as const
  }),
  // The service owns the client: WeatherAgent.Default needs nothing but OPENAI_API_KEY.
  dependencies: [ModelLive, WeatherToolsLive]
}) {}

export const main = Effect.gen(function*() {
  const agent = yield* WeatherAgent
  const { text } = yield* agent.ask("What is the weather in Paris, in Fahrenheit?")
  yield* Effect.log(text)
}).pipe(Effect.provide(WeatherAgent.Default))
// NodeRuntime.runMain(main)
