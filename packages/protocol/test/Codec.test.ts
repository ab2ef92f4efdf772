import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as Codec from "../src/Codec.js"
import * as FrameLimits from "../src/FrameLimits.js"
import * as ProtocolError from "../src/ProtocolError.js"

const reject = (frame: string) => {
  const decoded = Codec.decodeClientEvent(frame)
  if (Either.isRight(decoded)) return assert.fail(`accepted ${frame}`)
  return decoded.left
}

const create = (fields: Record<string, unknown>) => JSON.stringify({ type: "response.create", ...fields })

describe("bad client frames map to 400 invalid_request_error frames", () => {
  const cases: ReadonlyArray<{
    readonly name: string
    readonly frame: string
    readonly reason: Codec.ClientFrameError["reason"]
    readonly param: string | null
    readonly code: string
    readonly mentions: string
  }> = [
    { name: "not JSON", frame: "{\"type\":", reason: "NotJson", param: null, code: "invalid_json", mentions: "JSON" },
    { name: "an array", frame: "[]", reason: "NotObject", param: null, code: "invalid_type", mentions: "an array" },
    { name: "a string", frame: "\"hi\"", reason: "NotObject", param: null, code: "invalid_type", mentions: "a string" },
    { name: "null", frame: "null", reason: "NotObject", param: null, code: "invalid_type", mentions: "null" },
    { name: "no type", frame: "{\"model\":\"m\"}", reason: "MissingType", param: "type", code: "missing_required_parameter", mentions: "'type'" },
    { name: "type not a string", frame: "{\"type\":7}", reason: "MissingType", param: "type", code: "invalid_type", mentions: "'type'" },
    { name: "unknown type", frame: "{\"type\":\"response.cancel\"}", reason: "UnknownType", param: "type", code: "unknown_event_type", mentions: "response.cancel" },
    {
      name: "call_id of a tool output",
      frame: create({ input: [{ role: "user", content: "a" }, { type: "message", role: "user", content: "b" }, { type: "function_call_output", call_id: 12, output: "x" }] }),
      reason: "InvalidField",
      param: "input[2].call_id",
      code: "invalid_type",
      mentions: "expected a string"
    },
    {
      name: "missing call_id",
      frame: create({ input: [{ type: "function_call_output", output: "x" }] }),
      reason: "InvalidField",
      param: "input[0].call_id",
      code: "missing_required_parameter",
      mentions: "Missing required parameter: 'input[0].call_id'"
    },
    {
      name: "input of the wrong type",
      frame: create({ input: 42 }),
      reason: "InvalidField",
      param: "input",
      code: "invalid_type",
      mentions: "a string or an array"
    },
    {
      name: "bad role",
      frame: create({ input: [{ type: "message", role: "robot", content: "x" }] }),
      reason: "InvalidField",
      param: "input[0].role",
      code: "invalid_value",
      mentions: "\"user\" or \"assistant\""
    },
    {
      name: "bad content part",
      frame: create({ input: [{ type: "message", role: "user", content: [{ type: "input_text", text: false }] }] }),
      reason: "InvalidField",
      param: "input[0].content[0].text",
      code: "invalid_type",
      mentions: "a boolean"
    },
    {
      name: "grammar syntax",
      frame: create({ tools: [{ type: "custom", name: "p", format: { type: "grammar", syntax: "peg", definition: "x" } }] }),
      reason: "InvalidField",
      param: "tools[0].format.syntax",
      code: "invalid_value",
      mentions: "\"lark\" or \"regex\""
    },
    {
      name: "namespace member",
      frame: create({ tools: [{ type: "namespace", name: "ns", tools: [{ type: "function" }] }] }),
      reason: "InvalidField",
      param: "tools[0].tools[0].name",
      code: "missing_required_parameter",
      mentions: "tools[0].tools[0].name"
    },
    {
      name: "non-integer max_output_tokens",
      frame: create({ max_output_tokens: 1.5 }),
      reason: "InvalidField",
      param: "max_output_tokens",
      code: "invalid_type",
      mentions: "an integer"
    },
    {
      name: "generate not a boolean",
      frame: create({ generate: "no" }),
      reason: "InvalidField",
      param: "generate",
      code: "invalid_type",
      mentions: "a boolean"
    },
    {
      name: "steer without previous_response_id",
      frame: JSON.stringify({ type: "response.steer", input: "x" }),
      reason: "InvalidField",
      param: "previous_response_id",
      code: "missing_required_parameter",
      mentions: "previous_response_id"
    },
    {
      name: "steer with an empty input list",
      frame: JSON.stringify({ type: "response.steer", previous_response_id: "r", input: [] }),
      reason: "InvalidField",
      param: "input",
      code: "invalid_value",
      mentions: "non-empty"
    }
  ]

  for (const c of cases) {
    it(c.name, () => {
      const error = reject(c.frame)
      assert.strictEqual(error.reason, c.reason)
      assert.strictEqual(error.param, c.param)
      assert.strictEqual(error.code, c.code)
      assert.include(error.message, c.mentions)
      const frame = Codec.clientFrameErrorToFrame(error)
      assert.deepStrictEqual(frame, {
        type: "error",
        status: 400,
        error: { type: "invalid_request_error", code: c.code, message: error.message, param: c.param }
      })
    })
  }

  it("an invalid stream_id gives the documented frame exactly", () => {
    const expected = {
      type: "error" as const,
      status: 400,
      error: {
        type: "invalid_request_error",
        code: "invalid_stream_id",
        message:
          "The 'stream_id' field must be a non-empty string with at most 256 characters and may only contain letters, numbers, underscores, hyphens, and periods.",
        param: "stream_id"
      }
    }
    for (const bad of ["", "a b", "x".repeat(257), "lane/1", "ünï", 5, null]) {
      const error = reject(create({ stream_id: bad }))
      assert.deepStrictEqual(Codec.clientFrameErrorToFrame(error), expected)
      assert.deepStrictEqual(ProtocolError.invalidStreamId(), expected)
    }
    for (const good of ["a", "A.b-c_9", "x".repeat(256)]) {
      assert.isTrue(Either.isRight(Codec.decodeClientEvent(create({ stream_id: good }))))
    }
  })

  it("an error in a frame with a valid lane is tagged with that lane", () => {
    const error = reject(create({ stream_id: "lane-7", temperature: "hot" }))
    assert.strictEqual(error.streamId, "lane-7")
    assert.strictEqual(Codec.clientFrameErrorToFrame(error).stream_id, "lane-7")
  })

  it("a huge valid input decodes", () => {
    const input = Array.from({ length: 5000 }, (_, i) => ({ type: "function_call_output", call_id: `c${i}`, output: "ok" }))
    const decoded = Codec.decodeClientEvent(create({ input }))
    assert.isTrue(Either.isRight(decoded))
  })
})

