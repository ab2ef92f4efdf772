import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Codec from "../src/Codec.js"

// Both decoders on fresh parses of the same text (each may drop `__proto__` keys in place).
const both = (text: string, maxDepth?: number) => ({
  parsed: Codec.validateParsedServerEvent(JSON.parse(text), text, maxDepth),
  walked: Codec.validateServerEventUnknown(JSON.parse(text), maxDepth)
})

const nested = (depth: number) => `{"type":"x.deep","a":${"[".repeat(depth)}${"]".repeat(depth)}}`

describe("Codec.validateParsedServerEvent", () => {
  it("gives validateServerEventUnknown's result, skipped walk or not", () => {
    const texts = [
      `{"type":"response.output_text.delta","sequence_number":4,"item_id":"m","output_index":0,"content_index":0,"delta":"hi"}`,
      `{"type":"response.output_text.delta","sequence_number":4,"item_id":"m","output_index":0,"content_index":0,"delta":7}`,
      `{"type":"x.future","__proto__":{"polluted":true},"a":1}`,
      `{"type":"x.future","\\u005f_proto__":{"polluted":true},"a":1}`,
      `{"type":"response.output_text.delta","sequence_number":4,"item_id":"m","output_index":0,"content_index":0,"delta":"\\u00e9"}`,
      nested(5),
      nested(30),
      nested(300)
    ]
    for (const text of texts) {
      for (const maxDepth of [undefined, 8, 20]) {
        const { parsed, walked } = both(text, maxDepth)
        assert.deepStrictEqual(parsed, walked, `${text} (maxDepth ${maxDepth})`)
      }
    }
  })

  it("a frame nested too deep fails, a __proto__ key is dropped, however short the frame", () => {
    assert.isTrue(Either.isLeft(Codec.validateParsedServerEvent(JSON.parse(nested(9)), nested(9), 8)))
    for (const text of [`{"type":"x.future","__proto__":{"p":1}}`, `{"type":"x.future","\\u005f_proto__":{"p":1}}`]) {
      const value = JSON.parse(text)
      const decoded = Either.getOrThrow(Codec.validateParsedServerEvent(value, text)) as Record<string, unknown>
      assert.isFalse(Object.hasOwn(decoded, "__proto__"), text)
    }
  })
})
