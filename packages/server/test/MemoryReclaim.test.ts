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

  it.scopedLive("an idle process whose heap grew gets one collection, and its garbage is freed", () =>
    Effect.gen(function*() {
      const before = (yield* Metric.value(MemoryReclaim.metrics.collections)).count
      yield* MemoryReclaim.start({ interval: "200 millis", minGrowthBytes: 8 * mib, minGrowthRatio: 0 })
      // Garbage: allocated and dropped at once, then the loop stays idle.
      let garbage: Array<{ readonly s: string }> | undefined = Array.from({ length: 400_000 }, (_, i) => ({ s: `x${i}` }))
      garbage = undefined
      void garbage
      for (let i = 0; i < 50 && (yield* Metric.value(MemoryReclaim.metrics.collections)).count === before; i++) {
        yield* Effect.sleep("200 millis")
      }
      assert.isAbove((yield* Metric.value(MemoryReclaim.metrics.collections)).count, before)
      assert.isAbove((yield* Metric.value(MemoryReclaim.metrics.freed)).count, 8 * mib)
    }))
})
