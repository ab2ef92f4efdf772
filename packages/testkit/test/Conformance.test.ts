import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Net from "node:net"
import * as Conformance from "../src/Conformance.js"
import * as MiniServer from "./fixtures/MiniServer.js"

// Broken servers answer wrongly rather than staying silent, so a short frame timeout is never reached by a
// passing test; it only bounds a regression.
const timeout = "3 seconds"

const runAgainst = (faults: MiniServer.Faults, options: Partial<Conformance.Options> = {}, mode: MiniServer.Mode = {}) =>
  Effect.gen(function*() {
    const url = yield* MiniServer.start(faults, mode)
    return yield* Conformance.run({ url, timeout, ...options })
  })

const resultOf = (report: Conformance.Report, id: string): Conformance.CheckResult => {
  const result = report.results.find((r) => r.id === id)
  assert.isDefined(result, `no result for ${id}`)
  return result!
}

/** Runs one check against a server with one fault and asserts that the check fails, mentioning `expected`. */
const failsWith = (id: string, faults: MiniServer.Faults, expected: string) =>
  Effect.gen(function*() {
    const report = yield* runAgainst(faults, { checks: [id] })
    const result = resultOf(report, id)
    assert.strictEqual(result.status, "failed", `${id} should fail against ${JSON.stringify(faults)}`)
    assert.include(result.reason ?? "", expected)
    assert.isFalse(report.ok)
    assert.strictEqual(report.failed, 1)
  })

describe("Conformance against a correct minimal server", () => {
  it.scopedLive("every WebSocket check passes; mode checks are reported not applicable", () =>
    Effect.gen(function*() {
      const report = yield* runAgainst({})
      const failures = report.results.filter((r) => r.status === "failed").map((r) => `${r.id}: ${r.reason}`)
      assert.deepStrictEqual(failures, [])
      assert.isTrue(report.ok)
      assert.strictEqual(report.results.length, Conformance.checkIds.length)
      assert.deepStrictEqual(
        report.results.filter((r) => r.status === "not_applicable").map((r) => r.id),
        ["auth-rejected", "upgrade-required"]
      )
      for (const r of report.results) {
        assert.match(r.sections, /§\d/)
        assert.isAtLeast(r.durationMs, 0)
      }
    }))

  it.scopedLive("auth-rejected passes when the server is declared to require a key and does", () =>
    Effect.gen(function*() {
      const report = yield* runAgainst({}, {
        apiKey: "sk-test",
        requiresAuth: true,
        checks: ["auth-rejected", "basic-create"]
      }, { apiKey: "sk-test" })
      assert.deepStrictEqual(report.results.map((r) => [r.id, r.status]), [["basic-create", "passed"], [
        "auth-rejected",
        "passed"
      ]])
    }))

  it.scopedLive("auth-rejected fails when a server declared to require a key accepts anyone", () =>
    Effect.gen(function*() {
      const report = yield* runAgainst({}, { requiresAuth: true, checks: ["auth-rejected"] })
      const result = resultOf(report, "auth-rejected")
      assert.strictEqual(result.status, "failed")
      assert.include(result.reason ?? "", "was accepted; expected HTTP 401")
    }))

  it.scopedLive("a server rejecting WebSocket mode: upgrade-required passes, everything else does not apply", () =>
    Effect.gen(function*() {
      const report = yield* runAgainst({}, { rejectsWebSocket: true }, { rejectWebSocket: true })
      assert.isTrue(report.ok)
      assert.strictEqual(resultOf(report, "upgrade-required").status, "passed")
      assert.strictEqual(report.passed, 1)
      assert.strictEqual(report.notApplicable, Conformance.checkIds.length - 1)
    }))

  it.scopedLive("upgrade-required fails against a server that accepts the upgrade", () =>
    Effect.gen(function*() {
      const report = yield* runAgainst({}, { rejectsWebSocket: true, checks: ["upgrade-required"] })
      const result = resultOf(report, "upgrade-required")
      assert.strictEqual(result.status, "failed")
      assert.include(result.reason ?? "", "expected HTTP 426")
    }))

  it.scopedLive("an unreachable server fails the checks with the connection error, never crashes", () =>
    Effect.gen(function*() {
      // A port that was just free: bind port 0, note the port, close it; the connect is then refused at once.
      const port = yield* Effect.async<number>((resume) => {
        const server = Net.createServer()
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as Net.AddressInfo
          server.close(() => resume(Effect.succeed(port)))
        })
      })
      const report = yield* Conformance.run({
        url: `ws://127.0.0.1:${port}/v1/responses`,
        checks: ["basic-create", "lane-echo"],
        timeout
      })
      assert.deepStrictEqual(report.results.map((r) => r.status), ["failed", "failed"])
      assert.include(report.results[0]!.reason ?? "", "cannot open a WebSocket")
    }))

  it.scopedLive("a refused upgrade fails the WebSocket checks with the status", () =>
    Effect.gen(function*() {
      const report = yield* runAgainst({}, { checks: ["basic-create"] }, { apiKey: "sk-other" })
      const result = resultOf(report, "basic-create")
      assert.strictEqual(result.status, "failed")
      assert.include(result.reason ?? "", "refused with HTTP 401")
    }))
})

