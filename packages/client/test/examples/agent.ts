/**
 * Example (docs/client.md): an agent with two `@effect/ai` tools, run by Loopwire's `AgentLoop` over one persistent
 * socket to OpenAI.
 */
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as AgentLoop from "@loopwire/client/AgentLoop"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ResponsesClient from "@loopwire/client/ResponsesClient"
import * as ToolRegistry from "@loopwire/client/ToolRegistry"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { Config, Console, Effect, Layer, Schema, Stream } from "effect"

// 1. Tools: @effect/ai tools, schemas for parameters, success and failure; Loopwire's timeout is an annotation.
export const GetWeather = Tool.make("get_weather", {
  description: "Current weather for a city, in Celsius",
  parameters: { city: Schema.String },
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number }),
  failure: Schema.Struct({ unknownCity: Schema.String })
}).annotate(ToolRegistry.Timeout, "5 seconds")

export const ToFahrenheit = Tool.make("to_fahrenheit", {
  description: "Converts Celsius to Fahrenheit",
  parameters: { celsius: Schema.Number },
  success: Schema.Number
})

// 2. An @effect/ai toolkit and a Layer with the handlers (their requirements are in its type).
export const WeatherTools = Toolkit.make(GetWeather, ToFahrenheit)

export const WeatherToolsLive = WeatherTools.toLayer({
  get_weather: ({ city }) =>
    city === "Paris" ? Effect.succeed({ city, celsius: 21 }) : Effect.fail({ unknownCity: city }),
  to_fahrenheit: ({ celsius }) => Effect.succeed(celsius * 9 / 5 + 32)
})

// 3. The loop, as a Stream of agent events.
export const program = AgentLoop.run("What is the weather in Paris, in Fahrenheit?", {
  toolkit: WeatherTools,
  maxTurns: 8,
  settings: { model: "gpt-5.6", store: false, instructions: "Use the tools; answer in one sentence." }
}).pipe(
  Stream.runForEach((event) => {
    switch (event._tag) {
      case "TextDelta":
        return Console.log(event.delta)
      case "ToolStarted":
        return Console.log(`→ ${event.name}(${event.arguments})`)
      case "ToolFinished":
        return Console.log(`← ${event.name}: ${event.output}`)
      case "TurnCompleted":
        return Console.log(`turn ${event.turn}: ${event.usage?.total_tokens ?? 0} tokens`)
      case "FinalAnswer":
        return Console.log(`answer: ${event.text}`)
      default:
        return Effect.void
    }
  })
)

// 4. The client: OpenAI's endpoint, key from OPENAI_API_KEY, over the `ws` transport.
export const ClientLive = Layer.unwrapEffect(
  Effect.map(Config.redacted("OPENAI_API_KEY"), (apiKey) => ResponsesClient.layer(ClientConfig.openai({ apiKey })))
).pipe(Layer.provide(WebSocket.layer()))

export const main = program.pipe(Effect.provide(Layer.merge(ClientLive, WeatherToolsLive)))
// NodeRuntime.runMain(main)
