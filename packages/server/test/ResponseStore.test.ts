import { assert, describe, it } from "@effect/vitest"
import * as ChainContext from "@loopwire/server/ChainContext"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import { ConfigProvider, Effect, Layer, Option, Schema, TestClock } from "effect"

const record = (id: string, turn = 0): ResponseStore.StoredResponse => ({
  response: {
    id,
    object: "response",
    created_at: 1,
    status: "completed",
    model: "scripted",
    output: [{ type: "function_call", id: "fc_1", call_id: "call_1", name: "f", arguments: "{}", status: "completed" }]
  },
  context: ChainContext.fromArray([{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }]),
  turn,
  request: { type: "response.create", model: "scripted", store: true, tools: [] }
})

const ids = (found: Option.Option<ResponseStore.StoredResponse>) => Option.map(found, (r) => r.response.id)

const sized = (id: string, bytes: number): ResponseStore.StoredResponse => ({ ...record(id), bytes } as never)

describe("ResponseStore (memory): byte budgets", () => {
  it.effect("the oldest records go first past the global budget; a record over it is never stored", () =>
    Effect.gen(function*() {
      const store = yield* ResponseStore.make({ maxBytes: 1000, maxTenantBytes: 1000 })
      for (const [i, tenant] of ["a", "b", "a", "b"].entries()) yield* store.put(tenant, sized(`resp_${i}`, 300))
      assert.isTrue(Option.isNone(yield* store.get("a", "resp_0")), "oldest evicted")
      for (const [i, tenant] of [[1, "b"], [2, "a"], [3, "b"]] as const) {
        assert.isTrue(Option.isSome(yield* store.get(tenant, `resp_${i}`)))
      }
      yield* store.put("a", sized("resp_big", 1001))
      assert.isTrue(Option.isNone(yield* store.get("a", "resp_big")))
      assert.isTrue(Option.isSome(yield* store.get("b", "resp_1")), "nothing evicted for a record never stored")
    }))

  it.effect("a tenant over its own budget loses its own oldest records, not another tenant's", () =>
    Effect.gen(function*() {
      const store = yield* ResponseStore.make({ maxBytes: 10_000, maxTenantBytes: 500 })
      yield* store.put("quiet", sized("resp_q", 400))
      for (let i = 0; i < 5; i++) yield* store.put("noisy", sized(`resp_${i}`, 200))
      assert.isTrue(Option.isSome(yield* store.get("quiet", "resp_q")))
      assert.isTrue(Option.isNone(yield* store.get("noisy", "resp_2")))
      assert.isTrue(Option.isSome(yield* store.get("noisy", "resp_3")))
      assert.isTrue(Option.isSome(yield* store.get("noisy", "resp_4")))
    }))
})

describe("ResponseStore (memory)", () => {
  it.effect("is scoped by tenant: another tenant's id is not found", () =>
    Effect.gen(function*() {
      const store = yield* ResponseStore.make()
      yield* store.put("acme", record("resp_1"))
      assert.deepStrictEqual(ids(yield* store.get("acme", "resp_1")), Option.some("resp_1"))
      assert.isTrue(Option.isNone(yield* store.get("globex", "resp_1")))
      assert.isTrue(Option.isNone(yield* store.get("acme", "resp_2")))
      assert.isFalse(yield* store.remove("globex", "resp_1"))
      assert.isTrue(yield* store.remove("acme", "resp_1"))
      assert.isTrue(Option.isNone(yield* store.get("acme", "resp_1")))
    }))

  it.effect("put replaces a record with the same id", () =>
    Effect.gen(function*() {
      const store = yield* ResponseStore.make()
      yield* store.put("t", record("resp_1", 0))
      yield* store.put("t", record("resp_1", 4))
      assert.deepStrictEqual(Option.map(yield* store.get("t", "resp_1"), (r) => r.turn), Option.some(4))
    }))

  it.effect("retention: records expire after the TTL (Clock)", () =>
    Effect.gen(function*() {
      const store = yield* ResponseStore.make({ ttl: "1 hour" })
      yield* store.put("t", record("resp_1"))
      yield* TestClock.adjust("30 minutes")
      yield* store.put("t", record("resp_2"))
      yield* TestClock.adjust("29 minutes")
      assert.isTrue(Option.isSome(yield* store.get("t", "resp_1")))
      yield* TestClock.adjust("1 minute")
      assert.isTrue(Option.isNone(yield* store.get("t", "resp_1")))
      assert.isTrue(Option.isSome(yield* store.get("t", "resp_2")))
      yield* TestClock.adjust("30 minutes")
      assert.isTrue(Option.isNone(yield* store.get("t", "resp_2")))
    }))

  it.effect("the max-entries bound evicts the oldest stored record", () =>
    Effect.gen(function*() {
      const store = yield* ResponseStore.make({ maxEntries: 2 })
      yield* store.put("a", record("resp_1"))
      yield* store.put("b", record("resp_2"))
      yield* store.put("a", record("resp_1")) // re-stored: now the newest
      yield* store.put("a", record("resp_3"))
      assert.isTrue(Option.isNone(yield* store.get("b", "resp_2")))
      assert.isTrue(Option.isSome(yield* store.get("a", "resp_1")))
      assert.isTrue(Option.isSome(yield* store.get("a", "resp_3")))
    }))

  it.effect("layerConfig reads LOOPWIRE_STORE_MAX_ENTRIES and LOOPWIRE_STORE_TTL", () =>
    Effect.gen(function*() {
      const store = yield* ResponseStore.ResponseStore
      yield* store.put("t", record("resp_1"))
      yield* store.put("t", record("resp_2"))
      assert.isTrue(Option.isNone(yield* store.get("t", "resp_1")))
      yield* TestClock.adjust("2 minutes")
      assert.isTrue(Option.isNone(yield* store.get("t", "resp_2")))
    }).pipe(Effect.provide(
      ResponseStore.layerConfig().pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([["LOOPWIRE_STORE_MAX_ENTRIES", "1"], ["LOOPWIRE_STORE_TTL", "2 minutes"]])
        )))
      )
    )))

  it("the record is a JSON-serialisable schema (for a shared store)", () => {
    const original = record("resp_9", 3)
    const json = JSON.stringify(Schema.encodeSync(ResponseStore.StoredResponse)(original))
    assert.deepStrictEqual(Schema.decodeUnknownSync(ResponseStore.StoredResponse)(JSON.parse(json)), original)
  })
})
