import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Retry from "../src/Retry.js"

const policy = fc.record({ initialMillis: fc.integer({ min: 0, max: 10_000 }), maxMillis: fc.integer({ min: 0, max: 120_000 }) })
const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

describe("Retry.backoffMillis", () => {
  it.prop("stays within (0.75, 1] of the capped exponential delay", [policy, fc.integer({ min: 0, max: 64 }), draw], ([p, attempt, random]) => {
    const nominal = Math.min(p.initialMillis * 2 ** Math.min(attempt, 30), p.maxMillis)
    const delay = Retry.backoffMillis(p, attempt, random)
    assert.isTrue(delay <= nominal, `${delay} > ${nominal}`)
    assert.isTrue(delay >= Math.floor(nominal * 0.75), `${delay} < 0.75 × ${nominal}`)
  })

  it.prop("never decreases with the attempt for the same draw", [policy, fc.integer({ min: 0, max: 40 }), draw], ([p, attempt, random]) => {
    assert.isTrue(Retry.backoffMillis(p, attempt + 1, random) >= Retry.backoffMillis(p, attempt, random))
  })

  it("doubles from the first delay up to the cap (the SDKs' 0.5 s → 8 s)", () => {
    const sdk = { initialMillis: 500, maxMillis: 8000 }
    assert.deepStrictEqual([0, 1, 2, 3, 4, 5, 40].map((a) => Retry.backoffMillis(sdk, a, 0)), [500, 1000, 2000, 4000, 8000, 8000, 8000])
    assert.strictEqual(Retry.backoffMillis(sdk, 0, 0.9999), 375)
    // Out-of-range inputs are clamped rather than producing a negative or NaN delay.
    assert.strictEqual(Retry.backoffMillis(sdk, -3, Number.NaN), 500)
    assert.strictEqual(Retry.backoffMillis({ initialMillis: -1, maxMillis: 10 }, 2, 0.5), 0)
  })
})

describe("Retry.delayMillis", () => {
  it.prop("a server hint wins, capped at 60 s", [policy, fc.nat(10), draw, fc.integer({ min: 0, max: 200_000 })], ([p, attempt, random, hint]) => {
    assert.strictEqual(Retry.delayMillis(p, attempt, random, hint), Math.min(hint, Retry.MAX_RETRY_AFTER_MILLIS))
  })

  it.prop("without a usable hint it is the backoff", [policy, fc.nat(10), draw, fc.constantFrom(undefined, -1, Number.NaN, Infinity)], ([p, attempt, random, hint]) => {
    assert.strictEqual(Retry.delayMillis(p, attempt, random, hint), Retry.backoffMillis(p, attempt, random))
  })
})

describe("Retry-After", () => {
  it.prop("delay-seconds round-trip to milliseconds", [fc.integer({ min: 0, max: 86_400 })], ([seconds]) => {
    assert.strictEqual(Retry.parseRetryAfter(String(seconds), 0), seconds * 1000)
    assert.strictEqual(Retry.parseRetryAfter(` ${seconds} `, 0), seconds * 1000)
  })

  it.prop("an HTTP date counts from now, and a past one is 0", [fc.integer({ min: 0, max: 10_000 })], ([seconds]) => {
    const now = Date.UTC(2026, 0, 1)
    const date = new Date(now + seconds * 1000).toUTCString()
    assert.strictEqual(Retry.parseRetryAfter(date, now), seconds * 1000)
    assert.strictEqual(Retry.parseRetryAfter(date, now + seconds * 1000 + 5000), 0)
  })

  it("rejects what is neither", () => {
    for (const value of [undefined, "", "soon", "-5"]) assert.strictEqual(Retry.parseRetryAfter(value, 0), undefined)
    assert.strictEqual(Retry.parseRetryAfter("1.5", 0), 1500)
  })

  it("reads retry-after-ms first, then retry-after, case-insensitively", () => {
    assert.strictEqual(Retry.retryAfterMillis({ "Retry-After-Ms": "250", "retry-after": "3" }, 0), 250)
    assert.strictEqual(Retry.retryAfterMillis({ "RETRY-AFTER": 2 }, 0), 2000)
    assert.strictEqual(Retry.retryAfterMillis({ "retry-after-ms": "x", "retry-after": "1" }, 0), 1000)
    assert.strictEqual(Retry.retryAfterMillis({ "content-type": "text/plain" }, 0), undefined)
    assert.strictEqual(Retry.retryAfterMillis(undefined, 0), undefined)
  })
})