describe("each deliberately broken server fails the corresponding check", () => {
  it.scopedLive("wrong error code → previous-response-not-found", () =>
    failsWith("previous-response-not-found", { wrongErrorCode: true }, "error.code \"not_found\""))

  it.scopedLive("wrong error message → previous-response-not-found", () =>
    failsWith("previous-response-not-found", { wrongErrorMessage: true }, "error.message"))

  it.scopedLive("missing stream_id echo → lane-echo", () =>
    failsWith("lane-echo", { noStreamIdEcho: true }, "has stream_id absent"))

  it.scopedLive("missing stream_id echo on an error → previous-response-not-found", () =>
    failsWith("previous-response-not-found", { noStreamIdEcho: true }, "expected the lane"))

  it.scopedLive("missing stream_id echo → lanes-concurrent", () =>
    failsWith("lanes-concurrent", { noStreamIdEcho: true }, "no events"))

  it.scopedLive("stream_id on default-lane events → lane-echo", () =>
    failsWith("lane-echo", { defaultLaneStreamId: true }, "default-lane event"))

  it.scopedLive("non-monotonic sequence numbers → sequence-numbers", () =>
    failsWith("sequence-numbers", { repeatedSequenceNumber: true }, "does not increase"))

  it.scopedLive("no sequence numbers → sequence-numbers", () =>
    failsWith("sequence-numbers", { noSequenceNumber: true }, "expected an integer"))

  it.scopedLive("a frame after the terminal event → basic-create", () =>
    failsWith("basic-create", { frameAfterTerminal: true }, "expected 'response.created'"))

  it.scopedLive("two terminal events → basic-create", () =>
    failsWith("basic-create", { doubleTerminal: true }, "expected 'response.created', got 'response.completed'"))

  it.scopedLive("deltas that do not add up → stream-consistency", () =>
    failsWith("stream-consistency", { inconsistentDeltas: true }, "do not add up"))

  it.scopedLive("binary frames → framing", () => failsWith("framing", { binaryFrames: true }, "binary frame"))

  it.scopedLive("no continuation → previous-response-chain", () =>
    failsWith("previous-response-chain", { noContinuation: true }, "previous_response_not_found"))

  it.scopedLive("invalid stream ids accepted → invalid-stream-id", () =>
    failsWith("invalid-stream-id", { acceptInvalidStreamId: true }, "expected an 'error' frame, got 'response.created'"))

  it.scopedLive("same lane interleaved → lane-fifo", () =>
    failsWith("lane-fifo", { interleaveSameLane: true }, "a second 'response.created' inside one response"))

  it.scopedLive("prewarm that generates → prewarm", () =>
    failsWith("prewarm", { prewarmGenerates: true }, "expected none"))

  it.scopedLive("stream:true rejected → tolerated-extras", () =>
    failsWith("tolerated-extras", { rejectStreamTrue: true }, "stream:true"))

  it.scopedLive("connection closed on a non-JSON frame → non-json-frame", () =>
    failsWith("non-json-frame", { closeOnBadJson: true }, "closed the connection"))

  it.scopedLive("unknown event type ignored → unknown-event-type", () =>
    failsWith("unknown-event-type", { ignoreUnknownType: true }, "expected an 'error' frame"))

  it.scopedLive("deep frames served → deep-frame", () =>
    failsWith("deep-frame", { noDepthLimit: true }, "expected an 'error' frame"))

  it.scopedLive("connection closed on {\"type\":\"constructor\"} → prototype-key-types", () =>
    failsWith("prototype-key-types", { closeOnPrototypeType: true }, "closed"))

  it.scopedLive("no param on a field error → invalid-field", () =>
    failsWith("invalid-field", { noParam: true }, "error.param null (expected \"input\")"))

  it.scopedLive("background:true accepted → background-rejected", () =>
    failsWith("background-rejected", { acceptBackground: true }, "expected an 'error' frame, got 'response.created'"))

  it.scopedLive("no lane limit → stream-limit", () =>
    failsWith("stream-limit", { noStreamLimit: true }, "a 33rd distinct stream_id"))

  it.scopedLive("a model that never calls tools → function-call-round-trip", () =>
    failsWith("function-call-round-trip", { noFunctionCalls: true }, "declare 'function-call-round-trip' not applicable"))
})

