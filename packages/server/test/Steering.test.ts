import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestClock from "effect/TestClock"
import * as Scenario from "../src/Scenario.js"
import * as ScriptedBackend from "../src/ScriptedBackend.js"
import { connect, type Json, services, user } from "./fixtures.js"

const scripted = (scenario: unknown) => ({
  layer: ScriptedBackend.layer({ scenario: Either.getOrThrow(Scenario.decodeUnknown(scenario)) })
})

const create = (fields: Json = {}): Json => ({ type: "response.create", model: "m", store: false, ...fields })

describe("steering with a steering backend", () => {
  it.scoped("accepted steer ends the response as steered and starts the successor with the steer input", () => {
    const backend = scripted({
      turns: [
        {
          output: [{ type: "message", text: "first part" }, { type: "message", text: "second part" }],
          latency: { time_to_first_token_ms: 1000 }
        },
        { output: [{ type: "message", text: "steered answer" }] }
      ]
    })
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("start")], stream_id: "s" }))
      const created = yield* client.next
      const r1 = created.response.id
      yield* client.next // in_progress
      yield* client.send({ type: "response.steer", previous_response_id: r1, input: "go left instead" })
      const accepted = yield* client.next
      assert.strictEqual(accepted.type, "response.steer.accepted")
      assert.match(accepted.steer.id, /^steer_/)
      assert.strictEqual(accepted.steer.previous_response_id, r1)
      assert.strictEqual(accepted.stream_id, "s")
      assert.strictEqual(accepted.sequence_number, 2)
      yield* TestClock.adjust("1 second")
      const parentEvents = yield* client.untilDone("s")
      const parentEnd = parentEvents[parentEvents.length - 1]!
      assert.strictEqual(parentEnd.type, "response.incomplete")
      assert.strictEqual(parentEnd.response.incomplete_details.reason, "steered")
      const successor = yield* client.untilDone("s")
      assert.strictEqual(successor[0]!.type, "response.created")
      assert.strictEqual(successor[0]!.sequence_number, 0)
      assert.strictEqual(successor[0]!.response.previous_response_id, r1)
      const done = successor[successor.length - 1]!
      assert.strictEqual(done.type, "response.completed")
      assert.strictEqual(done.response.output[0].content[0].text, "steered answer")
      assert.strictEqual(done.response.model, "m")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a steer on a response that ends with a tool call waits for the tool output (steer.pending)", () => {
    const backend = scripted({
      latency: { chars_per_delta: 2, delta_delay_ms: 100 },
      turns: [
        { output: [{ type: "function_call", name: "search", arguments: "{\"q\":\"long query\"}" }] },
        { output: [{ type: "message", text: "done" }] }
      ]
    })
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("start")] }))
      const created = yield* client.next
      const r1 = created.response.id
      yield* client.next // in_progress
      yield* client.next // output_item.added: the call is under way
      yield* client.send({ type: "response.steer", previous_response_id: r1, input: "also check the docs" })
      const accepted = yield* client.next
      assert.strictEqual(accepted.type, "response.steer.accepted")
      yield* TestClock.adjust("10 seconds")
      const parent = yield* client.untilDone()
      const end = parent[parent.length - 1]!
      assert.strictEqual(end.type, "response.completed")
      const call = end.response.output[0]
      const pending = yield* client.next
      assert.strictEqual(pending.type, "response.steer.pending")
      assert.strictEqual(pending.steer.id, accepted.steer.id)
      assert.strictEqual(pending.reason, "waiting_for_required_input")
      assert.deepStrictEqual(pending.required_input, [
        { type: "function_call_output", call_id: call.call_id, name: "search" }
      ])
      assert.strictEqual(pending.sequence_number, end.sequence_number + 1)
      // The client answers the call; the gateway puts the steer input first.
      yield* client.send(create({
        previous_response_id: r1,
        input: [{ type: "function_call_output", call_id: call.call_id, output: "found" }]
      }))
      yield* TestClock.adjust("10 seconds")
      const next = yield* client.untilDone()
      assert.strictEqual(next[next.length - 1]!.type, "response.completed")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a held steer whose response is not continued on its lane fails with response_not_found", () => {
    const backend = scripted({
      latency: { chars_per_delta: 2, delta_delay_ms: 100 },
      turns: [{ output: [{ type: "function_call", name: "search", arguments: "{\"q\":\"x\"}" }] }]
    })
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("start")] }))
      const created = yield* client.next
      yield* client.next
      yield* client.next
      yield* client.send({ type: "response.steer", previous_response_id: created.response.id, input: "steer me" })
      const accepted = yield* client.next
      yield* TestClock.adjust("10 seconds")
      yield* client.untilDone()
      assert.strictEqual((yield* client.next).type, "response.steer.pending")
      // A new chain on the same lane instead of the tool output.
      yield* client.send(create({ input: [user("something else")] }))
      const failed = yield* client.next
      assert.strictEqual(failed.type, "response.steer.failed")
      assert.strictEqual(failed.steer.id, accepted.steer.id)
      assert.strictEqual(failed.error.code, "response_not_found")
      assert.strictEqual((yield* client.next).type, "response.created")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("steer errors: unknown target and too many pending steers", () => {
    const backend = scripted({ turns: [{ output: [{ type: "message", text: "x" }], latency: { time_to_first_token_ms: 1000 } }] })
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send({ type: "response.steer", previous_response_id: "resp_nothing", input: "hi" })
      const notFound = yield* client.next
      assert.strictEqual(notFound.type, "response.steer.failed")
      assert.strictEqual(notFound.error.code, "response_not_found")
      yield* client.send(create({ input: [user("start")] }))
      const created = yield* client.next
      yield* client.next
      for (let i = 0; i < 2; i++) {
        yield* client.send({ type: "response.steer", previous_response_id: created.response.id, input: `s${i}` })
        assert.strictEqual((yield* client.next).type, "response.steer.accepted")
      }
      yield* client.send({ type: "response.steer", previous_response_id: created.response.id, input: "one too many" })
      const tooMany = yield* client.next
      assert.strictEqual(tooMany.type, "response.steer.failed")
      assert.strictEqual(tooMany.error.code, "too_many_pending_steers")
      assert.strictEqual(tooMany.steer.input, "one too many")
    }).pipe(Effect.provide(services(backend, { maxPendingSteers: 2 })))
  })
})
