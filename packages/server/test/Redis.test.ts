import { assert, describe, it } from "@effect/vitest"
import * as Retry from "@loopwire/protocol/Retry"
import * as Redis from "@loopwire/server/Redis"

describe("Redis reconnect delay", () => {
  it("is the protocol's one backoff: from 100 ms, doubling, capped, with its jitter", () => {
    for (const random of [0, 0.25, 0.5, 0.999]) {
      const delay = Redis.reconnectDelay(2_000, () => random)
      for (let times = 1; times <= 20; times++) {
        assert.strictEqual(
          delay(times),
          Retry.backoffMillis({ initialMillis: 100, maxMillis: 2_000 }, times - 1, random)
        )
      }
    }
    assert.strictEqual(Redis.reconnectDelay(2_000, () => 0)(1), 100)
    assert.strictEqual(Redis.reconnectDelay(2_000, () => 0)(50), 2_000)
    // Jittered: two processes that lost the same Redis do not retry in step.
    assert.isBelow(Redis.reconnectDelay(2_000, () => 0.999)(50), 2_000)
  })
})
