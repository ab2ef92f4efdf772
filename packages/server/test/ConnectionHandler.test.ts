import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as StateCache from "../src/StateCache.js"
import { connect, finalResponse, type Json, makeBackend, services, user } from "./fixtures.js"

const create = (fields: Json = {}): Json => ({ type: "response.create", model: "test-model", ...fields })

const types = (events: ReadonlyArray<Json>) => events.map((e) => e.type)

describe("ConnectionHandler", () => {
  it.scoped("streams a numbered response on the default lane without stream_id", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("hi")] }))
      const events = yield* client.untilDone()
      assert.deepStrictEqual(types(events), [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.completed"
      ])
      assert.deepStrictEqual(events.map((e) => e.sequence_number), [0, 1, 2, 3, 4])
      assert.isTrue(events.every((e) => !("stream_id" in e)))
      const response = finalResponse(events)
      assert.match(response.id, /^resp_[0-9a-f]{32}$/)
      assert.strictEqual(response.model, "test-model")
      assert.strictEqual(response.output[0].content[0].text, "turn 0")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("continues a chain by reference: context = parent context + parent output + new items", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("call:lookup")], store: false }))
      const first = finalResponse(yield* client.untilDone())
      const call = first.output[0]
      assert.strictEqual(call.type, "function_call")
      const output = { type: "function_call_output", call_id: call.call_id, output: "42" }
      yield* client.send(create({ previous_response_id: first.id, input: [output], store: false }))
      const second = finalResponse(yield* client.untilDone())
      assert.strictEqual(second.previous_response_id, first.id)
      assert.strictEqual(second.output[0].content[0].text, "turn 1")
      const [turn0, turn1] = backend.turns
      assert.strictEqual(turn1!.turn, 1)
      assert.deepStrictEqual(turn1!.newInput, [output])
      assert.strictEqual(turn1!.input.length, 3)
      // The parent's context and output items are the very same objects: nothing was copied or re-parsed.
      assert.strictEqual(turn1!.input[0], turn0!.input[0])
      assert.deepStrictEqual(turn1!.input[1], call)
      assert.strictEqual(turn1!.input[2], turn1!.newInput[0])
      // The context is a segment on top of the parent's: the history is shared, not copied.
      assert.strictEqual(turn1!.context!.parent, turn0!.context)
      assert.strictEqual(turn1!.context!.items.length, 2)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("replayed model output in a delta counts as in a full resend of the same context (turn index)", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("a")], store: false }))
      const first = finalResponse(yield* client.untilDone())
      const earlier = { type: "message", role: "assistant", content: [{ type: "output_text", text: "earlier" }] }
      // Delta: parent output, then [user, replayed assistant message, user]: two model responses before this turn.
      yield* client.send(create({ previous_response_id: first.id, input: [user("b"), earlier, user("c")], store: false }))
      finalResponse(yield* client.untilDone())
      // The same context in full.
      yield* client.send(create({ input: [user("a"), ...first.output, user("b"), earlier, user("c")], store: false }))
      const third = finalResponse(yield* client.untilDone())
      // A replayed run adjoining the parent's output belongs to the parent's response (one run in a full resend).
      yield* client.send(create({ previous_response_id: third.id, input: [earlier, user("d")], store: false }))
      finalResponse(yield* client.untilDone())
      assert.deepStrictEqual(backend.turns.map((t) => t.turn), [0, 2, 2, 3])
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a 200-turn chain: each turn's new context segment is O(new input), whatever the turn index", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("start")] }))
      let previous = finalResponse(yield* client.untilDone())
      for (let i = 1; i < 200; i++) {
        yield* client.send(create({ previous_response_id: previous.id, input: [user(`turn ${i}`)] }))
        previous = finalResponse(yield* client.untilDone())
      }
      assert.strictEqual(backend.turns.length, 200)
      let held = 0
      for (let i = 1; i < 200; i++) {
        const context = backend.turns[i]!.context!
        // One new segment per turn: the parent's output (one message) + one new item.
        assert.strictEqual(context.parent, backend.turns[i - 1]!.context)
        assert.strictEqual(context.items.length, 2)
        assert.strictEqual(context.length, 1 + 2 * i)
        held += context.items.length
      }
      // Every context of the chain together holds O(N) items (1 + 2 per turn), not O(N^2).
      assert.strictEqual(1 + held, backend.turns[199]!.context!.length)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("prewarm (generate: false) is a chainable empty response without a model call", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("system setup")], generate: false, store: false }))
      const warm = yield* client.untilDone()
      assert.deepStrictEqual(types(warm), ["response.created", "response.in_progress", "response.completed"])
      const prewarm = finalResponse(warm)
      assert.strictEqual(prewarm.status, "completed")
      assert.deepStrictEqual(prewarm.output, [])
      assert.strictEqual(prewarm.usage.output_tokens, 0)
      assert.isAbove(prewarm.usage.input_tokens, 0)
      assert.strictEqual(backend.turns.length, 0)
      // Codex continues from the prewarm with an empty delta.
      yield* client.send(create({ previous_response_id: prewarm.id, input: [], store: false }))
      const real = finalResponse(yield* client.untilDone())
      assert.strictEqual(real.status, "completed")
      assert.strictEqual(backend.turns.length, 1)
      assert.strictEqual(backend.turns[0]!.turn, 0)
      assert.strictEqual(backend.turns[0]!.input.length, 1)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("previous_response_not_found exactly as documented, with the lane echoed", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ previous_response_id: "resp_missing", input: [], store: false }))
      const [error] = yield* client.untilDone()
      assert.deepStrictEqual(error, {
        type: "error",
        status: 400,
        error: {
          type: "invalid_request_error",
          code: "previous_response_not_found",
          message: "Previous response with id 'resp_missing' not found.",
          param: "previous_response_id"
        }
      })
      yield* client.send(create({ previous_response_id: "resp_missing", input: [], store: false, stream_id: "lane-1" }))
      const [laneError] = yield* client.untilDone("lane-1")
      assert.strictEqual(laneError!.stream_id, "lane-1")
      assert.strictEqual(laneError!.error.code, "previous_response_not_found")
      assert.strictEqual(backend.turns.length, 0)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("store: true hydrates on another connection of the same tenant; other tenants get not found", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const first = yield* connect("tenant-a")
      yield* first.send(create({ input: [user("hello")] }))
      const parent = finalResponse(yield* first.untilDone())

      const same = yield* connect("tenant-a")
      yield* same.send(create({ previous_response_id: parent.id, input: [user("again")] }))
      const child = finalResponse(yield* same.untilDone())
      assert.strictEqual(child.status, "completed")
      assert.strictEqual(backend.turns[1]!.input.length, 3)
      assert.strictEqual(backend.turns[1]!.turn, 1)

      const other = yield* connect("tenant-b")
      yield* other.send(create({ previous_response_id: parent.id, input: [user("steal")] }))
      const [error] = yield* other.untilDone()
      assert.strictEqual(error!.error.code, "previous_response_not_found")

      // store: false never hydrates, even for the owner.
      const noStore = yield* connect("tenant-a")
      yield* noStore.send(create({ previous_response_id: parent.id, input: [user("x")], store: false }))
      const [missing] = yield* noStore.untilDone()
      assert.strictEqual(missing!.error.code, "previous_response_not_found")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a failed same-lane continuation evicts its parent; a failed cross-lane fork does not", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("call:f")], store: false, stream_id: "a" }))
      const parentA = finalResponse(yield* client.untilDone("a"))

      // Cross-lane fork with an unknown call_id fails: the parent stays warm for lane a.
      yield* client.send(create({
        previous_response_id: parentA.id,
        input: [{ type: "function_call_output", call_id: "call_nope", output: "x" }],
        store: false,
        stream_id: "b"
      }))
      const [forkError] = yield* client.untilDone("b")
      assert.strictEqual(forkError!.type, "error")
      assert.strictEqual(forkError!.status, 400)
      assert.strictEqual(forkError!.error.param, "input")
      assert.strictEqual(forkError!.stream_id, "b")

      // Same-lane continuation that fails evicts the parent.
      yield* client.send(create({
        previous_response_id: parentA.id,
        input: [{ type: "function_call_output", call_id: "call_nope", output: "x" }],
        store: false,
        stream_id: "a"
      }))
      const [sameError] = yield* client.untilDone("a")
      assert.strictEqual(sameError!.status, 400)

      const good = { type: "function_call_output", call_id: parentA.output[0].call_id, output: "ok" }
      yield* client.send(create({ previous_response_id: parentA.id, input: [good], store: false, stream_id: "a" }))
      const [gone] = yield* client.untilDone("a")
      assert.strictEqual(gone!.error.code, "previous_response_not_found")
      assert.strictEqual(gone!.stream_id, "a")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a same-lane continuation that ends in response.failed evicts its parent too", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("root")], store: false }))
      const root = finalResponse(yield* client.untilDone())
      yield* client.send(create({ previous_response_id: root.id, input: [user("fail")], store: false }))
      assert.strictEqual(finalResponse(yield* client.untilDone()).status, "failed")
      yield* client.send(create({ previous_response_id: root.id, input: [user("retry")], store: false }))
      const [error] = yield* client.untilDone()
      assert.strictEqual(error!.error.code, "previous_response_not_found")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a successful cross-lane fork leaves the source lane's parent in place", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("root")], store: false, stream_id: "a" }))
      const root = finalResponse(yield* client.untilDone("a"))
      yield* client.send(create({ previous_response_id: root.id, input: [user("fork")], store: false, stream_id: "b" }))
      const fork = finalResponse(yield* client.untilDone("b"))
      assert.strictEqual(fork.status, "completed")
      yield* client.send(create({ previous_response_id: root.id, input: [user("main")], store: false, stream_id: "a" }))
      const main = finalResponse(yield* client.untilDone("a"))
      assert.strictEqual(main.status, "completed")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("FIFO per lane: a second create on a busy lane waits for the first's terminal event", () => {
    const backend = makeBackend({ gated: true })
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("one")], stream_id: "x" }))
      yield* client.send(create({ input: [user("two")], stream_id: "x" }))
      const firstHead = [yield* client.next, yield* client.next]
      assert.deepStrictEqual(types(firstHead), ["response.created", "response.in_progress"])
      yield* Effect.yieldNow({ priority: 1000 })
      // Nothing of the second response yet: the lane is busy.
      assert.strictEqual(yield* client.pending, 0)
      assert.strictEqual(backend.turns.length, 1)
      yield* backend.release(2)
      const rest = yield* client.untilDone("x")
      assert.strictEqual(rest[rest.length - 1]!.type, "response.completed")
      const second = yield* client.untilDone("x")
      assert.strictEqual(second[0]!.type, "response.created")
      assert.notStrictEqual(second[0]!.response.id, firstHead[0]!.response.id)
      assert.strictEqual(second[0]!.sequence_number, 0)
      assert.isTrue(second.every((e) => e.stream_id === "x"))
      assert.strictEqual(backend.maxRunning, 1)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("at most maxInFlight responses run across lanes; the rest queue and start as slots free", () => {
    const backend = makeBackend({ gated: true })
    return Effect.gen(function*() {
      const client = yield* connect()
      for (const lane of ["l1", "l2", "l3"]) yield* client.send(create({ input: [user(lane)], stream_id: lane }))
      // Two responses start (created + in_progress each); the third waits.
      const started = [yield* client.next, yield* client.next, yield* client.next, yield* client.next]
      yield* Effect.yieldNow({ priority: 1000 })
      assert.strictEqual(yield* client.pending, 0)
      assert.deepStrictEqual(new Set(started.map((e) => e.stream_id)), new Set(["l1", "l2"]))
      assert.strictEqual(backend.running, 2)
      yield* backend.release(3)
      const done = yield* Effect.all([client.untilDone("l1"), client.untilDone("l2"), client.untilDone("l3")])
      assert.isTrue(done.every((events) => events[events.length - 1]!.type === "response.completed"))
      assert.strictEqual(backend.maxRunning, 2)
    }).pipe(Effect.provide(services(backend, { maxInFlight: 2 })))
  })

  it.scoped("named lanes are limited per connection (websocket_stream_limit_reached); reuse is fine", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      for (const lane of ["a", "b"]) {
        yield* client.send(create({ input: [user(lane)], stream_id: lane }))
        yield* client.untilDone(lane)
      }
      yield* client.send(create({ input: [user("c")], stream_id: "c" }))
      const [error] = yield* client.untilDone("c")
      assert.deepStrictEqual(error, {
        type: "error",
        status: 400,
        error: {
          type: "invalid_request_error",
          code: "websocket_stream_limit_reached",
          message:
            "This WebSocket connection has reached its maximum number of distinct stream IDs (2). Reuse an existing stream_id or open a new WebSocket connection.",
          param: "stream_id"
        },
        stream_id: "c"
      })
      yield* client.send(create({ input: [user("again")], stream_id: "a" }))
      assert.strictEqual(finalResponse(yield* client.untilDone("a")).status, "completed")
      // The default lane is not counted.
      yield* client.send(create({ input: [user("default")] }))
      assert.strictEqual(finalResponse(yield* client.untilDone()).status, "completed")
    }).pipe(Effect.provide(services(backend, { maxLanes: 2 })))
  })

  it.scoped("invalid_stream_id for empty, too long or badly named lanes", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      for (const streamId of ["", "has space", "x".repeat(257), "émoji"]) {
        yield* client.send(create({ input: [user("x")], stream_id: streamId }))
        const [error] = yield* client.untilDone()
        assert.strictEqual(error!.type, "error")
        assert.strictEqual(error!.error.code, "invalid_stream_id")
        assert.strictEqual(error!.error.param, "stream_id")
        assert.isFalse("stream_id" in error!)
      }
      assert.strictEqual(backend.turns.length, 0)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("bad frames get 400 error frames and the connection stays usable", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      const bad = ["not json", "[1,2]", "42", "{}", "{\"type\":\"response.cancel\"}", "{\"type\":\"response.create\",\"input\":7}"]
      for (const text of bad) {
        yield* client.sendText(text)
        const [error] = yield* client.untilDone()
        assert.strictEqual(error!.type, "error", text)
        assert.strictEqual(error!.status, 400, text)
        assert.strictEqual(error!.error.type, "invalid_request_error", text)
        assert.isString(error!.error.message)
      }
      // Codex's fire-and-forget acknowledgement is accepted silently.
      yield* client.send({ type: "response.processed", response_id: "resp_x" })
      yield* client.send(create({ input: [user("still here")] }))
      const events = yield* client.untilDone()
      assert.strictEqual(events[0]!.type, "response.created")
      assert.strictEqual(finalResponse(events).status, "completed")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("tolerates stream: true, client_metadata and unknown fields; rejects background: true", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({
        input: "plain string input",
        stream: true,
        client_metadata: { "x-codex-window-id": "w1" },
        some_future_field: { nested: true }
      }))
      const ok = finalResponse(yield* client.untilDone())
      assert.strictEqual(ok.status, "completed")
      assert.strictEqual(backend.turns[0]!.newInput.length, 1)
      yield* client.send(create({ input: [user("bg")], background: true }))
      const [error] = yield* client.untilDone()
      assert.strictEqual(error!.status, 400)
      assert.strictEqual(error!.error.param, "background")
      assert.strictEqual(backend.turns.length, 1)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a tool output for an unknown call_id is a 400 error frame", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [{ type: "function_call_output", call_id: "call_ghost", output: "1" }] }))
      const [error] = yield* client.untilDone()
      assert.strictEqual(error!.status, 400)
      assert.strictEqual(error!.error.message, "No tool call found for function call output with call_id call_ghost.")
      // A full resend carrying the call itself is fine.
      yield* client.send(create({
        input: [
          user("call:f"),
          { type: "function_call", call_id: "call_1", name: "f", arguments: "{}" },
          { type: "function_call_output", call_id: "call_1", output: "1" }
        ]
      }))
      const response = finalResponse(yield* client.untilDone())
      assert.strictEqual(response.status, "completed")
      // One model response already in the resent history.
      assert.strictEqual(backend.turns[0]!.turn, 1)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("response.steer is answered with steering_not_supported when the backend cannot steer", () => {
    const backend = makeBackend({ gated: true })
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("long")], stream_id: "s" }))
      const created = yield* client.next
      yield* client.next
      yield* client.send({ type: "response.steer", previous_response_id: created.response.id, input: "go left" })
      const failed = yield* client.next
      assert.strictEqual(failed.type, "response.steer.failed")
      assert.strictEqual(failed.error.code, "steering_not_supported")
      assert.strictEqual(failed.steer.previous_response_id, created.response.id)
      assert.strictEqual(failed.steer.input, "go left")
      assert.strictEqual(failed.stream_id, "s")
      assert.strictEqual(failed.sequence_number, 2)
      yield* backend.release()
      const rest = yield* client.untilDone("s")
      assert.deepStrictEqual(rest.map((e) => e.sequence_number), [3, 4, 5])
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a backend failure ends the response with response.failed; the connection keeps working", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("fail")] }))
      const events = yield* client.untilDone()
      assert.deepStrictEqual(types(events), ["response.created", "response.in_progress", "response.failed"])
      assert.strictEqual(finalResponse(events).status, "failed")
      assert.strictEqual(finalResponse(events).error.code, "server_error")
      yield* client.send(create({ input: [user("ok")] }))
      assert.strictEqual(finalResponse(yield* client.untilDone()).status, "completed")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a backend failure before any event is an error frame with the backend's status and code", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("fail early")], stream_id: "l" }))
      const [error] = yield* client.untilDone("l")
      assert.deepStrictEqual(error, {
        type: "error",
        status: 404,
        error: {
          type: "invalid_request_error",
          code: "model_not_found",
          message: "The model 'nope' does not exist.",
          param: "model"
        },
        stream_id: "l"
      })
      yield* client.send(create({ input: [user("ok")], stream_id: "l" }))
      assert.strictEqual(finalResponse(yield* client.untilDone("l")).status, "completed")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("the age limit sends websocket_connection_limit_reached, then closes with 1001", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("hi")] }))
      yield* client.untilDone()
      const closed = yield* Effect.fork(client.closed)
      yield* TestClock.adjust("59 minutes")
      assert.strictEqual(yield* client.pending, 0)
      yield* TestClock.adjust("1 minute")
      const error = yield* client.next
      assert.deepStrictEqual(error, {
        type: "error",
        status: 400,
        error: {
          type: "invalid_request_error",
          code: "websocket_connection_limit_reached",
          message:
            "Responses websocket connection limit reached (60 minutes). Create a new websocket connection to continue.",
          param: null
        }
      })
      const info = yield* Fiber.join(closed)
      assert.strictEqual(info.code, 1001)
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("connections are isolated: one connection's chain is invisible to another", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const a = yield* connect("tenant-a")
      const b = yield* connect("tenant-a")
      yield* a.send(create({ input: [user("a1")], store: false }))
      const fromA = finalResponse(yield* a.untilDone())
      yield* b.sendText("garbage")
      yield* b.untilDone()
      yield* b.send(create({ previous_response_id: fromA.id, input: [user("b")], store: false }))
      const [error] = yield* b.untilDone()
      assert.strictEqual(error!.error.code, "previous_response_not_found")
      yield* a.send(create({ previous_response_id: fromA.id, input: [user("a2")], store: false }))
      assert.strictEqual(finalResponse(yield* a.untilDone()).status, "completed")
    }).pipe(Effect.provide(services(backend)))
  })

  it.scoped("a closed connection interrupts its running responses and drops its warm state", () => {
    const backend = makeBackend({ gated: true })
    return Effect.gen(function*() {
      const client = yield* connect()
      yield* client.send(create({ input: [user("warm")], store: false }))
      yield* client.next
      yield* client.next
      yield* backend.release()
      yield* client.untilDone()
      const cache = yield* StateCache.StateCache
      assert.strictEqual((yield* cache.stats).entries, 1)
      yield* client.send(create({ input: [user("left running")], store: false, stream_id: "x" }))
      yield* client.next
      assert.strictEqual(backend.running, 1)
      yield* client.close
      yield* client.handled
      assert.strictEqual(backend.running, 0)
      assert.strictEqual((yield* cache.stats).entries, 0)
    }).pipe(Effect.provide(services(backend)))
  })
})
