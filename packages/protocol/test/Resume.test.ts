import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as ClientEvent from "../src/ClientEvent.js"
import * as Codec from "../src/Codec.js"
import * as ProtocolError from "../src/ProtocolError.js"
import * as Resume from "../src/Resume.js"

const decode = (value: unknown) => Codec.decodeClientEvent(JSON.stringify(value))
const rejected = (value: unknown) => {
  const decoded = decode(value)
  if (Either.isRight(decoded)) return assert.fail(`accepted ${JSON.stringify(value)}`)
  return decoded.left
}

describe("loopwire.resume", () => {
  it("decodes, is typed and round-trips", () => {
    const frame = { type: "loopwire.resume", loopwire_request_id: "lwr_7f3c", starting_after: 17 }
    const event = Either.getOrThrow(decode(frame))
    assert.isTrue(ClientEvent.isLoopwireResume(event))
    assert.isFalse(ClientEvent.isResponseCreate(event))
    if (!ClientEvent.isLoopwireResume(event)) return
    assert.strictEqual(event.loopwire_request_id, "lwr_7f3c")
    assert.strictEqual(event.starting_after, 17)
    assert.deepStrictEqual(JSON.parse(Codec.encodeClientEvent(event)), frame)
    const fromStart = Either.getOrThrow(decode({ ...frame, starting_after: Resume.fromTheStart }))
    assert.strictEqual((fromStart as ClientEvent.LoopwireResume).starting_after, -1)
  })

  it("rejects a missing or bad field with a 400 naming it", () => {
    const cases: ReadonlyArray<readonly [Record<string, unknown>, string, string]> = [
      [{ starting_after: 1 }, "loopwire_request_id", "missing_required_parameter"],
      [{ loopwire_request_id: "lwr_1" }, "starting_after", "missing_required_parameter"],
      [{ loopwire_request_id: "", starting_after: 1 }, "loopwire_request_id", "invalid_value"],
      [{ loopwire_request_id: "x".repeat(257), starting_after: 1 }, "loopwire_request_id", "invalid_value"],
      [{ loopwire_request_id: 7, starting_after: 1 }, "loopwire_request_id", "invalid_type"],
      [{ loopwire_request_id: "lwr_1", starting_after: -2 }, "starting_after", "invalid_value"],
      [{ loopwire_request_id: "lwr_1", starting_after: 1.5 }, "starting_after", "invalid_value"],
      [{ loopwire_request_id: "lwr_1", starting_after: "3" }, "starting_after", "invalid_type"]
    ]
    for (const [fields, param, code] of cases) {
      const error = rejected({ type: "loopwire.resume", ...fields })
      assert.strictEqual(error.reason, "InvalidField", JSON.stringify(fields))
      assert.strictEqual(error.param, param, JSON.stringify(fields))
      assert.strictEqual(error.code, code, JSON.stringify(fields))
      const frame = Codec.clientFrameErrorToFrame(error)
      assert.strictEqual(frame.status, 400)
      assert.strictEqual(frame.error.type, "invalid_request_error")
    }
  })

  it.prop("every generated loopwire.resume round-trips", [ClientEvent.LoopwireResume], ([event]) => {
    const decoded = Either.getOrThrow(Codec.decodeClientEvent(Codec.encodeClientEvent(event)))
    assert.deepStrictEqual(decoded, event)
  })
})

describe("loopwire_request_id on response.create", () => {
  it("is a typed optional field, absent when not sent", () => {
    const tagged = Either.getOrThrow(decode({ type: "response.create", input: "hi", loopwire_request_id: "lwr_1" }))
    if (!ClientEvent.isResponseCreate(tagged)) return assert.fail("not a create")
    const id: string | undefined = tagged.loopwire_request_id
    assert.strictEqual(id, "lwr_1")
    const plain = Either.getOrThrow(decode({ type: "response.create", input: "hi" }))
    assert.isFalse("loopwire_request_id" in plain)
    assert.deepStrictEqual(JSON.parse(Codec.encodeClientEvent(tagged)), {
      type: "response.create",
      input: "hi",
      loopwire_request_id: "lwr_1"
    })
  })

  it("must be a non-empty string of at most 256 characters", () => {
    for (const bad of ["", "x".repeat(257), 12, null]) {
      const error = rejected({ type: "response.create", stream_id: "lane", loopwire_request_id: bad })
      assert.strictEqual(error.param, "loopwire_request_id")
      assert.strictEqual(error.streamId, "lane")
    }
    assert.isTrue(Either.isRight(decode({ type: "response.create", loopwire_request_id: "x".repeat(256) })))
  })
})

