/**
 * A consumer of the published packages (test/consumer/run.sh copies it into a fresh project that installed the
 * tarballs): it must type-check under strict settings with `skipLibCheck: false`, using only public entry points.
 */
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as Protocol from "@loopwire/protocol"
import * as Codec from "@loopwire/protocol/Codec"
import * as Transport from "@loopwire/transport"
import * as WebSocket from "@loopwire/transport/WebSocket"
import * as Client from "@loopwire/client"
import * as AgentLoop from "@loopwire/client/AgentLoop"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ResponsesClient from "@loopwire/client/ResponsesClient"
import * as Server from "@loopwire/server"
import * as Gateway from "@loopwire/server/Gateway"
import * as Testkit from "@loopwire/testkit"
import * as Cli from "@loopwire/cli"
import { Console, Effect, Layer, Schema, Stream } from "effect"

// `./internal/*` is not part of any package's API.
// @ts-expect-error internal modules are not exported
import type * as _Internal from "@loopwire/protocol/internal/issue"

export const modules = [Protocol, Codec, Transport, Client, Server, Testkit, Cli] as const

const Add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: { a: Schema.Number, b: Schema.Number },
  success: Schema.Number
})
const Tools = Toolkit.make(Add)
const ToolsLive = Tools.toLayer({ add: ({ a, b }) => Effect.succeed(a + b) })

/** A gateway on a free port, and an agent talking to it over WebSocket mode. */
export const program = Effect.gen(function*() {
  const url = yield* Gateway.baseUrl
  const answer = yield* AgentLoop.run("What is 2 + 3?", { toolkit: Tools, maxTurns: 4, settings: { model: "m" } }).pipe(
    Stream.runForEach((event) => (event._tag === "FinalAnswer" ? Console.log(event.text) : Effect.void)),
    Effect.provide(
      Layer.merge(
        ResponsesClient.layer(ClientConfig.make({ baseUrl: `${url}/v1`, apiKey: "sk-test" })).pipe(
          Layer.provide(WebSocket.layer())
        ),
        ToolsLive
      )
    )
  )
  return answer
}).pipe(Effect.provide(Gateway.layerLocal({ config: { port: 0 } })))

export const encoded: string = Codec.encodeClientEvent({ type: "response.create", model: "m", input: "hi" })

// The examples of the per-package READMEs (packages/*/README.md), so that they type-check too.

/** @loopwire/protocol */
export const decoded = Codec.decodeServerEvent(`{"type":"response.created","sequence_number":0,"response":{}}`)

/** @loopwire/transport */
export const firstFrame = Effect.gen(function*() {
  const transport = yield* Transport.Transport.Transport
  const connection = yield* transport.open("ws://127.0.0.1:8080/v1/responses", {
    headers: { authorization: "Bearer sk-test" }
  })
  yield* connection.send(JSON.stringify({ type: "response.create", model: "m", input: "Hello" }))
  return yield* Stream.runHead(connection.frames)
}).pipe(Effect.scoped, Effect.provide(WebSocket.layer()))

/** @loopwire/testkit */
export const conformance = Effect.gen(function*() {
  const url = yield* Gateway.baseUrl
  const report = yield* Testkit.Conformance.run({ url: `${url.replace("http", "ws")}/v1/responses` })
  return Testkit.Conformance.formatReport(report)
}).pipe(
  Effect.provide(
    Gateway.layerLocal({
      config: { port: 0 },
      scenario: Testkit.Scenarios.repeatedToolCalls({ n: 3, name: "lookup", arguments: (i) => ({ i }), answer: "Done." })
    })
  )
)
