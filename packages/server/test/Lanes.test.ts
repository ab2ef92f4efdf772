import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Lanes from "../src/Lanes.js"

const lanes = ["", "a", "b", "c", "d"]

// An operation: submit a job on a lane, or complete the running job of the n-th busy lane.
const op = FastCheck.oneof(
  FastCheck.record({ kind: FastCheck.constant("submit" as const), lane: FastCheck.constantFrom(...lanes) }),
  FastCheck.record({ kind: FastCheck.constant("complete" as const), pick: FastCheck.nat(10) })
)

describe("Lanes.Scheduler", () => {
  it.prop(
    "FIFO per lane, one job per lane, at most maxInFlight, and work-conserving",
    { max: FastCheck.integer({ min: 1, max: 4 }), ops: FastCheck.array(op, { maxLength: 80 }) },
    ({ max, ops }) => {
      const scheduler = new Lanes.Scheduler<number>(max)
      const running = new Map<string, number>()
      const submitted = new Map<string, Array<number>>()
      const startedPerLane = new Map<string, Array<number>>()
      let next = 0
      const apply = (started: ReadonlyArray<Lanes.Started<number>>) => {
        for (const { job, lane } of started) {
          assert.isFalse(running.has(lane), "a lane never runs two jobs")
          running.set(lane, job)
          const list = startedPerLane.get(lane) ?? []
          list.push(job)
          startedPerLane.set(lane, list)
        }
        assert.isAtMost(running.size, max)
        assert.strictEqual(scheduler.inFlight, running.size)
        // Work-conserving: if a slot is free, no waiting job belongs to an idle lane.
        const waiting = [...submitted.entries()].some(([lane, jobs]) =>
          jobs.length > (startedPerLane.get(lane)?.length ?? 0) && !running.has(lane)
        )
        if (running.size < max) assert.isFalse(waiting, "an idle lane with waiting work while a slot is free")
      }
      for (const o of ops) {
        if (o.kind === "submit") {
          const job = next++
          const list = submitted.get(o.lane) ?? []
          list.push(job)
          submitted.set(o.lane, list)
          apply(scheduler.submit(o.lane, job))
        } else {
          const busy = [...running.keys()]
          if (busy.length === 0) continue
          const lane = busy[o.pick % busy.length]!
          running.delete(lane)
          apply(scheduler.complete(lane))
        }
      }
      // FIFO: each lane started a prefix of its submissions, in order.
      for (const [lane, started] of startedPerLane) {
        assert.deepStrictEqual(started, submitted.get(lane)!.slice(0, started.length))
      }
    }
  )

  it("starts the earliest waiting job of an idle lane when a slot frees", () => {
    const scheduler = new Lanes.Scheduler<string>(1)
    assert.deepStrictEqual(scheduler.submit("a", "a1"), [{ lane: "a", job: "a1" }])
    assert.deepStrictEqual(scheduler.submit("a", "a2"), [])
    assert.deepStrictEqual(scheduler.submit("b", "b1"), [])
    assert.strictEqual(scheduler.queued, 2)
    // a2 was first, and lane a is idle again.
    assert.deepStrictEqual(scheduler.complete("a"), [{ lane: "a", job: "a2" }])
    assert.deepStrictEqual(scheduler.complete("a"), [{ lane: "b", job: "b1" }])
    assert.deepStrictEqual(scheduler.complete("b"), [])
    assert.strictEqual(scheduler.inFlight, 0)
  })
})

describe("Lanes.LaneBook", () => {
  it("counts distinct named lanes for the connection's lifetime; the default lane is free", () => {
    const book = new Lanes.LaneBook(2)
    assert.strictEqual(book.admit("a"), "admitted")
    assert.strictEqual(book.admit(undefined), "admitted")
    assert.strictEqual(book.admit("b"), "admitted")
    assert.strictEqual(book.admit("a"), "admitted")
    assert.strictEqual(book.admit("c"), "stream_limit_reached")
    assert.strictEqual(book.admit(undefined), "admitted")
    assert.strictEqual(book.size, 2)
  })
})
