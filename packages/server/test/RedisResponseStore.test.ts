import { assert } from "@effect/vitest"
import * as ChainContext from "@loopwire/server/ChainContext"
import * as Redis from "@loopwire/server/Redis"
import * as RedisResponseStore from "@loopwire/server/RedisResponseStore"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import { ConfigProvider, Context, Effect, Either, Layer, Metric, Option, Schedule } from "effect"
import * as TestRedis from "./helpers/redisServer.js"

class Server extends Context.Tag("test/RedisServer")<Server, TestRedis.RedisServer>() {}

const record = (id: string, turn = 0): ResponseStore.StoredResponse => ({
  response: { id, object: "response", created_at: 1, status: "completed", model: "scripted", output: [] },
  context: ChainContext.fromArray([{ type: "message", role: "user", content: [{ type: "input_text", text: "héllo" }] }]),
  turn,
  request: { type: "response.create", model: "scripted", store: true, tools: [] }
})

const prefix = TestRedis.uniquePrefix("store")
const ServerLive = Layer.scoped(Server, TestRedis.start)
// Two independent connections: as two gateway processes sharing one Redis.
const storeOn = (options: RedisResponseStore.Options = {}) =>
  Effect.gen(function*() {
    const server = yield* Server
    const redis = yield* Redis.make({ url: server.url, prefix })
    return yield* RedisResponseStore.make(options).pipe(Effect.provideService(Redis.Redis, redis))
  })

const reason = <A>(effect: Effect.Effect<A, ResponseStore.ResponseStoreError>) =>
  Effect.map(Effect.either(effect), (e) => (Either.isLeft(e) ? e.left.reason : "ok"))

