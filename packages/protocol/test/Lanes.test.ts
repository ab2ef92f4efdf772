import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import * as ClientEvent from "../src/ClientEvent.js"
import * as Lanes from "../src/Lanes.js"

const name = fc.stringMatching(/^[a-d]{1,2}$/)

describe("Lanes", () => {
  it.prop("a book admits a name once admitted, the default lane always, and at most maxLanes names", [
    fc.integer({ min: 0, max: 5 }),
    fc.array(fc.option(name, { nil: undefined }), { maxLength: 40 })
  ], ([maxLanes, requests]) => {
    const book = new Lanes.LaneBook(maxLanes)
    const admitted = new Set<string>()
    for (const streamId of requests) {
      const answer = book.admit(streamId)
      if (streamId === undefined) {
        assert.strictEqual(answer, "admitted")
        continue
      }
      // The model: admitted iff already admitted or the budget has room.
      const expected = admitted.has(streamId) || admitted.size < maxLanes ? "admitted" : "stream_limit_reached"
      assert.strictEqual(answer, expected)
      if (answer === "admitted") admitted.add(streamId)
      assert.strictEqual(book.size, admitted.size)
    }
    assert.isAtMost(book.size, maxLanes)
    assert.strictEqual(book.admit(Lanes.defaultLane), "admitted")
  })

  it.prop("the lane key is the stream id, or the default lane that no valid id can be", [
    fc.option(fc.string({ maxLength: 300 }), { nil: undefined })
  ], ([streamId]) => {
    const lane = Lanes.laneOf(streamId)
    if (streamId === undefined) assert.strictEqual(lane, Lanes.defaultLane)
    else assert.strictEqual(lane, streamId)
    assert.isFalse(Lanes.isValidStreamId(Lanes.defaultLane))
  })

  it.prop("isValidStreamId is exactly what the StreamId schema accepts", [
    fc.oneof(fc.string({ maxLength: 300 }), fc.stringMatching(/^[A-Za-z0-9_.-]{250,260}$/), fc.anything())
  ], ([value]) => {
    const decoded = Schema.decodeUnknownEither(ClientEvent.StreamId)(value)
    assert.strictEqual(Lanes.isValidStreamId(value), Either.isRight(decoded))
    if (Either.isLeft(decoded) && typeof value === "string") {
      assert.include(String(decoded.left.message), Lanes.invalidStreamIdMessage)
    }
  })
})
