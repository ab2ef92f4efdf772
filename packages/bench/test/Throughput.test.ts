import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Prepared } from "../src/Harness.js"
import * as Throughput from "../src/Throughput.js"
import { makeScenario } from "../src/Workload.js"

/** A prepared fake whose rollouts take no time to set up and report the given event count per turn. */
const fake = (name: string, events: number, calls: Array<string>): Prepared => ({
  transport: { name, description: name, setup: () => Effect.die("unused") },
  setupError: undefined,
  runner: {
    server: "fake",
    runRollout: (scenario) =>
      Effect.sync(() => {
        calls.push(name)
        return {
          connectMs: 0,
          turns: Array.from({ length: scenario.toolCalls + 1 }, (_, index) => ({
            index,
            ms: 2,
            bytesSent: 10,
            bytesReceived: events * 100,
            events,
            delta: index > 0
          }))
        }
      })
  }
})

describe("Throughput", () => {
  it.effect("streaming reports events per second, and no rate for a transport that counts no events", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const results = yield* Throughput.streaming([fake("counts", 1000, calls), fake("blind", 0, calls)], {
        events: 1000,
        iterations: 2,
        warmup: 1,
        timeoutMs: 10_000,
        progress: () => {}
      })
      const [counts, blind] = results
      assert.strictEqual(counts!.iterations, 2)
      assert.strictEqual(counts!.eventsPerSecond, 500_000)
      assert.strictEqual(counts!.mbPerSecond, 50)
      assert.isNull(blind!.eventsPerSecond)
      assert.include(blind!.error!, "does not report event counts")
      assert.strictEqual(Throughput.streamingScenario(1000).textDeltas, 1000)
    }))

  it.effect("concurrent loops run every loop of every level and count all their turns", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const results = yield* Throughput.concurrency([fake("a", 5, calls), fake("b", 5, calls)], {
        levels: [1, 4],
        scenario: makeScenario({ toolCalls: 2 }),
        timeoutMs: 10_000,
        progress: () => {},
        fdLimit: null
      })
      // One warm-up each, then 1 and 4 rollouts each.
      assert.strictEqual(calls.length, 2 + 2 * (1 + 4))
      assert.deepStrictEqual(results.map((r) => [r.transport, r.concurrency, r.rollouts, r.turns]), [
        ["a", 1, 1, 3],
        ["b", 1, 1, 3],
        ["b", 4, 4, 12],
        ["a", 4, 4, 12]
      ])
    }))

  it.effect("lowers a concurrency level that does not fit the descriptor limit, and says so", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const lines: Array<string> = []
      const [result] = yield* Throughput.concurrency([fake("a", 5, calls)], {
        levels: [4],
        scenario: makeScenario({ toolCalls: 1 }),
        timeoutMs: 10_000,
        progress: (line) => lines.push(line),
        fdLimit: 256 + 2 * 2
      })
      assert.strictEqual(result!.requestedConcurrency, 4)
      assert.strictEqual(result!.concurrency, 2)
      assert.strictEqual(result!.rollouts, 2)
      assert.include(result!.degraded!, "ulimit -n is 260")
      assert.isTrue(lines.some((l) => l.includes("ulimit -n is 260")))
    }))
})