describe("resume error frames (docs/resume.md §5)", () => {
  it("resume_not_available: 409, param loopwire_request_id, the documented message", () => {
    assert.deepStrictEqual(ProtocolError.resumeNotAvailable("lwr_7f3c"), {
      type: "error",
      status: 409,
      error: {
        type: "invalid_request_error",
        code: "resume_not_available",
        message: "Request 'lwr_7f3c' cannot be resumed: this connection did not resume a previous one.",
        param: "loopwire_request_id"
      }
    })
    const expired = ProtocolError.resumeNotAvailable("lwr_1", "Expired", "lane-2")
    assert.strictEqual(expired.stream_id, "lane-2")
    assert.include(expired.error.message, "lwr_1")
    assert.include(ProtocolError.resumeNotAvailable("lwr_1", "Abandoned").error.message, "gone")
  })

  it("resume_request_unknown: 409, param loopwire_request_id", () => {
    const frame = ProtocolError.resumeRequestUnknown("lwr_9", "a")
    assert.deepStrictEqual(frame, {
      type: "error",
      status: 409,
      error: {
        type: "invalid_request_error",
        code: "resume_request_unknown",
        message: "Request 'lwr_9' was never received by the resumed connection. Send the same response.create again.",
        param: "loopwire_request_id"
      },
      stream_id: "a"
    })
  })

  it("resume_log_truncated: 409, param starting_after", () => {
    assert.deepStrictEqual(ProtocolError.resumeLogTruncated("lwr_2", 17), {
      type: "error",
      status: 409,
      error: {
        type: "invalid_request_error",
        code: "resume_log_truncated",
        message: "Request 'lwr_2' cannot be resumed after event 17: its log no longer holds those events.",
        param: "starting_after"
      }
    })
  })

  it("resume_log_unavailable: 503 server_error", () => {
    const frame = ProtocolError.resumeLogUnavailable("lwr_3")
    assert.strictEqual(frame.status, 503)
    assert.strictEqual(frame.error.type, "server_error")
    assert.strictEqual(frame.error.code, "resume_log_unavailable")
    assert.include(frame.error.message, "lwr_3")
  })

  it("every frame decodes as a server error event with its code", () => {
    for (
      const frame of [
        ProtocolError.resumeNotAvailable("r"),
        ProtocolError.resumeRequestUnknown("r"),
        ProtocolError.resumeLogTruncated("r", 0),
        ProtocolError.resumeLogUnavailable("r")
      ]
    ) {
      const decoded = Either.getOrThrow(Codec.decodeServerEvent(Codec.encodeServerEvent(frame)))
      assert.deepStrictEqual(decoded, frame)
      assert.isTrue(ProtocolError.ErrorCode.literals.includes(frame.error.code as ProtocolError.ErrorCode))
    }
  })
})

describe("resume headers", () => {
  it("names and parsing", () => {
    assert.deepStrictEqual(Resume.ResumeHeaders, {
      token: "loopwire-resume-token",
      grace: "loopwire-resume-grace",
      resumed: "loopwire-resumed"
    })
    assert.strictEqual(Resume.parseGrace("60000"), 60000)
    assert.strictEqual(Resume.parseGrace(["0"]), 0)
    for (const bad of [undefined, "", "-1", "1.5", "soon"]) assert.isUndefined(Resume.parseGrace(bad))
    assert.isTrue(Resume.isResumed("1"))
    for (const no of [undefined, "0", "yes"]) assert.isFalse(Resume.isResumed(no))
  })
})
