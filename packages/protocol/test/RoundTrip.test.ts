import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import * as ClientEvent from "../src/ClientEvent.js"
import * as Codec from "../src/Codec.js"
import * as Items from "../src/Items.js"
import * as Response from "../src/Response.js"
import * as ServerEvent from "../src/ServerEvent.js"
import * as Tools from "../src/Tools.js"

// JSON text → decode → JSON text must give back the same value: the Type side is the wire shape.
const jsonRoundTrip = <A, I>(schema: Schema.Schema<A, I>) => (value: A) => {
  const text = JSON.stringify(Schema.encodeSync(schema)(value))
  const decoded = Schema.decodeUnknownSync(schema)(JSON.parse(text))
  assert.deepStrictEqual(decoded, value)
  assert.deepStrictEqual(JSON.parse(JSON.stringify(decoded)), JSON.parse(text))
}

const fast = { fastCheck: { numRuns: 40 } }

describe("schemas round-trip through JSON", () => {
  for (
    const [name, schema] of [
      ["InputItem", Items.InputItem],
      ["OutputItem", Items.OutputItem],
      ["Tool", Tools.Tool],
      ["Response", Response.Response]
    ] as const
  ) {
    it.prop(name, [schema as Schema.Schema<unknown>], ([v]) => jsonRoundTrip(schema as Schema.Schema<unknown>)(v), fast)
  }

  it.prop("every client event through the codec", [ClientEvent.ClientEvent], ([event]) => {
    const decoded = Codec.decodeClientEvent(Codec.encodeClientEvent(event))
    if (event.type === "response.create" || event.type === "response.steer") {
      assert.deepStrictEqual(Either.getOrThrow(decoded), event)
    } else {
      // Unknown client types are reported (with the type) so a server can answer or ignore them.
      assert.isTrue(Either.isLeft(decoded))
      if (Either.isLeft(decoded)) {
        assert.strictEqual(decoded.left.reason, "UnknownType")
        assert.strictEqual(decoded.left.eventType, event.type)
      }
    }
  }, fast)

  for (const [type, schema] of Object.entries(ServerEvent.schemasByType)) {
    it.prop(`server event ${type}`, [schema as Schema.Schema<ServerEvent.ServerEvent>], ([event]) => {
      const decoded = Codec.decodeServerEvent(Codec.encodeServerEvent(event))
      assert.deepStrictEqual(Either.getOrThrow(decoded), event)
    }, { fastCheck: { numRuns: 15 } })
  }

  it.prop("unknown server event types survive", [ServerEvent.UnknownServerEvent], ([event]) => {
    const decoded = Either.getOrThrow(Codec.decodeServerEvent(Codec.encodeServerEvent(event)))
    assert.deepStrictEqual(decoded, event)
  }, fast)
})

describe("unknown fields and types are preserved", () => {
  const extra = fc.dictionary(fc.constantFrom("x_one", "x_two", "future_field"), fc.jsonValue({ maxDepth: 2 }), {
    minKeys: 1,
    maxKeys: 3
  })

  it.prop("on a response.create", [Arbitrary.make(ClientEvent.ResponseCreate), extra], ([event, more]) => {
    const withExtra = { ...more, ...event }
    const decoded = Either.getOrThrow(Codec.decodeClientEvent(JSON.stringify(withExtra)))
    assert.deepStrictEqual(JSON.parse(Codec.encodeClientEvent(decoded)), JSON.parse(JSON.stringify(withExtra)))
  }, fast)

  it.prop("on output items inside a response.completed", [Arbitrary.make(Response.Response), extra], ([r, more]) => {
    const response = { ...r, output: r.output.map((item) => ({ ...more, ...item })) }
    const text = JSON.stringify({ type: "response.completed", sequence_number: 9, response })
    const decoded = Either.getOrThrow(Codec.decodeServerEvent(text))
    assert.deepStrictEqual(JSON.parse(Codec.encodeServerEvent(decoded)), JSON.parse(text))
  }, fast)
})
