import { assert, describe, it } from "@effect/vitest"
import * as ResumeLog from "@loopwire/server/ResumeLog"
import { Chunk, Effect, FastCheck as fc, Stream } from "effect"
import * as Echo from "../src/internal/resumeEcho.js"
import * as Ring from "../src/internal/resumeRing.js"

// The three frames of a response that echo its settings, as the gateway encodes them.
const echoFrames = (instructions: unknown, tools: unknown, id = "resp_1", text = "ok") => {
  const response = (status: string, extra: Record<string, unknown>) => ({
    id,
    object: "response",
    created_at: 1,
    status,
    instructions,
    metadata: {},
    model: "m",
    ...extra,
    tools
  })
  return [
    JSON.stringify({ type: "response.created", response: response("in_progress", { output: [] }), sequence_number: 0 }),
    JSON.stringify({ type: "response.in_progress", response: response("in_progress", { output: [] }), sequence_number: 1 }),
    JSON.stringify({ type: "response.output_text.delta", item_id: "msg_1", delta: text, sequence_number: 2 }),
    JSON.stringify({
      type: "response.completed",
      response: response("completed", { output: [{ type: "message", content: [{ type: "output_text", text }] }] }),
      sequence_number: 3
    })
  ]
}

const bigInstructions = (seed: string) => `You are an agent ("${seed}") \\ with rules.\n`.repeat(400)
const bigTools = (seed: string) =>
  Array.from({ length: 30 }, (_, i) => ({
    type: "function",
    name: `tool_${seed}_${i}`,
    description: `Does "thing" ${i} \\ {not a brace} [nor a bracket]`,
    parameters: { type: "object", properties: { tools: { type: "array", items: { type: "string" } } } }
  }))

describe("resume echo (pure)", () => {
  it.prop(
    "expand(compact(frame)) is the frame, byte for byte, for any frame and any history of the dictionary",
    {
      frames: fc.array(
        fc.oneof(
          fc.string({ maxLength: 3000 }),
          fc.tuple(fc.string({ minLength: 0, maxLength: 700 }), fc.jsonValue({ maxDepth: 4 }), fc.string()).map((
            [instructions, tools, text]
          ) => echoFrames(instructions.repeat(4), tools, "r", text)[3]!),
          fc.tuple(fc.string(), fc.string()).map(([a, b]) =>
            `{"type":"response.x","instructions":${JSON.stringify(a.repeat(30))}"tools":[${b}`.padEnd(2100, "]")
          )
        ),
        { maxLength: 12 }
      )
    },
    ({ frames }) => {
      const dictionary = Echo.makeDictionary()
      for (const frame of [...frames, ...echoFrames(bigInstructions("p"), bigTools("p")), ...frames]) {
        assert.strictEqual(Echo.expand(Echo.compact(dictionary, frame)), frame)
      }
    },
    { fastCheck: { numRuns: 150 } }
  )

  it("a response's echoed instructions and tools are kept once, shared by its frames and by later responses", () => {
    const dictionary = Echo.makeDictionary()
    const instructions = bigInstructions("a")
    const tools = bigTools("a")
    const first = echoFrames(instructions, tools, "resp_1").map((f) => Echo.compact(dictionary, f))
    const second = echoFrames(instructions, tools, "resp_2", "other").map((f) => Echo.compact(dictionary, f))
    // Small frames are kept as they are.
    assert.strictEqual(typeof first[2], "string")
    const chunked = [first[0], first[1], first[3], second[0], second[3]].map((s) => s as ReadonlyArray<string>)
    for (const chunks of chunked) assert.isTrue(Array.isArray(chunks))
    const instructionsText = JSON.stringify(instructions)
    const toolsText = JSON.stringify(tools)
    for (const chunks of chunked) {
      assert.strictEqual(chunks.find((c) => c === instructionsText), chunked[0]!.find((c) => c === instructionsText))
      assert.strictEqual(chunks.filter((c) => c === toolsText).length, 1)
      // What is not shared is the small rest of the frame.
      const own = chunks.filter((c) => c !== instructionsText && c !== toolsText)
      assert.isBelow(own.reduce((n, c) => n + c.length, 0), 800)
    }
    // One value per key for both responses: every chunk above is that one string.
    assert.strictEqual(dictionary.recent.get("instructions")!.length, 1)
    assert.strictEqual(dictionary.recent.get("tools")!.length, 1)
  })

  it("another tool set is stored (and shared) apart; a value seen once is remembered among the last few", () => {
    const dictionary = Echo.makeDictionary()
    for (let i = 0; i < Echo.valuesPerKey + 2; i++) {
      for (const frame of echoFrames(bigInstructions(String(i)), bigTools(String(i)))) {
        assert.strictEqual(Echo.expand(Echo.compact(dictionary, frame)), frame)
      }
    }
    assert.strictEqual(dictionary.recent.get("tools")!.length, Echo.valuesPerKey)
    assert.strictEqual(dictionary.recent.get("instructions")!.length, Echo.valuesPerKey)
  })

  it("the ring with a dictionary reads back the frames exactly as appended", () => {
    const ring = Ring.make(10 * 1024 * 1024, Echo.makeDictionary())
    const frames = echoFrames(bigInstructions("r"), bigTools("r"))
    frames.forEach((f, i) => assert.strictEqual(Ring.append(ring, i, f), "Appended"))
    const read = Ring.readAfter(ring, -1)
    assert.strictEqual(read._tag, "Frames")
    if (read._tag === "Frames") assert.deepStrictEqual(read.frames, frames)
    // The budget still counts the wire bytes.
    assert.strictEqual(ring.bytes, frames.reduce((n, f) => n + Ring.frameBytes(f), 0))
  })

  it.effect("the in-memory ResumeLog replays a finished response's echo frames byte for byte", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.makeMemory()
      const session = { tenant: "acme", token: "t1" }
      yield* log.openSession(session)
      const frames = echoFrames(bigInstructions("l"), bigTools("l"))
      const writer = yield* log.begin({ session, responseId: "resp_1", lane: "default" })
      for (const [i, f] of frames.entries()) yield* writer.append(i, f)
      yield* writer.end
      const replay = Chunk.toReadonlyArray(yield* Stream.runCollect(log.read("acme", "resp_1", -1)))
      assert.deepStrictEqual(replay, frames)
      const after1 = Chunk.toReadonlyArray(yield* Stream.runCollect(log.read("acme", "resp_1", 1)))
      assert.deepStrictEqual(after1, frames.slice(2))
    }))
})
