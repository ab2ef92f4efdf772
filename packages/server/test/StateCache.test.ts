import { assert, describe, it } from "@effect/vitest"
import * as ChainContext from "@loopwire/server/ChainContext"
import type { InputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import * as StateCache from "@loopwire/server/StateCache"
import { Arbitrary, Effect, FastCheck as fc, Option, Schema, TestClock } from "effect"

const response = (id: string, output: Response["output"] = []): Response => ({
  id,
  object: "response",
  created_at: 0,
  status: "completed",
  model: "scripted",
  output
})

const entry = (id: string, bytes = 10): StateCache.CachedResponse => ({
  response: response(id),
  context: ChainContext.empty,
  turn: 0,
  request: { type: "response.create" },
  contextBytes: 0,
  bytes
})

const ids = (hit: Option.Option<StateCache.CacheHit>) => Option.map(hit, (h) => h.response.id)

describe("StateCache policies", () => {
  it("all() keeps LatestPerLane if any asks and the tightest budgets", () => {
    const policy = StateCache.all(
      StateCache.latestPerLane,
      StateCache.lru(10),
      StateCache.lru(4),
      StateCache.byteBudget(1000),
      StateCache.ttl("10 minutes"),
      StateCache.ttl("1 minute")
    )
    assert.deepStrictEqual(policy, {
      latestPerLane: true,
      maxEntries: 4,
      maxBytes: 1000,
      maxTenantBytes: undefined,
      ttlMillis: 60_000
    })
    assert.deepStrictEqual(StateCache.all(), StateCache.unbounded)
    assert.deepStrictEqual(
      StateCache.defaultPolicy,
      StateCache.all(
        StateCache.latestPerLane,
        StateCache.byteBudget(StateCache.defaultMaxBytes),
        StateCache.tenantBudget(StateCache.defaultMaxTenantBytes)
      )
    )
  })
})

describe("StateCache service", () => {
  it.effect("LatestPerLane keeps only each lane's latest, per connection", () =>
    Effect.gen(function*() {
      const cache = yield* StateCache.make()
      yield* cache.put("c1", "", entry("r1"))
      yield* cache.put("c1", "", entry("r2"))
      yield* cache.put("c1", "lane-b", entry("r3"))
      yield* cache.put("c2", "", entry("r4"))
      assert.isTrue(Option.isNone(yield* cache.get("c1", "r1")))
      assert.deepStrictEqual(ids(yield* cache.get("c1", "r2")), Option.some("r2"))
      const forked = yield* cache.get("c1", "r3")
      assert.deepStrictEqual(Option.map(forked, (h) => h.lane), Option.some("lane-b"))
      // Another connection's response is not visible.
      assert.isTrue(Option.isNone(yield* cache.get("c1", "r4")))
      assert.isTrue(Option.isNone(yield* cache.get("c2", "r2")))
      const stats = yield* cache.stats
      assert.strictEqual(stats.entries, 3)
      assert.strictEqual(stats.bytes, 30)
      assert.strictEqual(stats.connections, 2)
      assert.strictEqual(stats.evictions, 1)
    }))

  it.effect("evict and closeConnection drop entries and their bytes", () =>
    Effect.gen(function*() {
      const cache = yield* StateCache.make({ policy: StateCache.unbounded })
      yield* cache.put("c1", "", entry("r1", 5))
      yield* cache.put("c1", "", entry("r2", 7))
      yield* cache.put("c2", "", entry("r3", 11))
      assert.isTrue(yield* cache.evict("c1", "r1"))
      assert.isFalse(yield* cache.evict("c1", "r1"))
      assert.isFalse(yield* cache.evict("c2", "r2"))
      assert.strictEqual((yield* cache.stats).bytes, 18)
      assert.strictEqual(yield* cache.closeConnection("c1"), 1)
      assert.strictEqual(yield* cache.closeConnection("c1"), 0)
      assert.isTrue(Option.isNone(yield* cache.get("c1", "r2")))
      const stats = yield* cache.stats
      assert.deepStrictEqual([stats.entries, stats.bytes, stats.connections], [1, 11, 1])
    }))

  it.effect("TTL expires entries after the duration, measured with Clock", () =>
    Effect.gen(function*() {
      const cache = yield* StateCache.make({ policy: StateCache.all(StateCache.latestPerLane, StateCache.ttl("10 minutes")) })
      yield* cache.put("c1", "", entry("r1"))
      yield* TestClock.adjust("9 minutes")
      yield* cache.put("c1", "b", entry("r2"))
      assert.isTrue(Option.isSome(yield* cache.get("c1", "r1")))
      yield* TestClock.adjust("1 minute")
      assert.isTrue(Option.isNone(yield* cache.get("c1", "r1")))
      assert.isTrue(Option.isSome(yield* cache.get("c1", "r2")))
      assert.strictEqual((yield* cache.stats).entries, 1)
      yield* TestClock.adjust("9 minutes")
      assert.strictEqual((yield* cache.stats).entries, 0)
    }))

  it.effect("the byte budget evicts the least recently used and refuses an entry larger than the budget", () =>
    Effect.gen(function*() {
      const cache = yield* StateCache.make({ policy: StateCache.byteBudget(100) })
      yield* cache.put("c1", "a", entry("r1", 40))
      yield* cache.put("c1", "b", entry("r2", 40))
      yield* cache.get("c1", "r1") // r2 is now the least recently used
      yield* cache.put("c1", "c", entry("r3", 40))
      assert.isTrue(Option.isSome(yield* cache.get("c1", "r1")))
      assert.isTrue(Option.isNone(yield* cache.get("c1", "r2")))
      yield* cache.put("c1", "d", entry("big", 101))
      assert.isTrue(Option.isNone(yield* cache.get("c1", "big")))
      const stats = yield* cache.stats
      assert.deepStrictEqual([stats.entries, stats.bytes], [2, 80])
    }))

  it.effect("LRU(n) bounds the entry count", () =>
    Effect.gen(function*() {
      const cache = yield* StateCache.make({ policy: StateCache.lru(2) })
      yield* cache.put("c1", "", entry("r1"))
      yield* cache.put("c1", "", entry("r2"))
      yield* cache.put("c2", "", entry("r3"))
      assert.isTrue(Option.isNone(yield* cache.get("c1", "r1")))
      assert.isTrue(Option.isSome(yield* cache.get("c1", "r2")))
      assert.isTrue(Option.isSome(yield* cache.get("c2", "r3")))
    }))

  it("makeEntry estimates sizes incrementally, close to measuring the whole context", () => {
    const user = (text: string): InputItem => ({ type: "message", role: "user", content: [{ type: "input_text", text }] })
    const first = StateCache.makeEntry({
      response: response("r1", [{ type: "function_call", call_id: "call_1", name: "f", arguments: "{\"a\":1}" }]),
      context: [user("hello")],
      turn: 0,
      request: { type: "response.create", model: "m", input: [user("hello")] }
    })
    let parent = first
    let context: ReadonlyArray<InputItem> = ChainContext.toArray(first.context)
    for (let turn = 1; turn <= 20; turn++) {
      const newInput = [user(`turn ${turn}`)]
      context = [...context, ...parent.response.output as ReadonlyArray<InputItem>, ...newInput]
      parent = StateCache.makeEntry({
        response: response(`r${turn + 1}`, [{ type: "function_call", call_id: `call_${turn}`, name: "f", arguments: "{}" }]),
        context: ChainContext.append(parent.context, [...parent.response.output as ReadonlyArray<InputItem>, ...newInput]),
        turn,
        request: { type: "response.create", model: "m", previous_response_id: parent.response.id, input: newInput },
        parent,
        newInput
      })
      const exact = JSON.stringify(context).length
      // Per-segment sizes add up to the exact size of the whole array.
      assert.strictEqual(parent.contextBytes, exact)
      assert.isTrue(parent.bytes > parent.contextBytes)
    }
  })
})

// The reference model: a plain list, every rule written the naive way.
interface ModelEntry {
  readonly conn: string
  readonly tenant: string
  readonly lane: string
  readonly id: string
  readonly bytes: number
  readonly putAt: number
  lastUse: number
}

class Model {
  entries: Array<ModelEntry> = []
  tenantOf = new Map<string, string>()
  tick = 0
  constructor(readonly policy: StateCache.Policy) {}
  expire(now: number) {
    const ttl = this.policy.ttlMillis
    if (ttl !== undefined) this.entries = this.entries.filter((e) => now - e.putAt < ttl)
  }
  put(conn: string, lane: string, id: string, bytes: number, now: number) {
    this.expire(now)
    this.entries = this.entries.filter((e) => !(e.conn === conn && e.id === id))
    if (this.policy.latestPerLane) this.entries = this.entries.filter((e) => !(e.conn === conn && e.lane === lane))
    this.tick++
    if ((this.policy.maxBytes !== undefined && bytes > this.policy.maxBytes) || this.policy.maxEntries === 0) return
    const tenant = this.tenantOf.get(conn) ?? ""
    if (this.policy.maxTenantBytes !== undefined && bytes > this.policy.maxTenantBytes) return
    this.entries.push({ conn, tenant, lane, id, bytes, putAt: now, lastUse: this.tick })
    const own = () => this.entries.filter((e) => e.tenant === tenant)
    while (
      this.policy.maxTenantBytes !== undefined && own().reduce((n, e) => n + e.bytes, 0) > this.policy.maxTenantBytes
    ) {
      const oldest = own().reduce((a, b) => (a.lastUse <= b.lastUse ? a : b))
      this.entries = this.entries.filter((e) => e !== oldest)
    }
    const total = () => this.entries.reduce((n, e) => n + e.bytes, 0)
    while (
      (this.policy.maxEntries !== undefined && this.entries.length > this.policy.maxEntries) ||
      (this.policy.maxBytes !== undefined && total() > this.policy.maxBytes)
    ) {
      const oldest = this.entries.reduce((a, b) => (a.lastUse <= b.lastUse ? a : b))
      this.entries = this.entries.filter((e) => e !== oldest)
    }
  }
  get(conn: string, id: string, now: number): string | undefined {
    this.expire(now)
    const found = this.entries.find((e) => e.conn === conn && e.id === id)
    if (found === undefined) return undefined
    found.lastUse = ++this.tick
    return found.lane
  }
  evict(conn: string, id: string, now: number): boolean {
    this.expire(now)
    const before = this.entries.length
    this.entries = this.entries.filter((e) => !(e.conn === conn && e.id === id))
    return this.entries.length < before
  }
  close(conn: string, now: number): number {
    this.expire(now)
    const before = this.entries.length
    this.entries = this.entries.filter((e) => e.conn !== conn)
    this.tenantOf.delete(conn)
    return before - this.entries.length
  }
}

const Conn = Schema.Literal("c1", "c2", "c3")
// c1 and c2 are one tenant's connections, c3 another's (until closed: then unbound, tenant "").
const tenants = [["c1", "t1"], ["c2", "t1"], ["c3", "t2"]] as const
const Lane = Schema.Literal("", "a", "b")
const Id = Schema.Literal("r0", "r1", "r2", "r3", "r4", "r5")
const Put = Schema.TaggedStruct("Put", { conn: Conn, lane: Lane, id: Id, bytes: Schema.Int.pipe(Schema.between(1, 100)) })
const Get = Schema.TaggedStruct("Get", { conn: Conn, id: Id })
const Evict = Schema.TaggedStruct("Evict", { conn: Conn, id: Id })
const Close = Schema.TaggedStruct("Close", { conn: Conn })
const Advance = Schema.TaggedStruct("Advance", { millis: Schema.Int.pipe(Schema.between(0, 4000)) })
// Weighted so that puts and lookups dominate and sequences are long enough to exercise the budgets.
const Commands = fc.array(
  fc.oneof(
    { arbitrary: Arbitrary.make(Put), weight: 6 },
    { arbitrary: Arbitrary.make(Get), weight: 5 },
    { arbitrary: Arbitrary.make(Evict), weight: 1 },
    { arbitrary: Arbitrary.make(Close), weight: 1 },
    { arbitrary: Arbitrary.make(Advance), weight: 2 }
  ),
  { minLength: 10, maxLength: 80 }
)
const PolicyArb = fc.record({
  latestPerLane: fc.boolean(),
  maxEntries: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
  maxBytes: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
  maxTenantBytes: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
  ttlMillis: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined })
})

