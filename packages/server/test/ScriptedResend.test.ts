import { assert, describe, it } from "@effect/vitest"
import * as WebSocket from "@loopwire/transport/WebSocket"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Gateway from "../src/Gateway.js"
import * as Scenario from "../src/Scenario.js"
import type { Json } from "./fixtures.js"

// A Codex-like rollout: turn 0 is a commentary message then a command, turn 1 the answer.
const scenario = Either.getOrThrow(Scenario.decodeUnknown({
  latency: { chars_per_delta: 4 },
  turns: [
    {
      output: [
        { type: "message", text: "I will list the files first.", phase: "commentary" },
        { type: "function_call", name: "exec_command", arguments: { cmd: "ls" } }
      ]
    },
    { output: [{ type: "message", text: "There are three files.", phase: "final_answer" }] }
  ]
}))

const user = { type: "message", role: "user", content: [{ type: "input_text", text: "What is here?" }] }

const open = (url: string) =>
  Effect.gen(function*() {
    const connection = yield* WebSocket.connect(url)
    const inbox = yield* Queue.unbounded<Json>()
    yield* connection.frames.pipe(
      Stream.runForEach((text) => Queue.offer(inbox, JSON.parse(text))),
      Effect.ignore,
      Effect.forkScoped
    )
    const until = (stop: (e: Json) => boolean) =>
      Effect.gen(function*() {
        const events: Array<Json> = []
        for (;;) {
          const e = yield* Queue.take(inbox)
          events.push(e)
          if (stop(e)) return events
        }
      })
    return { connection, until }
  })

const completed = (e: Json) => e.type === "response.completed" || e.type === "response.failed" || e.type === "error"

describe("the scripted backend after a client's full resend of a cut response", () => {
  it.live("a turn present only in part is generated again, and the chain goes on from it", () =>
    Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(Gateway.layerLocal({ config: { host: "127.0.0.1", port: 0 }, scenario }))
      const url = `${(yield* Effect.provide(Gateway.baseUrl, context)).replace(/^http/, "ws")}${Gateway.path}`

      // Connection 1 is cut right after the commentary message arrived, before the command.
      const first = yield* open(url)
      yield* first.connection.send(JSON.stringify({ type: "response.create", model: "m", store: false, input: [user] }))
      const seen = yield* first.until((e) => e.type === "response.output_item.done" && e.output_index === 0)
      const commentary = seen[seen.length - 1]!.item
      assert.strictEqual(commentary.type, "message")
      yield* first.connection.close(4000, "cut")

      // Codex resends the full context, including what it received of the interrupted turn.
      const second = yield* open(url)
      yield* second.connection.send(
        JSON.stringify({ type: "response.create", model: "m", store: false, input: [user, commentary] })
      )
      const redone = (yield* second.until(completed)).at(-1)!
      assert.strictEqual(redone.type, "response.completed")
      const call = redone.response.output.find((item: Json) => item.type === "function_call")
      assert.isDefined(call, `turn 0 is redone: ${JSON.stringify(redone.response.output)}`)
      assert.strictEqual(call.name, "exec_command")

      // The tool's output continues the chain: the answer is turn 1, not the fallback of a turn 2.
      yield* second.connection.send(JSON.stringify({
        type: "response.create",
        model: "m",
        store: false,
        previous_response_id: redone.response.id,
        input: [{ type: "function_call_output", call_id: call.call_id, output: "a b c" }]
      }))
      const answer = (yield* second.until(completed)).at(-1)!
      assert.strictEqual(answer.response.output[0].content[0].text, "There are three files.")
    })))
})