TestRedis.layer(ServerLive, { excludeTestServices: true })("RedisResponseStore (real redis-server)", (it) => {
  it.scoped("a record stored through one connection is read back through another, tenant-scoped", () =>
    Effect.gen(function*() {
      const a = yield* storeOn()
      const b = yield* storeOn()
      yield* a.put("acme", record("resp_1", 2))
      assert.deepStrictEqual(yield* b.get("acme", "resp_1"), Option.some(record("resp_1", 2)))
      assert.isTrue(Option.isNone(yield* b.get("globex", "resp_1")))
      assert.isTrue(Option.isNone(yield* b.get("acme", "resp_2")))
      yield* b.put("acme", record("resp_1", 5))
      assert.deepStrictEqual(Option.map(yield* a.get("acme", "resp_1"), (r) => r.turn), Option.some(5))
      assert.isFalse(yield* a.remove("globex", "resp_1"))
      assert.isTrue(yield* a.remove("acme", "resp_1"))
      assert.isTrue(Option.isNone(yield* b.get("acme", "resp_1")))
    }))

  it.scoped("a 200-turn chain: each write is O(new input) (bytes do not grow with the turn), hydration rebuilds it", () =>
    Effect.gen(function*() {
      const store = yield* storeOn({ checkpointEvery: 50 })
      const server = yield* Server
      const redis = yield* Redis.make({ url: server.url, prefix })
      const user = (text: string) => ({ type: "message", role: "user", content: [{ type: "input_text", text }] } as const)
      const reply = (i: number) => ({
        type: "message",
        id: `msg_${i}`,
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: `reply ${String(i).padStart(3, "0")}`, annotations: [] }]
      } as const)
      const rec = (i: number, context: ChainContext.ChainContext): ResponseStore.StoredResponse => ({
        response: {
          id: `chain_${i}`,
          object: "response",
          created_at: 1,
          status: "completed",
          model: "scripted",
          output: [reply(i)],
          previous_response_id: i === 0 ? null : `chain_${i - 1}`
        },
        context,
        turn: i,
        request: { type: "response.create", model: "scripted" }
      })
      let context = ChainContext.fromArray([user("turn 000")])
      const sizes: Array<number> = []
      for (let i = 0; i < 200; i++) {
        if (i > 0) context = ChainContext.append(context, [reply(i - 1), user(`turn ${String(i).padStart(3, "0")}`)])
        yield* store.put("acme", rec(i, context))
        const raw = yield* redis.use((c) => c.get(RedisResponseStore.key(prefix, "acme", `chain_${i}`)))
        sizes.push(raw!.length)
      }
      // Delta records (all but the checkpoints, every 50th segment) have the same size at turn 1 and turn 199.
      const deltas = sizes.filter((_, i) => i > 0 && (i + 1) % 50 !== 0)
      // (Only the ids' digits differ.)
      assert.isTrue(Math.max(...deltas) - Math.min(...deltas) <= 16, `${Math.min(...deltas)}..${Math.max(...deltas)}`)
      // A checkpoint holds the whole context: it is the only kind of write that grows.
      assert.isTrue(sizes[199]! > 100 * Math.max(...deltas) / 2)
      const found = yield* store.get("acme", "chain_199")
      assert.isTrue(Option.isSome(found))
      const hydrated = Option.getOrThrow(found)
      assert.strictEqual(hydrated.turn, 199)
      assert.deepStrictEqual(ChainContext.toArray(hydrated.context), ChainContext.toArray(context))
      assert.strictEqual(hydrated.context.bytes, context.bytes)
      // An ancestor gone (expired / removed): the descendant does not hydrate, it is simply not found.
      yield* store.remove("acme", "chain_180")
      assert.isTrue(Option.isNone(yield* store.get("acme", "chain_190")))
      // A checkpoint (segment 200 = turn 199) does not need it, nor does a record before the gap.
      assert.isTrue(Option.isSome(yield* store.get("acme", "chain_199")))
      assert.isTrue(Option.isSome(yield* store.get("acme", "chain_170")))
      // Tenant scoping holds for the whole chain.
      assert.isTrue(Option.isNone(yield* store.get("globex", "chain_199")))
    }))

  it.scoped("keys are scoped by tenant with a cluster hash tag, and tenant names cannot collide", () =>
    Effect.gen(function*() {
      const store = yield* storeOn()
      yield* store.put("a:b}", record("resp_x"))
      assert.isTrue(Option.isNone(yield* store.get("a", "resp_x")))
      const server = yield* Server
      const redis = yield* Redis.make({ url: server.url, prefix })
      const raw = yield* redis.use((c) => c.get(`${prefix}:{a%3Ab%7D}:resp:resp_x`))
      assert.isNotNull(raw)
    }))

  it.scoped("retention: a record expires after the configured TTL (key expiry)", () =>
    Effect.gen(function*() {
      const store = yield* storeOn({ ttl: "300 millis" })
      yield* store.put("acme", record("resp_ttl"))
      assert.isTrue(Option.isSome(yield* store.get("acme", "resp_ttl")))
      // Bounded wait: poll every 100 ms for at most 3 s.
      yield* store.get("acme", "resp_ttl").pipe(
        Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: Option.isNone, times: 30 })
      )
      assert.isTrue(Option.isNone(yield* store.get("acme", "resp_ttl")))
    }))

  it.scoped("layerConfig reads LOOPWIRE_STORE_TTL (default 30 days)", () =>
    Effect.gen(function*() {
      const server = yield* Server
      const redis = yield* Redis.make({ url: server.url, prefix })
      const ttlOf = (config: Map<string, string>, id: string) =>
        Effect.gen(function*() {
          const store = yield* ResponseStore.ResponseStore
          yield* store.put("acme", record(id))
          return yield* redis.use((c) => c.pttl(RedisResponseStore.key(prefix, "acme", id)))
        }).pipe(Effect.provide(RedisResponseStore.layerConfig().pipe(
          Layer.provide(Layer.succeed(Redis.Redis, redis)),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(config)))
        )))
      const hour = yield* ttlOf(new Map([["LOOPWIRE_STORE_TTL", "1 hour"]]), "resp_c1")
      assert.isTrue(hour > 3_500_000 && hour <= 3_600_000, `ttl ${hour}`)
      const month = yield* ttlOf(new Map(), "resp_c2")
      assert.isTrue(month > 29 * 86_400_000 && month <= 30 * 86_400_000, `ttl ${month}`)
    }))

  it.scoped("a record that does not decode fails with reason Decode", () =>
    Effect.gen(function*() {
      const server = yield* Server
      const redis = yield* Redis.make({ url: server.url, prefix })
      yield* redis.use((c) => c.set(RedisResponseStore.key(prefix, "acme", "resp_bad"), "{\"not\":\"a record\"}"))
      const store = yield* storeOn()
      assert.strictEqual(yield* reason(store.get("acme", "resp_bad")), "Decode")
    }))

  it.scoped("byte budgets in Redis: a tenant's oldest records go first, the total's anyone's; too large is not stored", () =>
    Effect.gen(function*() {
      const server = yield* Server
      const budgetPrefix = TestRedis.uniquePrefix("store-budget")
      const redis = yield* Redis.make({ url: server.url, prefix: budgetPrefix })
      const sized = (id: string, bytes: number): ResponseStore.StoredResponse => ({
        ...record(id),
        context: ChainContext.fromArray([
          { type: "message", role: "user", content: [{ type: "input_text", text: "x".repeat(bytes) }] }
        ])
      })
      // Two processes sharing the budget (the accounting is in Redis).
      const make = () =>
        RedisResponseStore.make({ maxTenantBytes: 35_000, maxBytes: 60_000 }).pipe(
          Effect.provideService(Redis.Redis, redis)
        )
      const a = yield* make()
      const b = yield* make()
      const tenantEvictions = () =>
        Effect.map(
          Metric.value(Metric.tagged(RedisResponseStore.metrics.evictions, "budget", "tenant_bytes")),
          (v) => v.count
        )
      const before = yield* tenantEvictions()
      const found = (tenant: string, id: string) => Effect.map(a.get(tenant, id), Option.isSome)

      yield* b.put("globex", sized("g1", 10_000))
      for (const id of ["a1", "a2", "a3", "a4"]) yield* (id === "a2" ? b : a).put("acme", sized(id, 10_000))
      // acme holds at most 35,000 bytes: its three newest; globex's record is untouched.
      assert.deepStrictEqual(
        [yield* found("acme", "a1"), yield* found("acme", "a2"), yield* found("acme", "a3"), yield* found("acme", "a4")],
        [false, true, true, true]
      )
      assert.isTrue(yield* found("globex", "g1"))
      assert.strictEqual((yield* tenantEvictions()) - before, 1)

      // The total (60,000): globex's next three push out the oldest of anyone's (g1, then acme's a2, though acme is
      // within its own budget).
      yield* a.put("globex", sized("g2", 10_000))
      yield* a.put("globex", sized("g3", 10_000))
      assert.isFalse(yield* found("globex", "g1"))
      assert.isTrue(yield* found("acme", "a2"))
      yield* a.put("globex", sized("g4", 10_000))
      assert.isFalse(yield* found("acme", "a2"))
      assert.isTrue(yield* found("acme", "a3"))
      assert.isTrue(yield* found("globex", "g3"))
      const total = Number(yield* redis.use((c) => c.get(`${budgetPrefix}:store:bytes`)))
      assert.isAtMost(total, 60_000)
      assert.isAbove(total, 40_000)

      // Larger than the tenant's budget: refused, nothing else dropped.
      const rejected = (yield* Metric.value(RedisResponseStore.metrics.rejected)).count
      yield* a.put("acme", sized("huge", 40_000))
      assert.isFalse(yield* found("acme", "huge"))
      assert.isTrue(yield* found("acme", "a3"))
      assert.strictEqual((yield* Metric.value(RedisResponseStore.metrics.rejected)).count - rejected, 1)

      // A removal gives its bytes back; replacing a record counts it once.
      assert.isTrue(yield* a.remove("acme", "a3"))
      yield* a.put("acme", sized("a4", 10_000))
      const after = Number(yield* redis.use((c) => c.get(`${budgetPrefix}:store:bytes`)))
      const sizes = yield* redis.use((c) => c.hvals(`${budgetPrefix}:store:sizes`))
      assert.strictEqual(after, sizes.reduce((n, v) => n + Number(v), 0))
      assert.isBelow(after, total)
    }))
})