describe("server frames", () => {
  it("rejects what a client cannot use, and never an unknown type", () => {
    const notJson = Codec.decodeServerEvent("nope")
    assert.isTrue(Either.isLeft(notJson) && notJson.left.reason === "NotJson")
    const noType = Codec.decodeServerEvent("{\"sequence_number\":1}")
    assert.isTrue(Either.isLeft(noType) && noType.left.reason === "MissingType")
    const bad = Codec.decodeServerEvent(JSON.stringify({ type: "response.output_text.delta", item_id: "i", output_index: 0, content_index: 0 }))
    assert.isTrue(Either.isLeft(bad) && bad.left.reason === "InvalidEvent" && bad.left.param === "delta")
    const unknown = Codec.decodeServerEvent(JSON.stringify({ type: "x.y", anything: [1] }))
    assert.isTrue(Either.isRight(unknown))
  })

  it("accepts known events with extra or odd fields a real server adds", () => {
    const frame = {
      type: "response.output_text.delta",
      sequence_number: 3,
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      delta: "hi",
      logprobs: [],
      obfuscation: "k2",
      future: { nested: true }
    }
    assert.deepStrictEqual(Either.getOrThrow(Codec.decodeServerEvent(JSON.stringify(frame))), frame)
  })
})

describe("ProtocolError frames match reference/protocol.md §6.1", () => {
  it("previous_response_not_found", () => {
    assert.deepStrictEqual(ProtocolError.previousResponseNotFound("resp_abc"), {
      type: "error",
      status: 400,
      error: {
        type: "invalid_request_error",
        code: "previous_response_not_found",
        message: "Previous response with id 'resp_abc' not found.",
        param: "previous_response_id"
      }
    })
    assert.strictEqual(ProtocolError.previousResponseNotFound("resp_abc", "lane").stream_id, "lane")
  })

  it("websocket_connection_limit_reached", () => {
    assert.deepStrictEqual(ProtocolError.websocketConnectionLimitReached(), {
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
  })

  it("websocket_stream_limit_reached", () => {
    assert.deepStrictEqual(ProtocolError.websocketStreamLimitReached(), {
      type: "error",
      status: 400,
      error: {
        type: "invalid_request_error",
        code: "websocket_stream_limit_reached",
        message:
          "This WebSocket connection has reached its maximum number of distinct stream IDs (32). Reuse an existing stream_id or open a new WebSocket connection.",
        param: "stream_id"
      }
    })
  })

  it("every constructed frame is a valid server event", () => {
    const frames = [
      ProtocolError.previousResponseNotFound("r", "s"),
      ProtocolError.websocketConnectionLimitReached(25),
      ProtocolError.websocketStreamLimitReached(32, "lane-33"),
      ProtocolError.invalidStreamId(),
      ProtocolError.errorFrame({ status: 429, type: "rate_limit_error", code: "rate_limit_exceeded", message: "slow down", param: null, headers: { "retry-after": "1" } }),
      ProtocolError.steerFailed({ code: "too_many_pending_steers", previousResponseId: "resp_1", input: "x", steerId: "steer_1" }),
      ProtocolError.steerFailed({ code: "steering_not_supported", previousResponseId: "resp_1", input: [{ role: "user", content: "x" }] })
    ]
    for (const frame of frames) {
      assert.deepStrictEqual(Either.getOrThrow(Codec.decodeServerEvent(Codec.encodeServerEvent(frame))), frame)
    }
  })
})

describe("__proto__ keys", () => {
  it("are rejected in client frames, however they are spelled", () => {
    for (
      const frame of [
        "{\"type\":\"response.create\",\"__proto__\":{\"polluted\":1}}",
        "{\"type\":\"response.create\",\"input\":[{\"role\":\"user\",\"content\":\"x\",\"\\u005f_proto__\":{\"y\":1}}]}"
      ]
    ) {
      const error = reject(frame)
      assert.strictEqual(error.reason, "InvalidField")
      assert.include(error.message, "__proto__")
    }
  })

  it("are dropped from server frames, and never become a prototype", () => {
    const decoded = Either.getOrThrow(
      Codec.decodeServerEvent("{\"type\":\"x.y\",\"\\u005f\\u005fproto__\":{\"polluted\":1},\"k\":\"\\u00e9\"}")
    )
    assert.strictEqual(Object.getPrototypeOf(decoded), Object.prototype)
    assert.deepStrictEqual(decoded, { type: "x.y", k: "é" })
  })
})

// `levels` nested arrays around `inner`, as text (JSON.stringify itself would overflow building it).
const nested = (levels: number, inner = "0") => "[".repeat(levels) + inner + "]".repeat(levels)

describe("structural limits (FrameLimits), checked before anything recursive", () => {
  it("a frame 4,500 levels deep gets nesting_above_max_depth, with the path to the first level too deep", () => {
    const error = reject(`{"type":"response.create","metadata":{"x":${nested(4_500)}}}`)
    assert.strictEqual(error.reason, "LimitExceeded")
    assert.strictEqual(error.code, "nesting_above_max_depth")
    assert.isTrue(error.param!.startsWith("metadata.x[0][0]"))
    assert.include(error.message, "128 levels")
    const frame = Codec.clientFrameErrorToFrame(error)
    assert.strictEqual(frame.status, 400)
    assert.strictEqual(frame.error.code, "nesting_above_max_depth")
  })

  it("a valid frame with one \\u escape and 3,000 levels gets the depth error, not invalid_json", () => {
    const error = reject(`{"type":"response.create","input":"caf\\u00e9","metadata":{"x":${nested(3_000)}}}`)
    assert.strictEqual(error.code, "nesting_above_max_depth")
  })

  it("depth up to the limit passes; one more level fails", () => {
    const limits = { ...FrameLimits.defaults, maxDepth: 5 }
    // frame (1) → x_future (2) → 3 more levels = 5; unknown fields are kept, so only the limit can refuse it
    const ok = Codec.decodeClientEvent(`{"type":"response.create","x_future":{"x":${nested(3)}}}`, limits)
    assert.isTrue(Either.isRight(ok))
    const deep = Codec.decodeClientEvent(`{"type":"response.create","x_future":{"x":${nested(4)}}}`, limits)
    assert.isTrue(Either.isLeft(deep) && deep.left.code === "nesting_above_max_depth" && deep.left.param === "x_future.x[0][0][0]")
  })

  it("too many input items get array_above_max_length on 'input'", () => {
    const limits = { ...FrameLimits.defaults, maxInputItems: 3 }
    const items = (n: number) => Array.from({ length: n }, () => ({ role: "user", content: "x" }))
    assert.isTrue(Either.isRight(Codec.decodeClientEvent(create({ input: items(3) }), limits)))
    const error = Codec.decodeClientEvent(create({ input: items(4) }), limits)
    assert.isTrue(Either.isLeft(error))
    if (Either.isLeft(error)) {
      assert.strictEqual(error.left.code, "array_above_max_length")
      assert.strictEqual(error.left.param, "input")
      assert.include(error.left.message, "maximum length 3, but got an array with length 4")
    }
    const steer = Codec.decodeClientEvent(
      JSON.stringify({ type: "response.steer", previous_response_id: "resp_1", input: items(4) }),
      limits
    )
    assert.isTrue(Either.isLeft(steer) && steer.left.code === "array_above_max_length")
  })

  it("a string or key over maxStringLength gets string_above_max_length with its path", () => {
    const limits = { ...FrameLimits.defaults, maxStringLength: 20 }
    const text = Codec.decodeClientEvent(
      create({ input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "x".repeat(21) }] }] }),
      limits
    )
    assert.isTrue(Either.isLeft(text) && text.left.code === "string_above_max_length")
    if (Either.isLeft(text)) assert.strictEqual(text.left.param, "input[0].content[0].text")
    const key = Codec.decodeClientEvent(create({ metadata: { ["k".repeat(21)]: "v" } }), limits)
    assert.isTrue(Either.isLeft(key) && key.left.code === "string_above_max_length" && key.left.param === "metadata")
  })

  it("a frame over maxFrameBytes (in UTF-8 bytes) gets request_too_large", () => {
    const limits = { ...FrameLimits.defaults, maxFrameBytes: 64 }
    const frame = create({ input: "é".repeat(20) }) // 40 code units of text, 60 bytes
    assert.isTrue(frame.length <= 64)
    const error = Codec.decodeClientEvent(frame, limits)
    assert.isTrue(Either.isLeft(error) && error.left.code === "request_too_large" && error.left.param === null)
    assert.isTrue(Either.isRight(Codec.decodeClientEvent(create({ input: "e" }), limits)))
  })

  it("an already-parsed body (HTTP) is checked the same way: own __proto__ keys are rejected", () => {
    for (const body of ["{\"input\":\"x\",\"__proto__\":{\"stream_id\":\"bad id!\"}}", "{\"__proto__\":{\"input\":{\"length\":3}}}"]) {
      const value = { ...JSON.parse(body), type: "response.create" }
      const decoded = Codec.decodeClientEventUnknown(value)
      assert.isTrue(Either.isLeft(decoded), body)
      if (Either.isLeft(decoded)) {
        assert.strictEqual(decoded.left.code, "invalid_value")
        assert.strictEqual(decoded.left.param, "__proto__")
      }
    }
    const nestedProto = Codec.decodeClientEventUnknown(JSON.parse(
      "{\"type\":\"response.create\",\"input\":[{\"role\":\"user\",\"content\":\"x\",\"\\u005f_proto__\":{}}]}"
    ))
    assert.isTrue(Either.isLeft(nestedProto) && nestedProto.left.param === "input[0].__proto__")
  })

  it("a server frame deeper than the server limit fails with LimitExceeded; __proto__ is dropped at any depth", () => {
    const deep = Codec.decodeServerEvent(`{"type":"x.y","v":${nested(5_000)}}`)
    assert.isTrue(Either.isLeft(deep) && deep.left.reason === "LimitExceeded")
    const ok = Either.getOrThrow(Codec.decodeServerEvent(`{"type":"x.y","v":[[{"__proto__":{"p":1},"k":1}]]}`))
    assert.deepStrictEqual(ok, { type: "x.y", v: [[{ k: 1 }]] })
  })
})

describe("event types are own keys only", () => {
  const prototypeKeys = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "isPrototypeOf"]

  it("a client frame typed with an Object.prototype member gets unknown_event_type", () => {
    for (const type of prototypeKeys) {
      const error = reject(JSON.stringify({ type }))
      assert.strictEqual(error.reason, "UnknownType", type)
      assert.strictEqual(error.code, "unknown_event_type")
      assert.strictEqual(error.eventType, type)
    }
  })

  it("a server frame typed so decodes to an unknown event, never throws", () => {
    for (const type of prototypeKeys) {
      const decoded = Codec.decodeServerEvent(JSON.stringify({ type, response_id: "resp_1" }))
      assert.isTrue(Either.isRight(decoded), type)
      if (Either.isRight(decoded)) assert.strictEqual(decoded.right.type, type)
    }
  })
})
