import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Schema, Stream } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as HttpResponses from "../src/HttpResponses.js"
import * as Recovery from "../src/Recovery.js"
import { fromErrorFrame, ResponsesError, retryAfterMillis } from "../src/ResponsesError.js"
import * as Session from "../src/Session.js"

const frame = (status: number | undefined, code: string | null, extra: Record<string, unknown> = {}) =>
  fromErrorFrame({
    type: "error",
    ...(status !== undefined ? { status } : {}),
    error: { type: "invalid_request_error", code, message: "m", param: null, ...extra }
  }, 0)

describe("Recovery.classify", () => {
  it("maps each documented failure to its rung", () => {
    assert.strictEqual(Recovery.classify(frame(400, "previous_response_not_found")), "FullResend")
    assert.strictEqual(Recovery.classify(frame(400, "websocket_connection_limit_reached")), "Rotate")
    assert.strictEqual(Recovery.classify(frame(400, "websocket_stream_limit_reached")), "Rotate")
    assert.strictEqual(Recovery.classify(frame(429, "rate_limit_exceeded")), "Backoff")
    assert.strictEqual(Recovery.classify(frame(500, "server_error")), "Backoff")
    assert.strictEqual(Recovery.classify(frame(503, null)), "Backoff")
    assert.strictEqual(Recovery.classify(frame(400, "invalid_value")), "Fail")
    assert.strictEqual(Recovery.classify(frame(401, "invalid_api_key")), "Fail")
    assert.strictEqual(Recovery.classify(new ResponsesError({ reason: "ConnectionLost", message: "x" })), "Reconnect")
    assert.strictEqual(Recovery.classify(new ResponsesError({ reason: "Connect", status: 426, message: "x" })), "FallbackHttp")
    assert.strictEqual(Recovery.classify(new ResponsesError({ reason: "Connect", status: 405, message: "x" })), "FallbackHttp")
    assert.strictEqual(Recovery.classify(new ResponsesError({ reason: "Connect", status: 503, message: "x" })), "Reconnect")
    assert.strictEqual(Recovery.classify(new ResponsesError({ reason: "Connect", status: 401, message: "x" })), "Fail")
    assert.strictEqual(Recovery.classify(new ResponsesError({ reason: "Connect", message: "refused" })), "Reconnect")
  })

  it.prop("every error gets exactly one action; only transient ones are retried", {
    status: Schema.Int.pipe(Schema.between(400, 599)),
    code: Schema.Literal("x", "previous_response_not_found", "websocket_connection_limit_reached", "server_error")
  }, ({ code, status }) => {
    const action = Recovery.classify(frame(status, code))
    if (code === "previous_response_not_found") assert.strictEqual(action, "FullResend")
    else if (code === "websocket_connection_limit_reached") assert.strictEqual(action, "Rotate")
    else if (status === 429 || status === 408 || status === 409 || status >= 500) assert.strictEqual(action, "Backoff")
    else assert.strictEqual(action, "Fail")
  })
})

describe("Recovery.delayMillis", () => {
  it.prop("exponential with jitter in (0.75, 1], capped, or the server's hint", {
    attempt: Schema.Int.pipe(Schema.between(0, 20)),
    random: Schema.Number.pipe(Schema.between(0, 0.999))
  }, ({ attempt, random }) => {
    const d = Recovery.delayMillis(Recovery.defaultBackoff, attempt, random)
    const base = Math.min(500 * 2 ** attempt, 8000)
    assert.isTrue(d <= base && d >= Math.floor(base * 0.75))
    assert.strictEqual(Recovery.delayMillis(Recovery.defaultBackoff, attempt, random, 1234), 1234)
    assert.strictEqual(Recovery.delayMillis(Recovery.defaultBackoff, attempt, random, 10 * 60_000), 60_000)
  })
})

