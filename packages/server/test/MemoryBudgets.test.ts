/**
 * What a client can make the gateway hold is bounded in bytes (issue 16, items 3 and 4), over real sockets:
 * creates pipelined past the per-connection request budget get 429 `request_bytes_limit_reached` and the
 * connection keeps serving; `store: true` creates far past the store's budget keep the store within it (the
 * oldest go first), and the gateway keeps answering. (The 4 GB flood against `loopwire serve` with its RSS is in
 * `test/fault-suite.test.ts`.)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Faults from "@loopwire/testkit/Faults"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as WS from "ws"
import * as Gateway from "../src/Gateway.js"
import * as ResponseStore from "../src/ResponseStore.js"
import * as StateCache from "../src/StateCache.js"

// A socket of tenant `key`'s that runs one create at a time and yields its terminal event (or error code).
const socketOf = (url: string, key: string) =>
  Effect.gen(function*() {
    const ws = new WS.WebSocket(url, { headers: { authorization: `Bearer ${key}` } })
    yield* Effect.async<void>((resume) => void ws.on("open", () => resume(Effect.void)))
    yield* Effect.addFinalizer(() => Effect.sync(() => ws.terminate()))
    return (create: Record<string, unknown>) =>
      Effect.async<{ readonly outcome: string; readonly id: string | undefined }>((resume) => {
        const onMessage = (data: WS.RawData) => {
          const event = JSON.parse(String(data))
          if (event.type === "response.completed" || event.type === "error") {
            ws.off("message", onMessage)
            resume(Effect.succeed(
              event.type === "error"
                ? { outcome: event.error.code as string, id: undefined }
                : { outcome: "completed", id: event.response.id as string }
            ))
          }
        }
        ws.on("message", onMessage)
        ws.send(JSON.stringify({ type: "response.create", model: "m", store: false, ...create }))
      })
  })

describe("memory budgets over real sockets", () => {
  it.scopedLive("creates pipelined past the connection's request budget get request_bytes_limit_reached", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Gateway.layerLocal({
        config: { port: 0, maxHeldRequestBytes: 3.5 * 1024 * 1024, maxInFlight: 3 },
        scenario: { turns: [], fallback_text: "ok", latency: { time_to_first_token_ms: 1500 } }
      }))
      const url = (yield* Effect.provide(Gateway.baseUrl, context)).replace(/^http/, "ws") + "/v1/responses"
      const ws = new WS.WebSocket(url)
      yield* Effect.async<void>((resume) => void ws.on("open", () => resume(Effect.void)))
      yield* Effect.addFinalizer(() => Effect.sync(() => ws.terminate()))
      const outcomes: Array<string> = []
      const done = yield* Deferred.make<void>()
      ws.on("message", (data) => {
        const event = JSON.parse(String(data))
        if (event.type === "response.completed") outcomes.push("completed")
        else if (event.type === "error") outcomes.push(event.error.code)
        if (outcomes.length === 8) Deferred.unsafeDone(done, Effect.void)
      })
      // Slow turns (1.5 s to the first token): all eight arrive while the first three still hold their bytes.
      const input = "x".repeat(1024 * 1024)
      for (let i = 0; i < 8; i++) ws.send(JSON.stringify({ type: "response.create", model: "m", input, store: false }))
      yield* Deferred.await(done)
      assert.strictEqual(outcomes.filter((o) => o === "completed").length, 3, outcomes.join(","))
      assert.strictEqual(outcomes.filter((o) => o === "request_bytes_limit_reached").length, 5)
      assert.strictEqual(ws.readyState, WS.WebSocket.OPEN)
    }))

  it.scopedLive("store: true creates far past the store's byte budget: the store stays within it, nothing dies", () =>
    Effect.gen(function*() {
      const budget = 8 * 1024 * 1024
      const context = yield* Layer.build(
        Gateway.layerLocal({ config: { port: 0 }, store: { maxBytes: budget, maxTenantBytes: budget } })
      )
      const baseUrl = yield* Effect.provide(Gateway.baseUrl, context)
      const report = yield* Faults.storeFlood({ baseUrl, creates: 24, inputBytes: 1024 * 1024 })
      assert.isTrue(report.alive)
      assert.strictEqual(report.stored, 24)
      const held = (yield* Metric.value(ResponseStore.budgetMetrics.bytes)).value
      assert.isAbove(held, 4 * 1024 * 1024)
      assert.isAtMost(held, budget)
    }))

  it.scopedLive("one tenant filling the state cache evicts its own responses, not another tenant's", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Gateway.layerLocal({
        config: { port: 0 },
        auth: { _tag: "StaticKeys", keys: [["ka", "acme"], ["kb", "globex"]] },
        scenario: { turns: [], fallback_text: "ok" },
        // Room for about two 40 KB responses per tenant, twenty in all.
        cache: {
          policy: StateCache.all(StateCache.latestPerLane, StateCache.byteBudget(1024 * 1024), StateCache.tenantBudget(100_000))
        }
      }))
      const url = (yield* Effect.provide(Gateway.baseUrl, context)).replace(/^http/, "ws") + "/v1/responses"
      const input = "x".repeat(40_000)
      const before = (yield* Metric.value(Metric.tagged(StateCache.metrics.budgetEvictions, "budget", "tenant_bytes"))).count
      const b = yield* socketOf(url, "kb")
      const bFirst = yield* b({ input })
      const a = [yield* socketOf(url, "ka"), yield* socketOf(url, "ka"), yield* socketOf(url, "ka")]
      const aFirst = yield* a[0]!({ input })
      yield* a[1]!({ input })
      yield* a[2]!({ input })
      // acme's third response pushed out its first; globex's stays warm.
      const aNext = yield* a[0]!({ input: "next", previous_response_id: aFirst.id })
      assert.strictEqual(aNext.outcome, "previous_response_not_found")
      const bNext = yield* b({ input: "next", previous_response_id: bFirst.id })
      assert.strictEqual(bNext.outcome, "completed")
      const after = (yield* Metric.value(Metric.tagged(StateCache.metrics.budgetEvictions, "budget", "tenant_bytes"))).count
      assert.isAtLeast(after - before, 1)
    }))
})
