import { assert, describe, it } from "@effect/vitest"
import * as Codec from "@loopwire/protocol/Codec"
import * as Either from "effect/Either"
import { decodeEvent } from "../src/internal/decode.js"

const response = (extra: Record<string, unknown>) => ({
  id: "resp_1",
  object: "response",
  status: "completed",
  output: [{ type: "function_call", id: "fc_1", call_id: "call_1", name: "shell", arguments: "{}", status: "completed" }],
  instructions: "be brief",
  usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 },
  ...extra
})

describe("client event decoding", () => {
  it("decodes like the codec, with the echoed tools passed through as received", () => {
    const tools = [{ type: "function", name: "shell", parameters: { type: "object", properties: {} }, strict: true }]
    const event = { type: "response.completed", sequence_number: 3, response: response({ tools }) }
    const ours = Either.getOrThrow(decodeEvent(event)) as any
    assert.deepStrictEqual(ours, Either.getOrThrow(Codec.decodeServerEventUnknown(event)))
    assert.strictEqual(ours.response.tools, tools)
    // Events without an echoed tools array go through the codec unchanged.
    const delta = { type: "response.output_text.delta", sequence_number: 1, item_id: "m", output_index: 0, content_index: 0, delta: "x" }
    assert.deepStrictEqual(decodeEvent(delta), Codec.decodeServerEventUnknown(delta))
  })

  it("still rejects an invalid event, whatever its tools", () => {
    const bad = { type: "response.completed", sequence_number: 3, response: response({ status: 7, tools: [] }) }
    assert.isTrue(Either.isLeft(decodeEvent(bad)))
    const badOutput = { type: "response.created", sequence_number: 0, response: response({ output: "nope", tools: [] }) }
    assert.isTrue(Either.isLeft(decodeEvent(badOutput)))
  })
})