describe("StateCache against a reference model", () => {
  it.effect.prop(
    "after any sequence of put/get/evict/close/clock advances, every lookup matches the model",
    { policy: PolicyArb, commands: Commands },
    ({ commands, policy }) =>
      Effect.gen(function*() {
        const cache = yield* StateCache.make({ policy })
        const model = new Model(policy)
        for (const [conn, tenant] of tenants) {
          yield* cache.bindTenant(conn, tenant)
          model.tenantOf.set(conn, tenant)
        }
        let now = 0
        for (const command of commands) {
          switch (command._tag) {
            case "Put":
              yield* cache.put(command.conn, command.lane, entry(command.id, command.bytes))
              model.put(command.conn, command.lane, command.id, command.bytes, now)
              break
            case "Get": {
              const hit = yield* cache.get(command.conn, command.id)
              const expected = model.get(command.conn, command.id, now)
              assert.deepStrictEqual(Option.getOrUndefined(Option.map(hit, (h) => h.lane)), expected)
              if (Option.isSome(hit)) assert.strictEqual(hit.value.response.id, command.id)
              break
            }
            case "Evict":
              assert.strictEqual(yield* cache.evict(command.conn, command.id), model.evict(command.conn, command.id, now))
              break
            case "Close":
              assert.strictEqual(yield* cache.closeConnection(command.conn), model.close(command.conn, now))
              break
            case "Advance":
              yield* TestClock.adjust(command.millis)
              now += command.millis
              break
          }
          // Sizes agree after every step; lookups (which refresh recency in both) over every key at the end.
          const stats = yield* cache.stats
          model.expire(now)
          assert.strictEqual(stats.entries, model.entries.length)
          assert.strictEqual(stats.bytes, model.entries.reduce((n, e) => n + e.bytes, 0))
        }
        for (const conn of Conn.literals) {
          for (const id of Id.literals) {
            const hit = yield* cache.get(conn, id)
            assert.deepStrictEqual(Option.getOrUndefined(Option.map(hit, (h) => h.lane)), model.get(conn, id, now))
          }
        }
      }),
    { fastCheck: { numRuns: 100 } }
  )
})
