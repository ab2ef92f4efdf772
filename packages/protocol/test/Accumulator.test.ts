import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc } from "effect"
import * as Accumulator from "../src/Accumulator.js"
import * as Codec from "../src/Codec.js"
import * as Events from "../src/Events.js"
import * as Response from "../src/Response.js"
import type * as ServerEvent from "../src/ServerEvent.js"

// Responses as they end: a terminal status.
const finalResponse: fc.Arbitrary<Response.Response> = fc.tuple(
  Arbitrary.make(Response.Response),
  fc.constantFrom("completed" as const, "incomplete" as const, "failed" as const)
).map(([r, status]) => ({ ...r, status }))
const chunkSize = fc.integer({ min: 1, max: 7 })

const cut = (response: Response.Response, size: number) =>
  Events.sequence(Events.fromResponse(response, { chunkSize: size }), 1)

const foldOk = (events: ReadonlyArray<ServerEvent.ServerEvent>) => {
  const result = Accumulator.fold(events)
  if (Either.isLeft(result)) assert.fail(result.left.message)
  return result.right
}

describe("Accumulator", () => {
  it.prop("folding the events cut from a response gives that response", [finalResponse, chunkSize], ([r, n]) => {
    assert.deepStrictEqual(foldOk(cut(r, n)), r)
  }, { fastCheck: { numRuns: 60 } })

  it.prop("the output rebuilt from the deltas equals the response's output", [finalResponse, chunkSize], ([r, n]) => {
    const events = cut(r, n)
    let acc = Accumulator.empty
    for (const event of events.slice(0, -1)) acc = Either.getOrThrow(Accumulator.step(acc, event))
    assert.deepStrictEqual(Accumulator.snapshot(acc)?.output, r.output)
  }, { fastCheck: { numRuns: 60 } })

  it.prop(
    "the folder (in-place deltas) steps exactly as step, any subsequence of the events, and never changes an event",
    [finalResponse, chunkSize, fc.array(fc.boolean(), { minLength: 200, maxLength: 200 })],
    ([r, n, keep]) => {
      // Dropping events gives sparse streams and errors alike (deltas onto missing items, done events that disagree).
      const events = cut(r, n).filter((_, i) => keep[i % keep.length] || i % 3 === 0)
      const before = structuredClone(events)
      const folder = Accumulator.folder()
      let acc = Accumulator.empty
      for (const event of events) {
        const next = Accumulator.step(acc, event)
        const error = folder.step(event)
        if (Either.isLeft(next)) assert.deepStrictEqual(error, next.left)
        else {
          assert.strictEqual(error, undefined)
          acc = next.right
        }
        assert.deepStrictEqual(folder.current(), acc)
      }
      assert.deepStrictEqual(events, before)
    },
    { fastCheck: { numRuns: 200 }, timeout: 60000 }
  )

  it.prop("the cut events are valid wire frames", [finalResponse], ([r]) => {
    for (const event of cut(r, 3)) {
      assert.deepStrictEqual(Either.getOrThrow(Codec.decodeServerEvent(Codec.encodeServerEvent(event))), event)
    }
  }, { fastCheck: { numRuns: 30 } })

  it.prop("a sequence number that does not increase is rejected", [finalResponse, fc.nat()], ([r, k]) => {
    const events = cut(r, 4)
    const i = 1 + (k % (events.length - 1))
    const broken = events.map((e, j): ServerEvent.ServerEvent =>
      j === i ? { ...e, sequence_number: events[i - 1].sequence_number! } : e
    )
    const result = Accumulator.fold(broken)
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) assert.strictEqual(result.left.reason, "SequenceNotIncreasing")
  }, { fastCheck: { numRuns: 30 } })

  const textResponse: Response.Response = {
    id: "resp_1",
    object: "response",
    created_at: 1,
    status: "completed",
    model: "m",
    output: [
      {
        type: "function_call",
        id: "fc_1",
        call_id: "call_1",
        name: "get_weather",
        arguments: "{\"city\":\"Paris\"}",
        status: "completed"
      },
      {
        type: "message",
        id: "msg_1",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: "Hello there, world", annotations: [] }]
      }
    ]
  }

  it("joins text deltas and function call arguments", () => {
    const events = cut(textResponse, 5)
    const deltas = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta)
    assert.deepStrictEqual(deltas, ["Hello", " ther", "e, wo", "rld"])
    assert.deepStrictEqual(foldOk(events), textResponse)
  })

  it("orders output by output_index even when items finish out of order", () => {
    const [created, inProgress, ...rest] = cut(textResponse, 100)
    const terminal = rest.pop()!
    const first = rest.filter((e) => e.output_index === 0)
    const second = rest.filter((e) => e.output_index === 1)
    // Interleave: the message (index 1) starts before the call (index 0).
    const events = Events.sequence([created, inProgress, ...second, ...first, { ...terminal, response: { ...textResponse, output: [] } }], 1)
    assert.deepStrictEqual(foldOk(events).output, textResponse.output)
  })

  it("rejects a done event that disagrees with its deltas", () => {
    const events = cut(textResponse, 4).map((e) =>
      e.type === "response.output_text.done" ? { ...e, text: "something else" } : e
    )
    const result = Accumulator.fold(events)
    assert.isTrue(Either.isLeft(result) && result.left.reason === "Inconsistent")
  })

  it.prop(
    "sparse streams (no output_item.added, no *.part.added, an empty terminal output) fold to the same output",
    [finalResponse, chunkSize, fc.boolean()],
    ([r, n, keepDeltas]) => {
      const setup = new Set(["response.output_item.added", "response.content_part.added", "response.reasoning_summary_part.added"])
      const events = Events.fromResponse(r, { chunkSize: n })
      const sparse = events
        .filter((e) => !setup.has(e.type))
        // Without deltas, the done events alone must still carry the output.
        .filter((e) => keepDeltas || !e.type.endsWith(".delta"))
        .map((e) => (e.type === events.at(-1)!.type && "response" in e ? { ...e, response: { ...r, output: [] } } : e))
      assert.deepStrictEqual(foldOk(Events.sequence(sparse, 1)).output, r.output)
    },
    { fastCheck: { numRuns: 60 } }
  )

  it("deltas without any setup or done event rebuild a message; the empty terminal output is filled", () => {
    const skeleton = Events.skeleton(textResponse)
    const result = foldOk(Events.sequence([
      { type: "response.created", response: skeleton },
      { type: "response.output_text.delta", item_id: "msg_1", output_index: 0, content_index: 0, delta: "Hel" },
      { type: "response.output_text.delta", item_id: "msg_1", output_index: 0, content_index: 0, delta: "lo" },
      { type: "response.completed", response: { ...textResponse, output: [] } }
    ], 1))
    assert.strictEqual(result.output.length, 1)
    const message = result.output[0] as { id: string; type: string; role: string; content: ReadonlyArray<{ type: string; text: string }> }
    assert.strictEqual(message.id, "msg_1")
    assert.strictEqual(message.role, "assistant")
    assert.deepStrictEqual(message.content.map((p) => [p.type, p.text]), [["output_text", "Hello"]])
  })

  it("a tool call seen only as argument deltas cannot fill an omitted output: Unfinalized, not dropped", () => {
    const result = Accumulator.fold(Events.sequence([
      { type: "response.created", response: Events.skeleton(textResponse) },
      { type: "response.function_call_arguments.delta", item_id: "fc_1", output_index: 0, delta: "{\"a\":1}" },
      { type: "response.completed", response: { ...textResponse, output: [] } }
    ], 1))
    assert.isTrue(Either.isLeft(result) && result.left.reason === "Unfinalized")
    if (Either.isLeft(result)) assert.include(result.left.message, "call_id")
  })

  it("a terminal response that carries its output is authoritative, whatever was streamed", () => {
    const result = foldOk(Events.sequence([
      { type: "response.created", response: Events.skeleton(textResponse) },
      { type: "response.function_call_arguments.delta", item_id: "fc_1", output_index: 0, delta: "{}" },
      { type: "response.completed", response: textResponse }
    ], 1))
    assert.deepStrictEqual(result, textResponse)
  })

  it("still rejects deltas that do not fit their item", () => {
    const result = Accumulator.fold([
      { type: "response.created", response: Events.skeleton(textResponse) },
      { type: "response.output_text.delta", item_id: "x", output_index: 0, content_index: 0, delta: "a" },
      { type: "response.function_call_arguments.delta", item_id: "x", output_index: 0, delta: "{" }
    ])
    assert.isTrue(Either.isLeft(result) && result.left.reason === "WrongTarget")
  })

  it("needs a terminal event, and nothing may follow it", () => {
    const events = cut(textResponse, 4)
    const open = Accumulator.fold(events.slice(0, -1))
    assert.isTrue(Either.isLeft(open) && open.left.reason === "NotTerminated")
    const after = Accumulator.fold([...events, { ...events[2], sequence_number: 999 }])
    assert.isTrue(Either.isLeft(after) && after.left.reason === "AfterTerminal")
  })

  it("reports an error event", () => {
    const result = Accumulator.fold([
      { type: "response.created", response: Events.skeleton(textResponse), sequence_number: 0 },
      { type: "error", code: "server_error", message: "boom", param: null, sequence_number: 1 }
    ])
    assert.isTrue(Either.isLeft(result) && result.left.reason === "ErrorEvent" && result.left.message.includes("boom"))
  })
})
