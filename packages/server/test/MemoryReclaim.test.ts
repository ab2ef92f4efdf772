import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MemoryReclaim from "../src/MemoryReclaim.js"

const mib = 1024 * 1024

describe("MemoryReclaim", () => {
  it("collects only when idle with a heap grown past both thresholds", () => {
    const base = { utilization: 0.01, baseline: 100 * mib }
    assert.isTrue(MemoryReclaim.shouldCollect({ ...base, heapUsed: 130 * mib }))
    // Busy: the load is still on.
    assert.isFalse(MemoryReclaim.shouldCollect({ ...base, utilization: 0.5, heapUsed: 300 * mib }))
    // Grown, but less than 20% of the baseline.
    assert.isFalse(MemoryReclaim.shouldCollect({ ...base, heapUsed: 118 * mib }))
    // Grown by 20%, but less than 16 MiB.
    assert.isFalse(MemoryReclaim.shouldCollect({ utilization: 0, baseline: 20 * mib, heapUsed: 30 * mib }))
  })

  it("gets V8's collector without a command-line flag", () => {
    assert.strictEqual(typeof MemoryReclaim.collector(), "function")
  })

  it.scopedLive("an idle process whose heap grew gets one collection; a busy one none", () =>
    Effect.gen(function*() {
      const count = () => Effect.map(Metric.value(MemoryReclaim.metrics.collections), (v) => v.count)
      let heap = 100 * mib
      const before = yield* count()
      yield* MemoryReclaim.start({ interval: "100 millis", heapUsed: () => heap, followUps: 0 })
      // Busy: the loop is kept running while the heap grows; no collection.
      heap = 200 * mib
      const busyUntil = Date.now() + 500
      while (Date.now() < busyUntil) {
        yield* Effect.yieldNow()
      }
      assert.strictEqual((yield* count()) - before, 0)
      // Idle with the grown heap: one collection (its reading becomes the baseline, so only one).
      for (let i = 0; i < 100 && (yield* count()) === before; i++) yield* Effect.sleep("50 millis")
      assert.strictEqual((yield* count()) - before, 1)
      yield* Effect.sleep("500 millis")
      assert.strictEqual((yield* count()) - before, 1)
    }))

  it.scopedLive("a grown-heap collection is followed by the configured follow-ups, each twice as late, then none", () =>
    Effect.gen(function*() {
      const count = () => Effect.map(Metric.value(MemoryReclaim.metrics.collections), (v) => v.count)
      let heap = 100 * mib
      const before = yield* count()
      yield* MemoryReclaim.start({
        interval: "20 millis",
        heapUsed: () => heap,
        followUps: 2,
        followUpDelay: "200 millis"
      })
      yield* Effect.sleep("60 millis")
      // Grown, idle: one collection; the heap it leaves is its baseline, so only follow-ups can come after it.
      heap = 200 * mib
      for (let i = 0; i < 100 && (yield* count()) === before; i++) yield* Effect.sleep("10 millis")
      assert.strictEqual((yield* count()) - before, 1)
      for (let i = 0; i < 200 && (yield* count()) - before < 2; i++) yield* Effect.sleep("10 millis")
      assert.strictEqual((yield* count()) - before, 2)
      for (let i = 0; i < 300 && (yield* count()) - before < 3; i++) yield* Effect.sleep("10 millis")
      assert.strictEqual((yield* count()) - before, 3)
      // Both follow-ups done (200 ms, then 400 ms): none after them.
      yield* Effect.sleep("1500 millis")
      assert.strictEqual((yield* count()) - before, 3)
    }))
})