describe("error frames", () => {
  it("reads both shapes, status_code, headers and the lane", () => {
    const envelope = fromErrorFrame({
      type: "error",
      status: 429,
      stream_id: "a",
      error: { type: "rate_limit_error", code: "rate_limit_exceeded", message: "slow down", param: null, headers: { "Retry-After": "2" } }
    }, 0)
    assert.deepStrictEqual(
      [envelope.status, envelope.code, envelope.errorType, envelope.streamId, envelope.retryAfterMillis, envelope.message],
      [429, "rate_limit_exceeded", "rate_limit_error", "a", 2000, "slow down"]
    )
    const flat = fromErrorFrame({ type: "error", code: "server_error", message: "boom", param: "x", sequence_number: 3 }, 0)
    assert.deepStrictEqual([flat.status, flat.code, flat.param, flat.message], [undefined, "server_error", "x", "boom"])
    const alias = fromErrorFrame({ type: "error", status_code: 500, error: { message: "m" } }, 0)
    assert.strictEqual(alias.status, 500)
  })

  it("retry hints: retry-after-ms first, then seconds or an HTTP date", () => {
    assert.strictEqual(retryAfterMillis({ "retry-after-ms": "250", "retry-after": "9" }, 0), 250)
    assert.strictEqual(retryAfterMillis({ "retry-after": "3" }, 0), 3000)
    const now = Date.parse("2026-11-25T08:00:00Z")
    assert.strictEqual(retryAfterMillis({ "retry-after": "Wed, 25 Nov 2026 08:00:05 GMT" }, now), 5000)
    assert.isUndefined(retryAfterMillis({ "retry-after": "soon" }, 0))
    assert.isUndefined(retryAfterMillis(undefined, 0))
  })
})

describe("ConnectionPool.place", () => {
  it("fewest sessions, then least load, among sockets with room", () => {
    assert.strictEqual(ConnectionPool.place([{ sessions: 2, load: 0 }, { sessions: 1, load: 5 }, { sessions: 1, load: 1 }], 32), 2)
    assert.strictEqual(ConnectionPool.place([{ sessions: 1, load: 0 }, { sessions: 1, load: 0 }], 1), undefined)
    assert.strictEqual(ConnectionPool.place([{ sessions: 1, load: 0 }, { sessions: 0, load: 9 }], 1), 1)
  })
})

describe("Session.plan", () => {
  const response = { id: "resp_1", object: "response", created_at: 1, status: "completed", model: "m", output: [{ type: "function_call", call_id: "c", name: "f", arguments: "{}" }] } as any
  const anchor: Session.Anchor = { response, request: { type: "response.create", model: "m", input: [] }, contextEnd: 1, generation: 1 }
  const window = (items: ReadonlyArray<any>) => (from: number) => items.slice(from)
  const history = [{ role: "user", content: "a" }, response.output[0], { type: "function_call_output", call_id: "c", output: "1" }]
  const base = { settings: { model: "m" }, window: window(history), historyLength: 3, generation: 1, store: false, forceFull: false }

  it("delta with only the new items when nothing changed", () => {
    const d = Session.plan(anchor, base)
    assert.strictEqual(d._tag, "Delta")
    if (d._tag === "Delta") {
      assert.strictEqual(d.previous_response_id, "resp_1")
      assert.deepStrictEqual(d.input, [history[2]])
    }
  })

  it("full when settings changed, the socket changed without store, or a recovery forces it", () => {
    assert.strictEqual(Session.plan(anchor, { ...base, settings: { model: "other" } })._tag, "Full")
    assert.strictEqual(Session.plan(anchor, { ...base, generation: 2 })._tag, "Full")
    assert.strictEqual(Session.plan(anchor, { ...base, generation: 2, store: true })._tag, "Delta")
    assert.strictEqual(Session.plan(anchor, { ...base, forceFull: true })._tag, "Full")
    assert.strictEqual(Session.plan(undefined, base)._tag, "Full")
  })
})

describe("HttpResponses", () => {
  it.effect("parses SSE data (multi-line, comments, CRLF-free lines)", () =>
    Effect.gen(function*() {
      const lines = ["event: a", "data: {\"x\":", "data: 1}", "", ": comment", "data:2", "", ""]
      const out = yield* Stream.runCollect(HttpResponses.sseData(Stream.fromIterable(lines)))
      assert.deepStrictEqual(Chunk.toArray(out), ["{\"x\":\n1}", "2"])
    }))

  it("never sends WebSocket-only fields over HTTP", () => {
    const body = JSON.parse(HttpResponses.httpBody({ model: "m", generate: false, input: [] } as any))
    assert.deepStrictEqual(body, { model: "m", input: [], stream: true })
  })
})
