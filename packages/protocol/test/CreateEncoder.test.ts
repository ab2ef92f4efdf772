import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as ClientEvent from "../src/ClientEvent.js"
import * as Codec from "../src/Codec.js"

const fast = { fastCheck: { numRuns: 60 } }

// A create as `JSON.stringify` would write it (the reference), with the encoder's field order irrelevant.
const sameJson = (text: string, event: Record<string, unknown>) =>
  assert.deepStrictEqual(JSON.parse(text), JSON.parse(JSON.stringify({ ...event, type: "response.create" })))

const createFields = fc.record({
  settings: fc.dictionary(
    fc.string({ maxLength: 8 }).filter((k) => !["type", "input", "previous_response_id", "stream_id", "generate"].includes(k)),
    fc.jsonValue({ maxDepth: 2 })
  ),
  input: fc.option(fc.oneof(fc.string(), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 })), { nil: undefined }),
  generate: fc.option(fc.boolean(), { nil: undefined }),
  stream_id: fc.option(fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/), { nil: undefined }),
  previous_response_id: fc.option(fc.oneof(fc.string(), fc.constant(null)), { nil: undefined })
})

const eventOf = (f: typeof createFields extends fc.Arbitrary<infer T> ? T : never): Record<string, unknown> => {
  const event: Record<string, unknown> = { ...f.settings }
  for (const key of ["input", "generate", "stream_id", "previous_response_id"] as const) {
    if (f[key] !== undefined) event[key] = f[key]
  }
  return event
}

describe("the response.create encoder", () => {
  it.prop("encodeCreate writes what JSON.stringify writes, as JSON", [createFields], ([f]) => {
    const event = eventOf(f)
    sameJson(Codec.encodeCreate(event), event)
  }, fast)

  it.prop("a frame from kept pieces equals the event's encoding", [createFields], ([f]) => {
    const event = eventOf(f)
    const parts = {
      settings: Codec.encodeCreateSettings(f.settings),
      generate: f.generate,
      streamId: f.stream_id,
      previousResponseId: f.previous_response_id,
      input: f.input === undefined ? undefined : JSON.stringify(f.input)
    }
    const frame = Codec.encodeCreateParts(parts)
    assert.strictEqual(frame, Codec.encodeCreate(event))
    // The head is the frame up to its input.
    const head = Codec.encodeCreateHead(parts)
    assert.isTrue(frame.startsWith(head))
    if (parts.input !== undefined) assert.strictEqual(frame, `${head},"input":${parts.input}}`)
  }, fast)

  it.prop("every decodable create encodes to itself", [ClientEvent.ResponseCreate], ([event]) => {
    const decoded = Codec.decodeClientEvent(Codec.encodeCreate(event))
    assert.deepStrictEqual(decoded._tag === "Right" ? decoded.right : decoded.left, event)
  }, { fastCheck: { numRuns: 30 } })

  it("settings never repeat the fields the encoder writes itself", () => {
    const json = Codec.encodeCreateSettings({
      type: "x",
      input: [],
      previous_response_id: "r",
      stream_id: "s",
      generate: false,
      model: "m",
      skipped: undefined
    })
    assert.strictEqual(json, `"model":"m"`)
  })

  it("a field of the wrong type is written as it is (validation tests send them)", () => {
    const event = { model: "m", stream_id: 5, input: "hi" }
    sameJson(Codec.encodeCreate(event), event)
  })
})
