/**
 * Sparse streams over real sockets (protocol.md §9): a WebSocket-mode server may send deltas without
 * `output_item.added` / `content_part.added`, items only as `output_item.done`, and a `response.completed` whose
 * `output` is empty. The turn's items (function calls included) must still reach the history and the agent loop,
 * and a stream that cannot be rebuilt must fail the turn, never lose its output silently.
 */
import * as WebSocket from "@loopwire/transport/WebSocket"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Ref, Schema, type Scope, Stream } from "effect"
import * as AgentLoop from "../src/AgentLoop.js"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as Session from "../src/Session.js"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { makeServer, type ModelOptions } from "./helpers/openaiLike.js"
import { wsServer } from "./helpers/servers.js"

const Step = Tool.make("step", {
  parameters: { n: Schema.Number, tag: Schema.String },
  success: Schema.Struct({ n: Schema.Number })
})
const kit = Toolkit.make(Step)
const settings = { model: "m", store: false }

const withServer = <A, E>(
  model: ModelOptions,
  body: (runs: Ref.Ref<number>) => Effect.Effect<A, E, ConnectionPool.ConnectionPool | Tool.HandlersFor<typeof kit.tools> | Scope.Scope>
) =>
  Effect.gen(function*() {
    const server = makeServer(model)
    const { url } = yield* wsServer(server)
    const runs = yield* Ref.make(0)
    const handlers = kit.toLayer({ step: ({ n }) => Ref.update(runs, (x) => x + 1).pipe(Effect.as({ n })) })
    return yield* body(runs).pipe(
      Effect.provide(Layer.mergeAll(
        ConnectionPool.layer(ClientConfig.make({ url, apiKey: "sk-live" })).pipe(Layer.provide(WebSocket.layer())),
        handlers
      ))
    )
  })

const user = (text: string) => ({ type: "message" as const, role: "user" as const, content: [{ type: "input_text" as const, text }] })

describe("sparse streams", () => {
  for (const sparse of ["no-setup", "done-only"] as const) {
    it.scopedLive(`${sparse}: Session fills the empty terminal output and keeps the items in its history`, () =>
      withServer({ toolCalls: 1, sparse }, () =>
        Effect.gen(function*() {
          const session = yield* Session.make({ settings })
          const first = yield* session.turn([user("sparse")])
          assert.strictEqual(first.output.length, 1)
          const call = first.output[0] as { type: string; name: string; call_id: string; arguments: string }
          assert.strictEqual(call.type, "function_call")
          assert.strictEqual(call.name, "step")
          assert.strictEqual(call.call_id, "call_0")
          const history = yield* session.history
          assert.deepStrictEqual(history.map((i: any) => i.type), ["message", "function_call"])
          const second = yield* session.turn([{ type: "function_call_output", call_id: "call_0", output: "{\"n\":0}" }])
          assert.strictEqual((second.output[0] as any).content[0].text, "done after 1 tool calls for sparse")
        })
      ))

    it.scopedLive(`${sparse}: AgentLoop runs the tool calls of sparse turns to the final answer`, () =>
      withServer({ toolCalls: 3, sparse }, (runs) =>
        Effect.gen(function*() {
          const events = Chunk.toArray(
            yield* AgentLoop.run("task", { toolkit: kit, settings }).pipe(Stream.runCollect)
          )
          const final = events.at(-1) as any
          assert.strictEqual(final._tag, "FinalAnswer")
          assert.strictEqual(final.text, "done after 3 tool calls for task")
          assert.strictEqual(yield* Ref.get(runs), 3)
        })
      ))
  }

  it.scopedLive("deltas only, nothing finalized, empty terminal output: the turn fails, nothing is lost silently", () =>
    withServer({ toolCalls: 1, sparse: "deltas-only" }, () =>
      Effect.gen(function*() {
        const session = yield* Session.make({ settings })
        const error = yield* Effect.flip(session.turn([user("lost")]))
        assert.strictEqual(error.reason, "Protocol")
        assert.include(error.message, "call_id")
        assert.deepStrictEqual((yield* session.history).map((i: any) => i.type), ["message"])
      })
    ))
})