describe("not applicable is explicit, never silent", () => {
  it.scopedLive("a check declared not applicable is reported as such with its reason", () =>
    Effect.gen(function*() {
      const report = yield* runAgainst({ noFunctionCalls: true }, {
        checks: ["function-call-round-trip"],
        notApplicable: ["function-call-round-trip"]
      })
      const result = resultOf(report, "function-call-round-trip")
      assert.strictEqual(result.status, "not_applicable")
      assert.strictEqual(result.requires, "cooperative-model")
      assert.include(result.reason ?? "", "declared not applicable")
      assert.isTrue(report.ok)
    }))

  it.effect("unknown check ids and non-WebSocket URLs are errors, not empty runs", () =>
    Effect.gen(function*() {
      const unknown = yield* Effect.flip(Conformance.run({ url: "ws://127.0.0.1:1/v1/responses", checks: ["nope"] }))
      assert.strictEqual(unknown.reason, "UnknownCheck")
      const http = yield* Effect.flip(Conformance.run({ url: "http://127.0.0.1:1/v1/responses" }))
      assert.strictEqual(http.reason, "InvalidUrl")
    }))
})

describe("report formatting", () => {
  it.scopedLive("human lines and JSON carry every check", () =>
    Effect.gen(function*() {
      const report = yield* runAgainst({ wrongErrorCode: true }, {
        checks: ["basic-create", "previous-response-not-found", "auth-rejected"]
      })
      const text = Conformance.formatReport(report)
      assert.match(text, /PASS {2}basic-create/)
      assert.match(text, /FAIL {2}previous-response-not-found/)
      assert.match(text, /N\/A {3}auth-rejected/)
      assert.include(text, "1 passed, 1 failed, 1 not applicable")
      const json = JSON.parse(Conformance.formatJson(report))
      assert.strictEqual(json.ok, false)
      assert.deepStrictEqual(json.results.map((r: { status: string }) => r.status), ["passed", "failed", "not_applicable"])
    }))
})

describe("bounded waits", () => {
  // The per-frame timeout runs on the Effect Clock: a silent server is driven past it with TestClock while the
  // real socket work proceeds in between (bounded number of steps).
  it.scoped("a server that never answers fails the check with the timeout reason", () =>
    Effect.gen(function*() {
      const url = yield* MiniServer.start({ silent: true })
      const fiber = yield* Effect.fork(Conformance.run({ url, checks: ["basic-create"], timeout: "30 seconds" }))
      let report: Conformance.Report | undefined
      for (let step = 0; step < 200 && report === undefined; step++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
        yield* TestClock.adjust("31 seconds")
        const done = yield* Fiber.poll(fiber)
        if (Option.isSome(done)) report = yield* done.value
      }
      assert.isDefined(report, "the run did not finish")
      const result = resultOf(report!, "basic-create")
      assert.strictEqual(result.status, "failed")
      assert.include(result.reason ?? "", "no frame arrived in time while waiting for the terminal event")
    }))
})
