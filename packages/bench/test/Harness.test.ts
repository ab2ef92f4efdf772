import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { BenchError } from "../src/BenchError.js"
import * as Harness from "../src/Harness.js"
import * as Network from "../src/Network.js"
import { type Sample, summarizeTransport, withRatios } from "../src/Results.js"
import type { TransportUnderTest } from "../src/TransportUnderTest.js"
import { makeScenario } from "../src/Workload.js"

const scenario = makeScenario({ toolCalls: 3 })
const turns = (ms: ReadonlyArray<number>, bytes: (i: number) => number) =>
  ms.map((m, index) => ({ index, ms: m, bytesSent: bytes(index), bytesReceived: 10, events: 3, delta: index > 0 }))
const sample = (transport: string, iteration: number, warmup: boolean, ms: ReadonlyArray<number>, e2eMs: number): Sample => ({
  transport,
  iteration,
  warmup,
  e2eMs,
  connectMs: 1,
  cpuUs: 400,
  processCpuUs: 300,
  turns: turns(ms, (i) => 1000 + i * 100)
})

/** A fake transport whose rollouts are recorded, to observe the harness's schedule. */
const fake = (name: string, log: Array<string>, fail = false): TransportUnderTest => ({
  name,
  description: name,
  setup: () =>
    Effect.succeed({
      server: "fake",
      runRollout: (s) =>
        Effect.suspend(() => {
          log.push(name)
          return fail
            ? Effect.fail(new BenchError({ reason: "Protocol", detail: "boom" }))
            : Effect.succeed({ connectMs: 0, turns: turns(Array(s.toolCalls + 1).fill(1), () => 5) })
        })
    })
})

describe("Harness", () => {
  it("rotates the transport order every round", () => {
    assert.deepStrictEqual(Harness.roundOrder(["a", "b", "c"], 0), ["a", "b", "c"])
    assert.deepStrictEqual(Harness.roundOrder(["a", "b", "c"], 1), ["b", "c", "a"])
    assert.deepStrictEqual(Harness.roundOrder(["a", "b", "c"], 5), ["c", "a", "b"])
    assert.deepStrictEqual(Harness.roundOrder([], 3), [])
  })

  it("summarises measured rollouts only, with steady-state per-turn figures and growth", () => {
    const samples = [
      sample("x", 0, true, [100, 100, 100, 100], 999),
      sample("x", 1, false, [9, 1, 2, 3], 20),
      sample("x", 2, false, [9, 1, 2, 3], 30)
    ]
    const r = summarizeTransport(scenario, { transport: "x", description: "x", server: "s", cpuScope: "process" }, samples)
    assert.strictEqual(r.iterations, 2)
    assert.strictEqual(r.turns, 4)
    assert.strictEqual(r.e2eMs, 25)
    assert.strictEqual(r.firstTurnMs, 9)
    assert.strictEqual(r.perTurnMedianMs, 2)
    assert.strictEqual(r.perTurnP99Ms, 3)
    assert.strictEqual(r.slopeMsPerTurn, 1)
    assert.strictEqual(r.slopeBytesPerTurn, 100)
    assert.deepStrictEqual(r.perTurnByIndexMs, [9, 1, 2, 3])
    assert.strictEqual(r.bytesSentPerTurn, 1150)
    assert.strictEqual(r.cpuPerTurnUs, 100)
    assert.strictEqual(r.processCpuPerTurnUs, 75)
    assert.strictEqual(r.deltaRatio, 0.75)
  })

  it("computes ratios against the floor and the stateless client, and none against a failed reference", () => {
    const info = (transport: string) => ({ transport, description: transport, server: "s", cpuScope: "process" as const })
    const results = withRatios([
      summarizeTransport(scenario, info("http-full"), [sample("http-full", 0, false, [1, 4, 4, 4], 40)]),
      summarizeTransport(scenario, info("floor"), [sample("floor", 0, false, [1, 2, 2, 2], 20)]),
      summarizeTransport(scenario, info("other"), [sample("other", 0, false, [1, 3, 3, 3], 30)])
    ])
    const other = results.find((r) => r.transport === "other")!
    assert.strictEqual(other.ratios.e2eVsFloor, 1.5)
    assert.strictEqual(other.ratios.e2eVsHttpFull, 0.75)
    assert.strictEqual(other.ratios.perTurnMedianVsFloor, 1.5)
    assert.strictEqual(results.find((r) => r.transport === "floor")!.ratios.e2eVsFloor, 1)
    const noFloor = withRatios([
      summarizeTransport(scenario, info("floor"), [], "set-up failed"),
      summarizeTransport(scenario, info("other"), [sample("other", 0, false, [1, 3, 3, 3], 30)])
    ])
    assert.isNull(noFloor.find((r) => r.transport === "other")!.ratios.e2eVsFloor)
  })

  it.effect("interleaves transports per round, discards warm-ups, and keeps going when one fails", () =>
    Effect.scoped(Effect.gen(function*() {
      const log: Array<string> = []
      const lines: Array<string> = []
      const prepared = yield* Harness.prepare(
        [fake("a", log), fake("b", log), fake("bad", log, true)],
        { network: Network.loopback, scenario },
        (line) => lines.push(line)
      )
      const result = yield* Harness.runScenario(prepared, scenario, {
        iterations: 2,
        warmup: 1,
        network: "loopback",
        timeoutMs: 10_000,
        progress: (line) => lines.push(line)
      })
      // Round 0: a b bad; round 1: b (bad dropped) a; round 2: a b.
      assert.deepStrictEqual(log, ["a", "b", "bad", "b", "a", "a", "b"])
      const [a, b, bad] = result.transports
      assert.strictEqual(a!.iterations, 2)
      assert.strictEqual(b!.iterations, 2)
      assert.include(bad!.error!, "boom")
      assert.strictEqual(lines.filter((l) => l.startsWith(scenario.id)).length, 3)
    })))
})
