import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import * as Codec from "../src/Codec.js"
import * as ServerEvent from "../src/ServerEvent.js"

// `validateServerEventUnknown` must accept and reject exactly what `decodeServerEventUnknown` does, returning the
// value itself (no copy) when it accepts.
const agree = (value: unknown) => {
  const decoded = Codec.decodeServerEventUnknown(structuredClone(value))
  const own = structuredClone(value)
  const validated = Codec.validateServerEventUnknown(own)
  assert.strictEqual(Either.isRight(validated), Either.isRight(decoded))
  if (Either.isRight(validated) && Either.isRight(decoded)) {
    assert.strictEqual(validated.right, own)
    assert.deepStrictEqual(validated.right, decoded.right)
  }
  if (Either.isLeft(validated) && Either.isLeft(decoded)) assert.deepStrictEqual(validated.left, decoded.left)
}

// A valid event with one field replaced by a value of another JSON type.
const mutated = <A>(schema: Schema.Schema<A>) =>
  fc.tuple(Arbitrary.make(schema) as fc.Arbitrary<any>, fc.nat(), fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean()))
    .map(([event, k, junk]: [any, number, unknown]) => {
      const keys = Object.keys(event)
      const out = { ...event }
      out[keys[k % keys.length]!] = junk
      return out
    })

describe("validateServerEventUnknown", () => {
  for (const [type, schema] of Object.entries(ServerEvent.schemasByType)) {
    it.prop(`agrees with the decoder on valid ${type} events`, [schema as Schema.Schema<unknown>], ([event]) => agree(event), {
      fastCheck: { numRuns: 10 }
    })
    it.prop(`agrees with the decoder on broken ${type} events`, [mutated(schema as Schema.Schema<unknown>)], ([event]) => agree(event), {
      fastCheck: { numRuns: 10 }
    })
  }

  // The hot types have plain-code checks: break a field of their payload (the response, the item) too.
  const nested = (schema: Schema.Schema<unknown>, field: "response" | "item") =>
    fc.tuple(Arbitrary.make(schema) as fc.Arbitrary<any>, fc.nat(), fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean(), fc.constant([]), fc.double()))
      .map(([event, k, junk]: [any, number, unknown]) => {
        const inner = { ...event[field] }
        const keys = [...Object.keys(inner), "output", "usage", "metadata", "status", "call_id"]
        inner[keys[k % keys.length]!] = junk
        return { ...event, [field]: inner }
      })
  for (const type of ["response.created", "response.in_progress", "response.completed", "response.failed"] as const) {
    it.prop(`agrees on ${type} with a broken response field`, [nested(ServerEvent.schemasByType[type] as any, "response")], ([event]) => agree(event), {
      fastCheck: { numRuns: 60 }
    })
  }
  for (const type of ["response.output_item.added", "response.output_item.done"] as const) {
    it.prop(`agrees on ${type} with a broken item field`, [nested(ServerEvent.schemasByType[type] as any, "item")], ([event]) => agree(event), {
      fastCheck: { numRuns: 60 }
    })
  }

  it("agrees on frames that are not events, and drops __proto__ keys in place", () => {
    for (const value of [null, 3, "x", [], {}, { type: 7 }, { type: "response.output_text.delta" }]) agree(value)
    const frame = JSON.parse(`{"type":"codex.rate_limits","__proto__":{"polluted":true},"sequence_number":1}`)
    const validated = Either.getOrThrow(Codec.validateServerEventUnknown(frame))
    assert.strictEqual(validated, frame)
    assert.isFalse(Object.hasOwn(frame, "__proto__"))
    assert.strictEqual(({} as any).polluted, undefined)
  })
})