TestRedis.layerPrivate(Layer.empty, { excludeTestServices: true })("RedisResponseStore across a Redis restart", (it) => {
  it.scoped("fails fast with Unavailable while Redis is down, then recovers by itself", () =>
    Effect.gen(function*() {
      const server = yield* TestRedis.startPrivate
      const redis = yield* Redis.make({ url: server.url, prefix, maxReconnectDelay: "100 millis" })
      const store = yield* RedisResponseStore.make().pipe(Effect.provideService(Redis.Redis, redis))
      yield* store.put("acme", record("resp_1"))
      yield* server.stop
      const down = yield* Effect.either(store.put("acme", record("resp_2")))
      assert.isTrue(Either.isLeft(down) && down.left.reason === "Unavailable", String(down))
      assert.strictEqual(yield* reason(store.get("acme", "resp_1")), "Unavailable")
      yield* server.start
      // The client reconnects in the background; bounded: at most 50 attempts 100 ms apart.
      yield* store.put("acme", record("resp_2")).pipe(
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50 })
      )
      assert.isTrue(Option.isSome(yield* store.get("acme", "resp_2")))
      assert.isTrue(Option.isNone(yield* store.get("acme", "resp_1")), "no persistence: the restart lost resp_1")
    }))

  it.scoped("connecting to a Redis that is not there fails with Unavailable", () =>
    Effect.gen(function*() {
      const server = yield* TestRedis.startPrivate
      yield* server.stop
      const result = yield* Effect.either(Redis.make({ url: server.url, connectTimeout: "500 millis" }))
      assert.isTrue(Either.isLeft(result) && result.left.reason === "Unavailable")
    }))

})
