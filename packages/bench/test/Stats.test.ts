import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { median, percentile, ratio, round, slope, summarize } from "../src/Stats.js"

describe("Stats", () => {
  it("percentile is nearest-rank and never invents a value", () => {
    const xs = [5, 1, 4, 2, 3]
    assert.strictEqual(percentile(xs, 0), 1)
    assert.strictEqual(percentile(xs, 50), 3)
    assert.strictEqual(percentile(xs, 99), 5)
    assert.strictEqual(percentile(xs, 100), 5)
    assert.isNaN(percentile([], 50))
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 50 }),
        FastCheck.integer({ min: 0, max: 100 }),
        (samples, p) => samples.includes(percentile(samples, p))
      )
    )
  })

  it("median averages the middle pair", () => {
    assert.strictEqual(median([3, 1, 2]), 2)
    assert.strictEqual(median([4, 1, 3, 2]), 2.5)
    assert.isNaN(median([]))
  })

  it("slope recovers a line and is 0 for a constant", () => {
    assert.closeTo(slope([0, 1, 2, 3], [1, 3, 5, 7]), 2, 1e-12)
    assert.strictEqual(slope([0, 1, 2], [4, 4, 4]), 0)
    assert.isNaN(slope([1], [1]))
    assert.isNaN(slope([1, 2], [1]))
  })

  it("ratio is absent against a missing or non-positive reference", () => {
    assert.strictEqual(ratio(3, 2), 1.5)
    assert.isNull(ratio(3, 0))
    assert.isNull(ratio(undefined, 2))
    assert.isNull(ratio(Number.NaN, 2))
  })

  it("summarize and round keep NaN out of reports", () => {
    const s = summarize([1, 2, 3, 4])
    assert.deepStrictEqual([s.count, s.min, s.max, s.median, s.mean], [4, 1, 4, 2.5, 2.5])
    assert.strictEqual(summarize([]).count, 0)
    assert.isNull(round(Number.NaN))
    assert.strictEqual(round(1.23456, 2), 1.23)
  })
})
