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

// The value of the sample line `series` (name and labels exactly as exposed), 0 when absent.
const sample = (text: string, series: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

describe("Metrics", () => {
  it.scoped("the exposition has HELP and TYPE lines, _total counters, up-down gauges and histograms in seconds", () =>
    Effect.gen(function*() {
      const exposition = yield* Metrics.makeExposition({ process: false })
      const counter = Metric.counter("loopwire_test_things", { description: "Things counted.", incremental: true })
      const gauge = Metric.counter("loopwire_test_open", { description: "Things open." })
      const histogram = Metric.tagged(Metrics.responseDuration, "mode", "test")
      yield* Metric.incrementBy(counter, 2)
      yield* Metric.incrementBy(gauge, 3)
      yield* Metric.incrementBy(gauge, -1)
      yield* Metric.update(histogram, 0.003)
      const text = yield* exposition.text
      assert.include(text, "# HELP loopwire_test_things_total Things counted.")
      assert.include(text, "# TYPE loopwire_test_things_total counter")
      assert.strictEqual(sample(text, "loopwire_test_things_total"), 2)
      assert.include(text, "# TYPE loopwire_test_open gauge")
      assert.strictEqual(sample(text, "loopwire_test_open"), 2)
      assert.include(text, "# TYPE loopwire_response_duration_seconds histogram")
      assert.strictEqual(sample(text, `loopwire_response_duration_seconds_bucket{mode="test",le="0.002"}`), 0)
      assert.strictEqual(sample(text, `loopwire_response_duration_seconds_bucket{mode="test",le="0.004"}`), 1)
      assert.strictEqual(sample(text, `loopwire_response_duration_seconds_count{mode="test"}`), 1)
    }))

  it.scoped("the process metrics are exported beside the gateway's", () =>
    Effect.gen(function*() {
      const text = yield* (yield* Metrics.makeExposition()).text
      assert.include(text, "# TYPE process_cpu_time_total counter")
      assert.include(text, "# TYPE process_memory_usage gauge")
      assert.include(text, "# TYPE nodejs_eventloop_utilization gauge")
      assert.include(text, "# TYPE v8js_memory_heap_used gauge")
    }))

  it.effect("the store counts reads (and their hits) and writes", () =>
    Effect.gen(function*() {
      const read = Effect.map(Metrics.text, (text) => ({
        reads: sample(text, `loopwire_response_store_reads_total{store="memory"}`),
        hits: sample(text, `loopwire_response_store_hits_total{store="memory"}`),
        writes: sample(text, `loopwire_response_store_writes_total{store="memory"}`)
      }))
      const before = yield* read
      const store = yield* ResponseStore.makeMemory()
      yield* store.put("t", record("resp_1"))
      assert.isTrue(Option.isSome(yield* store.get("t", "resp_1")))
      assert.isTrue(Option.isNone(yield* store.get("other", "resp_1")))
      const after = yield* read
      assert.strictEqual(after.reads, before.reads + 2)
      assert.strictEqual(after.hits, before.hits + 1)
      assert.strictEqual(after.writes, before.writes + 1)
    }))
})
