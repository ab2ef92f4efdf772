import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as fc from "effect/FastCheck"
import * as ReconnectPolicy from "../src/ReconnectPolicy.js"

const closeCode = fc.oneof(
  fc.constantFrom(1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015),
  fc.integer({ min: 3000, max: 4999 }),
  fc.integer({ min: 0, max: 65535 })
)

const outcome: fc.Arbitrary<ReconnectPolicy.Outcome> = fc.oneof(
  closeCode.map((code) => ({ _tag: "Closed" as const, code })),
  fc.constant({ _tag: "NetworkError" as const }),
  fc.record({
    status: fc.oneof(
      fc.constantFrom(401, 403, 404, 408, 426, 429, 500, 502, 503, 504),
      fc.integer({ min: 100, max: 599 })
    )
  }).map(({ status }) => ({ _tag: "Refused" as const, status }))
)

const policy: fc.Arbitrary<ReconnectPolicy.Policy> = fc.record({
  base: fc.integer({ min: 1, max: 2_000 }),
  max: fc.integer({ min: 1, max: 60_000 }),
  factor: fc.double({ min: 1, max: 4, noNaN: true }),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  maxAttempts: fc.integer({ min: 0, max: 12 })
}).map(({ base, factor, jitter, max, maxAttempts }) =>
  ReconnectPolicy.make({
    baseDelay: Duration.millis(base),
    maxDelay: Duration.millis(Math.max(base, max)),
    factor,
    jitter,
    maxAttempts
  })
)

const unrecoverableCodes = [1000, 1002, 1003, 1007, 1008, 1009, 1010, 1014]

describe("ReconnectPolicy", () => {
  it.prop(
    "never retries what is not recoverable, stays within its bounds, and never exceeds the attempt budget",
    [
      fc.oneof(fc.constant(ReconnectPolicy.defaultPolicy), policy),
      fc.array(fc.tuple(outcome, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })), { maxLength: 40 })
    ],
    ([p, run]) => {
      // Apply the policy the way a supervisor does: count retries in a row, stop at the first Stop.
      let attempt = 0
      for (const [o, random] of run) {
        attempt++
        const decision = ReconnectPolicy.decide(p, o, attempt, random)
        if (o._tag === "Closed" && (unrecoverableCodes.includes(o.code) || (o.code >= 3000 && o.code <= 4999))) {
          assert.strictEqual(decision._tag, "Stop")
        }
        if (o._tag === "Refused" && [401, 403, 404, 426].includes(o.status)) assert.strictEqual(decision._tag, "Stop")
        if (decision._tag === "Stop") {
          if (ReconnectPolicy.isRecoverable(o, p)) assert.isAbove(attempt, p.maxAttempts)
          break
        }
        assert.isTrue(ReconnectPolicy.isRecoverable(o, p))
        assert.isAtMost(attempt, p.maxAttempts)
        assert.strictEqual(decision.attempt, attempt)
        const millis = Duration.toMillis(decision.delay)
        const nominal = Duration.toMillis(ReconnectPolicy.nominalDelay(p, attempt))
        assert.isAtMost(millis, Duration.toMillis(p.maxDelay) + 0.5)
        assert.isAtMost(millis, nominal + 0.5)
        assert.isAtLeast(millis, nominal * (1 - p.jitter) - 0.5)
        assert.isAtLeast(millis, Math.min(Duration.toMillis(p.baseDelay), nominal) * (1 - p.jitter) - 0.5)
      }
    }
  )

  it.prop(
    "the nominal delay grows monotonically and is capped",
    [policy, fc.integer({ min: 1, max: 100 })],
    ([p, attempt]) => {
      const a = Duration.toMillis(ReconnectPolicy.nominalDelay(p, attempt))
      const b = Duration.toMillis(ReconnectPolicy.nominalDelay(p, attempt + 1))
      assert.isAtMost(a, b)
      assert.isAtMost(b, Duration.toMillis(p.maxDelay))
    }
  )

  it("the default schedule runs 0.5 s, 1 s, 2 s, 4 s, 8 s with no jitter drawn, then gives up", () => {
    const delays = [1, 2, 3, 4, 5].map((attempt) =>
      ReconnectPolicy.decide(ReconnectPolicy.defaultPolicy, { _tag: "Closed", code: 1006 }, attempt, 0)
    )
    assert.deepStrictEqual(
      delays.map((d) => d._tag === "Retry" ? Duration.toMillis(d.delay) : -1),
      [500, 1000, 2000, 4000, 8000]
    )
    assert.deepStrictEqual(
      ReconnectPolicy.decide(ReconnectPolicy.defaultPolicy, { _tag: "NetworkError" }, 6, 0),
      { _tag: "Stop", reason: "AttemptsExhausted" }
    )
  })

  it("honours Retry-After on retryable refusals and stops when it is too long", () => {
    const p = ReconnectPolicy.defaultPolicy
    const wait = ReconnectPolicy.decide(p, { _tag: "Refused", status: 503, retryAfterMillis: 3000 }, 1, 0.5)
    assert.isTrue(wait._tag === "Retry" && Duration.toMillis(wait.delay) === 3000)
    assert.deepStrictEqual(
      ReconnectPolicy.decide(p, { _tag: "Refused", status: 429, retryAfterMillis: 120_000 }, 1, 0),
      { _tag: "Stop", reason: "RetryAfterTooLong" }
    )
    assert.strictEqual(ReconnectPolicy.parseRetryAfter("2", 0), 2000)
    assert.strictEqual(ReconnectPolicy.parseRetryAfter("Thu, 01 Jan 1970 00:00:05 GMT", 1000), 4000)
    assert.isUndefined(ReconnectPolicy.parseRetryAfter("soon", 0))
  })
})
