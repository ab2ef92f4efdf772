import { assert, describe, it } from "@effect/vitest"
import type { ServerEvent } from "@loopwire/protocol/ServerEvent"
import { FastCheck as fc } from "effect"
import * as Arbitraries from "../src/Arbitraries.js"
import type { Frame } from "../src/internal/probe.js"
import * as V from "../src/internal/validate.js"

const frames = (events: ReadonlyArray<ServerEvent>): Array<Frame> =>
  events.map((event, index) => {
    const text = JSON.stringify(event)
    return { index, text, json: JSON.parse(text), event }
  })

const runs = { fastCheck: { numRuns: 60 } }
const lane = "lane-1"
const stream = Arbitraries.responseEvents(Arbitraries.finalResponse, lane)

describe("the check logic accepts every well-formed stream", () => {
  it.prop("a response's events cut by the protocol pass every judgement", [stream], ([events]) => {
    const fs = frames(events)
    assert.isUndefined(V.responseStream(fs, { success: true, what: "r" }))
    assert.isUndefined(V.sequenceNumbers(fs, "r"))
    assert.isUndefined(V.laneEcho(fs, lane, "r"))
    assert.isUndefined(V.accumulates(fs, "r"))
  }, runs)
})

describe("and rejects each kind of breakage", () => {
  it.prop("a sequence number that does not increase", [stream, fc.nat()], ([events, k]) => {
    const i = 1 + (k % (events.length - 1))
    const broken = events.map((e, j) => (j === i ? { ...e, sequence_number: events[i - 1]!.sequence_number! } : e))
    assert.include(V.sequenceNumbers(frames(broken), "r"), "does not increase")
  }, runs)

  it.prop("an event without the lane's stream_id", [stream, fc.nat()], ([events, k]) => {
    const i = k % events.length
    const broken = events.map((e, j) => {
      if (j !== i) return e
      const { stream_id: _, ...rest } = e
      return rest as ServerEvent
    })
    assert.include(V.laneEcho(frames(broken), lane, "r"), "expected \"lane-1\"")
  }, runs)

  it.prop("a frame after the terminal event, or a second terminal", [stream, fc.boolean()], ([events, twice]) => {
    const last = events[events.length - 1]!
    const extra: ServerEvent = twice ?
      last :
      { type: "response.output_text.delta", item_id: "x", output_index: 0, content_index: 0, delta: "late" }
    const problem = V.responseStream(frames([...events, extra]), { success: true, what: "r" })
    assert.isDefined(problem)
  }, runs)

  it.prop("a stream that does not start with response.created", [stream], ([events]) => {
    assert.include(V.responseStream(frames(events.slice(1)), { success: true, what: "r" }), "expected 'response.created'")
  }, runs)

  it("an error frame with the wrong fields names each difference", () => {
    const [frame] = frames([{
      type: "error",
      status: 404,
      error: { type: "invalid_request_error", code: "not_found", message: "gone", param: null }
    }])
    const problem = V.errorFrame(frame!, {
      status: 400,
      type: "invalid_request_error",
      code: "previous_response_not_found",
      param: "previous_response_id",
      message: "Previous response with id 'x' not found.",
      streamId: "a"
    }, "r")
    for (const part of ["status 404", "error.code \"not_found\"", "error.param null", "error.message \"gone\"", "stream_id absent"]) {
      assert.include(problem, part)
    }
  })
})
