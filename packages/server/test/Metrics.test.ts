import { assert, describe, it } from "@effect/vitest"
import * as ChainContext from "@loopwire/server/ChainContext"
import * as Metrics from "@loopwire/server/Metrics"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import { Effect, Metric, Option } from "effect"

const record = (id: string): ResponseStore.StoredResponse => ({
  response: { id, object: "response", created_at: 1, status: "completed", model: "scripted", output: [] },
  context: ChainContext.empty,
  turn: 0,
  request: { type: "response.create", model: "scripted" }
})

const value = (name: string) => Effect.map(Metrics.text, (text) => Metrics.parse(text).get(name) ?? 0)

describe("Metrics", () => {
  it.effect("format: a TYPE line per name, labels escaped, values; parse reads it back", () =>
    Effect.sync(() => {
      const text = Metrics.format([
        { name: "a_total", tags: [["backend", "scripted"]], kind: "counter", value: 3 },
        { name: "a_total", tags: [["backend", "up\"stream"]], kind: "counter", value: 1 },
        { name: "b", tags: [], kind: "gauge", value: 0.5 }
      ])
      assert.strictEqual(
        text,
        "# TYPE a_total counter\na_total{backend=\"scripted\"} 3\na_total{backend=\"up\\\"stream\"} 1\n# TYPE b gauge\nb 0.5\n"
      )
      const parsed = Metrics.parse(text)
      assert.strictEqual(parsed.get("a_total{backend=\"scripted\"}"), 3)
      assert.strictEqual(parsed.get("b"), 0.5)
      assert.strictEqual(parsed.size, 3)
    }))

  it.effect("text lists the process's counters", () =>
    Effect.gen(function*() {
      const counter = Metric.counter("loopwire_test_metrics_counter", { incremental: true })
      yield* Metric.incrementBy(counter, 2)
      assert.strictEqual(yield* value("loopwire_test_metrics_counter"), 2)
    }))

  it.effect("the store counts reads (and their hits) and writes", () =>
    Effect.gen(function*() {
      const name = (kind: string) => `loopwire_response_store_${kind}{store="memory"}`
      const before = { reads: yield* value(name("reads")), hits: yield* value(name("hits")), writes: yield* value(name("writes")) }
      const store = yield* ResponseStore.makeMemory()
      yield* store.put("t", record("resp_1"))
      assert.isTrue(Option.isSome(yield* store.get("t", "resp_1")))
      assert.isTrue(Option.isNone(yield* store.get("other", "resp_1")))
      assert.strictEqual(yield* value(name("reads")), before.reads + 2)
      assert.strictEqual(yield* value(name("hits")), before.hits + 1)
      assert.strictEqual(yield* value(name("writes")), before.writes + 1)
    }))
})
