import { assert } from "@effect/vitest"
import * as Redis from "@loopwire/server/Redis"
import * as RedisResumeLog from "@loopwire/server/RedisResumeLog"
import * as ResumeLog from "@loopwire/server/ResumeLog"
import {
  Chunk,
  ConfigProvider,
  Duration,
  Context,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Fiber,
  Layer,
  Metric,
  Option,
  Schedule,
  Scope,
  Stream
} from "effect"
import * as Ring from "../src/internal/resumeRing.js"
import * as TestRedis from "./helpers/redisServer.js"

class Server extends Context.Tag("test/RedisServer")<Server, TestRedis.RedisServer>() {}

const session = (token: string, tenant = "acme"): ResumeLog.SessionRef => ({ tenant, token })
const frame = (seq: number) =>
  JSON.stringify({ type: "response.output_text.delta", sequence_number: seq, delta: "é😀" })
const frames = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => frame(from + i))

const collect = (stream: Stream.Stream<string, ResumeLog.ResumeLogError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const reason = <A>(effect: Effect.Effect<A, ResumeLog.ResumeLogError>) =>
  Effect.map(Effect.either(effect), (e) => (Either.isLeft(e) ? e.left.reason : "ok"))

const ServerLive = Layer.scoped(Server, TestRedis.start)

// Each call is one "gateway process": its own Redis connection, same key prefix.
const processOn = (prefix: string, options: RedisResumeLog.Options = {}) =>
  Effect.gen(function*() {
    const server = yield* Server
    const redis = yield* Redis.make({ url: server.url, prefix })
    return yield* RedisResumeLog.make({ blockTime: "200 millis", ...options }).pipe(
      Effect.provideService(Redis.Redis, redis)
    )
  })

const twoProcesses = (name: string, options: RedisResumeLog.Options = {}) => {
  const prefix = TestRedis.uniquePrefix(name)
  return Effect.all([processOn(prefix, options), processOn(prefix, options)])
}

// Bounded polling for real key expiry: every 100 ms, at most 3 s.
const eventually = <A, E>(effect: Effect.Effect<A, E>, until: (a: A) => boolean) =>
  Effect.flatMap(
    effect.pipe(Effect.repeat({ schedule: Schedule.spaced("100 millis"), until, times: 30 })),
    () => effect
  )

TestRedis.layer(ServerLive, { excludeTestServices: true })("RedisResumeLog (real redis-server)", (it) => {
  it.scoped("replays a log written by one process from another, byte-identical, after N", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoProcesses("replay")
      const writer = yield* a.begin({ session: session("tok"), responseId: "resp_1", lane: "default" })
      for (let seq = 0; seq < 600; seq++) yield* writer.append(seq, frame(seq))
      yield* writer.end
      assert.deepStrictEqual(yield* collect(b.read("acme", "resp_1", -1)), frames(0, 600))
      assert.deepStrictEqual(yield* collect(b.read("acme", "resp_1", 597)), frames(598, 600))
      assert.deepStrictEqual(yield* collect(b.read("acme", "resp_1", 599)), [])
      assert.deepStrictEqual(yield* collect(b.read("acme", "resp_1", 1000)), [])
    }))

  it.scoped("an empty ended log replays nothing", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoProcesses("empty")
      const writer = yield* a.begin({ session: session("tok"), responseId: "r", lane: "a" })
      yield* writer.end
      assert.deepStrictEqual(yield* collect(b.read("acme", "r", -1)), [])
    }))

  it.scoped("live readers in another process follow the appends until the end, at any cursor", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoProcesses("live")
      const writer = yield* a.begin({ session: session("tok"), responseId: "r", lane: "a" })
      yield* writer.append(0, frame(0))
      const readers = yield* Effect.forEach(
        [-1, 0, 7],
        (after) => Effect.fork(collect(b.read("acme", "r", after)))
      )
      yield* Effect.sleep("50 millis") // let them block in XREAD
      for (let seq = 1; seq < 30; seq++) {
        yield* writer.append(seq, frame(seq))
        if (seq % 10 === 0) yield* Effect.sleep("20 millis")
      }
      yield* writer.end
      const [all, after0, after7] = yield* Effect.forEach(readers, Fiber.join)
      assert.deepStrictEqual(all, frames(0, 30))
      assert.deepStrictEqual(after0, frames(1, 30))
      assert.deepStrictEqual(after7, frames(8, 30))
    }))

  it.scoped("truncation: the same decision as the in-memory ring for every cursor (UTF-8 byte budget)", () =>
    Effect.gen(function*() {
      const size = Ring.frameBytes(frame(0))
      for (const budget of [1, size, size * 3 + 1, size * 7]) {
        const [a, b] = yield* twoProcesses(`trunc${budget}`, { maxBytes: budget })
        const memory = yield* ResumeLog.make({ maxBytes: budget })
        const w1 = yield* a.begin({ session: session("tok"), responseId: "r", lane: "a" })
        const w2 = yield* memory.begin({ session: session("tok"), responseId: "r", lane: "a" })
        for (let seq = 0; seq < 12; seq += seq % 3 === 0 ? 2 : 1) {
          yield* w1.append(seq, frame(seq))
          yield* w2.append(seq, frame(seq))
        }
        yield* w1.end
        yield* w2.end
        for (let after = -1; after < 13; after++) {
          const fromRedis = yield* Effect.either(collect(b.read("acme", "r", after)))
          const fromMemory = yield* Effect.either(collect(memory.read("acme", "r", after)))
          assert.deepStrictEqual(
            Either.mapLeft(fromRedis, (e) => e.reason),
            Either.mapLeft(fromMemory, (e) => e.reason),
            `budget ${budget}, after ${after}`
          )
        }
      }
    }))

  it.scoped("NotFound for an unknown id, another tenant's id, and after the retention period", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoProcesses("notfound", { grace: "300 millis" })
      const writer = yield* a.begin({ session: session("tok"), responseId: "r", lane: "a" })
      yield* writer.append(0, frame(0))
      assert.strictEqual(yield* reason(collect(b.read("acme", "nope", -1))), "NotFound")
      assert.strictEqual(yield* reason(collect(b.read("globex", "r", -1))), "NotFound")
      yield* writer.end
      assert.deepStrictEqual(yield* collect(b.read("acme", "r", -1)), [frame(0)])
      const gone = yield* eventually(reason(collect(b.read("acme", "r", -1))), (r) => r === "NotFound")
      assert.strictEqual(gone, "NotFound")
    }))

  it.scoped("rejects a non-increasing sequence number and an append after the end", () =>
    Effect.gen(function*() {
      const [a] = yield* twoProcesses("invalid")
      const writer = yield* a.begin({ session: session("tok"), responseId: "r", lane: "a" })
      assert.strictEqual(yield* reason(writer.append(-1, frame(-1))), "InvalidAppend")
      assert.strictEqual(yield* reason(writer.append(1.5, frame(1))), "InvalidAppend")
      yield* writer.append(3, frame(3))
      assert.strictEqual(yield* reason(writer.append(2, frame(2))), "InvalidAppend")
      yield* writer.append(5, frame(5))
      yield* writer.end
      assert.strictEqual(yield* reason(writer.append(6, frame(6))), "InvalidAppend")
      // A cursor that is not an integer reads as its floor; one below -1 as -1.
      assert.deepStrictEqual(yield* collect(a.read("acme", "r", 3.5)), [frame(5)])
      assert.deepStrictEqual(yield* collect(a.read("acme", "r", -7)), [frame(3), frame(5)])
    }))

  it.scoped("a suspended session is claimed exactly once, even by concurrent processes", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoProcesses("claim")
      for (let round = 0; round < 10; round++) {
        const old = `old${round}`
        yield* a.openSession(session(old))
        yield* a.begin({ session: session(old), responseId: `r${round}`, lane: "a", requestId: `lwr_${round}` })
        assert.isTrue(Option.isNone(yield* b.claim({ tenant: "acme", token: old, into: "x" })), "live: no claim")
        yield* a.suspend(session(old))
        yield* a.openSession(session(`newA${round}`))
        yield* b.openSession(session(`newB${round}`))
        const outcomes = yield* Effect.all([
          a.claim({ tenant: "acme", token: old, into: `newA${round}` }),
          b.claim({ tenant: "acme", token: old, into: `newB${round}` }),
          b.claim({ tenant: "acme", token: old, into: `newB${round}` })
        ], { concurrency: "unbounded" })
        assert.strictEqual(outcomes.filter(Option.isSome).length, 1, `round ${round}`)
      }
    }))

  it.scoped("an unconfirmed claim is followed by the old token on another process; a confirmed one is final", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoProcesses("pending")
      yield* a.openSession(session("old"))
      yield* a.begin({ session: session("old"), responseId: "r1", lane: "a", requestId: "lwr_1" })
      yield* a.suspend(session("old"))
      yield* b.openSession(session("cut"))
      assert.isTrue(Option.isSome(yield* b.claim({ tenant: "acme", token: "old", into: "cut" })))
      assert.isTrue(Option.isNone(yield* a.claim({ tenant: "acme", token: "old", into: "x" })), "successor live")
      yield* b.suspend(session("cut"))
      yield* a.openSession(session("next"))
      yield* b.openSession(session("rival"))
      const outcomes = yield* Effect.all([
        a.claim({ tenant: "acme", token: "old", into: "next" }),
        b.claim({ tenant: "acme", token: "old", into: "rival" })
      ], { concurrency: "unbounded" })
      assert.strictEqual(outcomes.filter(Option.isSome).length, 1, "at most one")
      const claimed = Option.getOrThrow(outcomes.find(Option.isSome)!)
      const winner = Option.isSome(outcomes[0]) ? "next" : "rival"
      assert.strictEqual(claimed.token, "cut")
      assert.strictEqual(claimed.presented, "old")
      assert.deepStrictEqual(claimed.requests, [{ requestId: "lwr_1", responseId: "r1", lane: "a" }])
      yield* a.confirm(session(winner))
      yield* a.suspend(session(winner))
      yield* b.openSession(session("last"))
      assert.isTrue(Option.isNone(yield* b.claim({ tenant: "acme", token: "old", into: "last" })), "old spent")
      assert.isTrue(Option.isSome(yield* b.claim({ tenant: "acme", token: winner, into: "last" })))
    }))

  it.scoped("claim moves lanes and requests into the new session; late begins follow; release says Claimed", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoProcesses("move")
      yield* a.openSession(session("old"))
      const w1 = yield* a.begin({ session: session("old"), responseId: "r1", lane: "a", requestId: "lwr_1" })
      yield* a.begin({ session: session("old"), responseId: "r2", lane: "b", requestId: "lwr_2" })
      yield* a.begin({ session: session("old"), responseId: "r3", lane: "b" })
      yield* w1.append(0, frame(0))
      assert.deepStrictEqual(
        yield* a.findRequest(session("old"), "lwr_2"),
        Option.some({ requestId: "lwr_2", responseId: "r2", lane: "b" })
      )
      yield* a.suspend(session("old"))
      yield* b.openSession(session("new"))
      const claimed = Option.getOrThrow(yield* b.claim({ tenant: "acme", token: "old", into: "new" }))
      assert.deepStrictEqual(claimed.lanes, ["a", "b"])
      assert.deepStrictEqual(claimed.requests, [
        { requestId: "lwr_1", responseId: "r1", lane: "a" },
        { requestId: "lwr_2", responseId: "r2", lane: "b" }
      ])
      assert.deepStrictEqual(yield* b.findRequest(session("new"), "lwr_1"), Option.some(claimed.requests[0]!))
      assert.isTrue(Option.isNone(yield* b.findRequest(session("old"), "lwr_1")), "spent")
      // Process A still runs r1 and starts a queued request: both reach the resuming process.
      const reader = yield* Effect.fork(collect(b.read("acme", "r1", 0)))
      const w4 = yield* a.begin({ session: session("old"), responseId: "r4", lane: "b", requestId: "lwr_4" })
      assert.isTrue(Option.isSome(yield* b.findRequest(session("new"), "lwr_4")))
      assert.deepStrictEqual(yield* a.release(session("old")), { _tag: "Claimed", into: "new" })
      yield* w1.append(1, frame(1))
      yield* w1.end
      yield* w4.end
      assert.deepStrictEqual(yield* Fiber.join(reader), [frame(1)])
      assert.isTrue(Option.isNone(yield* a.claim({ tenant: "acme", token: "old", into: "other" })))
    }))

  it.scoped("a live reader fails with Abandoned when the producing process dies (its lease expires)", () =>
    Effect.gen(function*() {
      const server = yield* Server
      const prefix = TestRedis.uniquePrefix("abandoned")
      const redisA = yield* Redis.make({ url: server.url, prefix })
      const a = yield* RedisResumeLog.make({ leaseTime: "300 millis" }).pipe(Effect.provideService(Redis.Redis, redisA))
      const b = yield* processOn(prefix)
      const writer = yield* a.begin({ session: session("tok"), responseId: "r", lane: "a" })
      yield* writer.append(0, frame(0))
      const reader = yield* Effect.fork(reason(collect(b.read("acme", "r", -1))))
      yield* Effect.sleep("50 millis")
      redisA.client.disconnect() // as kill -9: no clean-up, the lease just stops being renewed
      assert.strictEqual(yield* Fiber.join(reader), "Abandoned")
    }))

  it.scoped("a clean shutdown of the producing process ends its lease at once", () =>
    Effect.gen(function*() {
      const prefix = TestRedis.uniquePrefix("shutdown")
      const scope = yield* Scope.make()
      const a = yield* Scope.extend(processOn(prefix, { leaseTime: "1 minute" }), scope)
      const b = yield* processOn(prefix)
      const writer = yield* a.begin({ session: session("tok"), responseId: "r", lane: "a" })
      yield* writer.append(0, frame(0))
      const reader = yield* Effect.fork(reason(collect(b.read("acme", "r", 0))))
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* Fiber.join(reader), "Abandoned")
    }))

  it.scoped("no claim for another tenant, itself, or after the grace period; release drops logs", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoProcesses("refuse", { grace: "300 millis" })
      yield* a.openSession(session("old"))
      yield* a.begin({ session: session("old"), responseId: "r1", lane: "a", requestId: "lwr_1" })
      yield* a.suspend(session("old"))
      assert.isTrue(Option.isNone(yield* b.claim({ tenant: "globex", token: "old", into: "new" })))
      assert.isTrue(Option.isNone(yield* b.claim({ tenant: "acme", token: "old", into: "old" })))
      const expired = yield* eventually(
        Effect.map(b.findRequest(session("old"), "lwr_1"), Option.isNone),
        (none) => none
      )
      assert.isTrue(expired)
      assert.isTrue(Option.isNone(yield* b.claim({ tenant: "acme", token: "old", into: "new" })))
      // The owner's grace timer fires after the deadline: the session and its logs are still found and discarded.
      const r1 = yield* a.begin({ session: session("other"), responseId: "r1b", lane: "a" }) // unrelated log
      assert.deepStrictEqual(yield* a.release(session("old")), { _tag: "Released" })
      assert.strictEqual(yield* reason(collect(b.read("acme", "r1", -1))), "NotFound")
      yield* r1.end
      assert.deepStrictEqual(yield* collect(b.read("acme", "r1b", -1)), [])

      yield* a.openSession(session("s2"))
      const writer = yield* a.begin({ session: session("s2"), responseId: "r2", lane: "a" })
      yield* writer.append(0, frame(0))
      const reader = yield* Effect.fork(reason(collect(b.read("acme", "r2", 0))))
      yield* a.suspend(session("s2"))
      assert.deepStrictEqual(yield* a.release(session("s2")), { _tag: "Released" })
      assert.strictEqual(yield* Fiber.join(reader), "NotFound")
      yield* writer.append(1, frame(1)) // ignored: the log was discarded
      assert.strictEqual(yield* reason(collect(b.read("acme", "r2", -1))), "NotFound")
    }))
})

// One operation of the differential test, applied to the in-memory log and to the Redis log alike.
type Op =
  | { readonly op: "open" | "suspend" | "release"; readonly token: string }
  | { readonly op: "claim"; readonly token: string; readonly into: string; readonly tenant: string }
  | { readonly op: "begin"; readonly token: string; readonly rid: string; readonly lane: string; readonly q?: string }
  | { readonly op: "append"; readonly rid: string; readonly back: boolean; readonly text: string }
  | { readonly op: "end" | "read"; readonly rid: string; readonly after: number }
  | { readonly op: "find"; readonly token: string; readonly q: string }

const token = fc.constantFrom("t1", "t2")
const rid = fc.constantFrom("r1", "r2")
const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant("open" as const), token }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("suspend" as const), token }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("release" as const), token }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("claim" as const),
      token,
      into: token,
      tenant: fc.constantFrom("acme", "acme", "acme", "globex")
    })
  },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        op: fc.constant("begin" as const),
        token,
        rid,
        lane: fc.constantFrom("a", "b"),
        q: fc.constantFrom("q1", "q2")
      },
      { requiredKeys: ["op", "token", "rid", "lane"] }
    )
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("append" as const),
      rid,
      back: fc.boolean(),
      text: fc.string({ maxLength: 12 })
    })
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("end" as const), rid, after: fc.constant(0) }) },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("read" as const), rid, after: fc.integer({ min: -1, max: 3 }) })
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("find" as const), token, q: fc.constantFrom("q1", "q2") }) }
)

// A read of a running log waits for more; both implementations must wait alike. The in-memory log answers at
// once (no I/O), so it decides: when it waits, Redis must not answer within the short wait either; when it
// answers, Redis gets a generous bound, so a slow Redis (a loaded machine) is never taken for a waiting one.
const shortWait = "40 millis"
const longWait = "10 seconds"
const outcome = <A>(effect: Effect.Effect<A, ResumeLog.ResumeLogError>, wait: Duration.DurationInput = longWait) =>
  effect.pipe(
    Effect.map((a) => JSON.stringify(a)),
    Effect.catchAll((e) => Effect.succeed(`error ${e.reason}`)),
    Effect.timeoutTo({ duration: wait, onTimeout: () => "pending", onSuccess: (s) => s })
  )

TestRedis.layer(ServerLive, { excludeTestServices: true })("RedisResumeLog behaves as the in-memory ResumeLog", (it) => {
  it.scoped.prop(
    "any sequence of session and log operations has the same outcomes on both",
    { ops: fc.array(opArbitrary, { minLength: 20, maxLength: 50 }) },
    ({ ops }) =>
      Effect.gen(function*() {
        const budget = 60
        const [redisLog] = yield* twoProcesses("diff", { maxBytes: budget })
        const memoryLog = yield* ResumeLog.make({ maxBytes: budget })
        const logs = [memoryLog, redisLog] as const
        const writers = new Map<string, { readonly pair: ReadonlyArray<ResumeLog.Writer>; next: number }>()
        for (const [index, o] of ops.entries()) {
          // In order, memory first (its outcome bounds how long the Redis read may wait).
          const results: Array<string> = []
          const run = (log: ResumeLog.Shape, which: number): Effect.Effect<string, never, Scope.Scope> => {
            switch (o.op) {
              case "open":
                return outcome(log.openSession(session(o.token)))
              case "suspend":
                return outcome(log.suspend(session(o.token)))
              case "release":
                return outcome(log.release(session(o.token)))
              case "claim":
                return outcome(log.claim({ tenant: o.tenant, token: o.token, into: o.into }))
              case "find":
                return outcome(log.findRequest(session(o.token), o.q))
              case "read":
                return outcome(
                  collect(log.read("acme", o.rid, o.after)),
                  which === 0 || results[0] === "pending" ? shortWait : longWait
                )
              case "begin":
                return outcome(Effect.map(
                  log.begin({ session: session(o.token), responseId: o.rid, lane: o.lane, requestId: o.q }),
                  (writer) => {
                    const entry = writers.get(o.rid)
                    const pair = which === 0 ? [writer] : [...(entry?.pair ?? []), writer]
                    writers.set(o.rid, { pair, next: which === 0 ? 0 : entry?.next ?? 0 })
                    return "begun"
                  }
                ))
              case "append": {
                const entry = writers.get(o.rid)
                if (entry === undefined || entry.pair[which] === undefined) return Effect.succeed("no writer")
                const seq = o.back ? Math.max(0, entry.next - 1) : entry.next
                if (which === 1 && !o.back) entry.next++
                return outcome(entry.pair[which]!.append(seq, `{"n":${seq},"t":${JSON.stringify(o.text)}}`))
              }
              case "end": {
                const writer = writers.get(o.rid)?.pair[which]
                return writer === undefined ? Effect.succeed("no writer") : outcome(writer.end)
              }
            }
          }
          yield* Effect.forEach(logs, (log, which) =>
            Effect.tap(run(log, which), (result) => Effect.sync(() => results.push(result))))
          assert.strictEqual(results[1], results[0], `op ${index}: ${JSON.stringify(o)}`)
        }
      }),
    // Up to 20 × 50 operations against a real server: generous, so a loaded machine slows it without failing it.
    { fastCheck: { numRuns: 20 }, timeout: 120_000 }
  )
})

TestRedis.layer(ServerLive, { excludeTestServices: true })("RedisResumeLog configuration", (it) => {
  it.scoped("Redis.layerConfig and RedisResumeLog.layerConfig read LOOPWIRE_REDIS_* and LOOPWIRE_RESUME_*", () =>
    Effect.gen(function*() {
      const server = yield* Server
      const prefix = TestRedis.uniquePrefix("config")
      const provider = ConfigProvider.fromMap(new Map([
        ["LOOPWIRE_REDIS_URL", server.url],
        ["LOOPWIRE_REDIS_PREFIX", prefix],
        ["LOOPWIRE_RESUME_LOG_BYTES", "8"],
        ["LOOPWIRE_RESUME_GRACE", "2 minutes"]
      ]))
      const live = RedisResumeLog.layerConfig().pipe(Layer.provideMerge(Redis.layerConfig()))
      const context = yield* Layer.build(live.pipe(Layer.provide(Layer.setConfigProvider(provider))))
      const log = Context.get(context, ResumeLog.ResumeLog)
      const redis = Context.get(context, Redis.Redis)
      assert.strictEqual(redis.prefix, prefix)
      const writer = yield* log.begin({ session: session("s"), responseId: "r", lane: "a" })
      yield* writer.append(0, "12345")
      yield* writer.append(1, "67890")
      yield* writer.end
      assert.strictEqual(yield* reason(collect(log.read("acme", "r", -1))), "Truncated")
      const ttl = yield* redis.use((c) => c.pttl(`${prefix}:{acme}:logm:r`))
      assert.isTrue(ttl > 60_000 && ttl <= 120_000, `ttl ${ttl}`)
    }))

  it.effect("Redis.layerConfig without LOOPWIRE_REDIS_URL is a configuration error", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(Redis.layerConfig().pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
      )).pipe(Effect.scoped))
      assert.isTrue(Exit.isFailure(exit))
    }))
})

TestRedis.layerPrivate(Layer.empty, { excludeTestServices: true })("RedisResumeLog across a Redis restart", (it) => {
  it.scoped("operations and live readers fail with Unavailable while Redis is down, then recover", () =>
    Effect.gen(function*() {
      const server = yield* TestRedis.startPrivate
      const redis = yield* Redis.make({ url: server.url, prefix: "lw", maxReconnectDelay: "100 millis" })
      const log = yield* RedisResumeLog.make({ blockTime: "200 millis" }).pipe(
        Effect.provideService(Redis.Redis, redis)
      )
      yield* log.openSession(session("s"))
      const writer = yield* log.begin({ session: session("s"), responseId: "r", lane: "a", requestId: "lwr" })
      yield* writer.append(0, frame(0))
      const reader = yield* Effect.fork(reason(collect(log.read("acme", "r", 0))))
      yield* Effect.sleep("50 millis")
      yield* server.stop
      assert.strictEqual(yield* Fiber.join(reader), "Unavailable")
      assert.strictEqual(yield* reason(writer.append(1, frame(1))), "Unavailable")
      assert.strictEqual(yield* reason(log.findRequest(session("s"), "lwr")), "Unavailable")
      yield* server.start
      // Bounded: at most 50 attempts 100 ms apart.
      yield* log.openSession(session("s2")).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50 }))
      const w2 = yield* log.begin({ session: session("s2"), responseId: "r2", lane: "a" })
      yield* w2.append(0, frame(0))
      yield* w2.end
      assert.deepStrictEqual(yield* collect(log.read("acme", "r2", -1)), [frame(0)])
      assert.strictEqual(yield* reason(collect(log.read("acme", "r", -1))), "NotFound", "no persistence")
    }))
})

TestRedis.layer(ServerLive, { excludeTestServices: true })("RedisResumeLog byte budget per tenant (real redis-server)", (it) => {
  // Frames of 1,000 bytes; a tenant budget of 10 of them.
  const kb = (seq: number) => JSON.stringify({ type: "response.output_text.delta", sequence_number: seq, delta: "" }).padEnd(1000, " ")
  const counter = (metric: typeof ResumeLog.budgetMetrics.sessionsEvicted) =>
    Effect.map(Metric.value(metric), (state) => state.count)
  const tenantBytes = (prefix: string, tenant: string) =>
    Effect.flatMap(Server, (server) =>
      Effect.flatMap(Redis.make({ url: server.url, prefix }), (redis) =>
        redis.use((c) => c.get(`${Redis.tenantBase(prefix, tenant)}:bytes`)))).pipe(Effect.map(Number))

  const logOf = (log: ResumeLog.Shape, token: string, responseId: string, frames: number, end: boolean) =>
    Effect.gen(function*() {
      yield* log.openSession(session(token))
      const writer = yield* log.begin({ session: session(token), responseId, lane: "a", requestId: `lwr_${responseId}` })
      for (let seq = 0; seq < frames; seq++) yield* writer.append(seq, kb(seq))
      if (end) yield* writer.end
      return writer
    })

  it.scoped("past the budget the oldest suspended session goes first (its token then claims nothing), then ended logs, then the log's own oldest frames", () =>
    Effect.gen(function*() {
      const prefix = TestRedis.uniquePrefix("budget")
      const options: RedisResumeLog.Options = { maxTenantBytes: 10_000, grace: "1 minute" }
      const a = yield* processOn(prefix, options)
      const b = yield* processOn(prefix, options)
      const evictedBefore = yield* counter(ResumeLog.budgetMetrics.sessionsEvicted)
      const logsBefore = yield* counter(ResumeLog.budgetMetrics.logsEvicted)
      const trimmedBefore = yield* counter(ResumeLog.budgetMetrics.trimmedBytes)
      // Two dropped connections (3 KB each, oldest first), one ended log (2 KB) of a live one: 8 KB held.
      yield* logOf(a, "old", "r_old", 3, true)
      yield* a.suspend(session("old"))
      yield* logOf(a, "newer", "r_newer", 3, true)
      yield* a.suspend(session("newer"))
      yield* logOf(a, "live", "r_ended", 2, true)
      assert.strictEqual(yield* tenantBytes(prefix, "acme"), 8000)
      // Another tenant's logs count against its own budget only.
      yield* a.openSession(session("g", "globex"))
      const g = yield* a.begin({ session: session("g", "globex"), responseId: "r_g", lane: "a" })
      for (let seq = 0; seq < 9; seq++) yield* g.append(seq, kb(seq))

      // 3 KB more for acme: 11 KB > 10 KB, so the oldest suspended session goes, with its log.
      const running = yield* logOf(a, "live", "r_run", 3, false)
      assert.strictEqual((yield* counter(ResumeLog.budgetMetrics.sessionsEvicted)) - evictedBefore, 1)
      assert.isTrue(Option.isNone(yield* b.claim({ tenant: "acme", token: "old", into: "x1" })), "evicted: resumed 0")
      assert.strictEqual(yield* reason(collect(b.read("acme", "r_old", -1))), "NotFound")
      assert.strictEqual(yield* tenantBytes(prefix, "acme"), 8000)
      // The newer one is still whole and claimable.
      assert.deepStrictEqual(yield* collect(b.read("acme", "r_newer", -1)), [kb(0), kb(1), kb(2)])
      assert.isTrue(Option.isSome(yield* b.claim({ tenant: "acme", token: "newer", into: "x2" })))

      // No suspended session left: ended logs go next, oldest first (3 KB more → 11 KB: r_newer, ended first).
      for (let seq = 3; seq < 6; seq++) yield* running.append(seq, kb(seq))
      assert.strictEqual((yield* counter(ResumeLog.budgetMetrics.logsEvicted)) - logsBefore, 1)
      assert.strictEqual(yield* reason(collect(b.read("acme", "r_newer", -1))), "NotFound")
      assert.deepStrictEqual(yield* collect(b.read("acme", "r_ended", -1)), [kb(0), kb(1)])
      for (let seq = 6; seq < 9; seq++) yield* running.append(seq, kb(seq))
      assert.strictEqual((yield* counter(ResumeLog.budgetMetrics.logsEvicted)) - logsBefore, 2)
      assert.strictEqual(yield* reason(collect(b.read("acme", "r_ended", -1))), "NotFound")

      // Then the running log loses its oldest frames: a resume from before them is truncated.
      assert.strictEqual((yield* counter(ResumeLog.budgetMetrics.trimmedBytes)) - trimmedBefore, 0)
      for (let seq = 9; seq < 13; seq++) yield* running.append(seq, kb(seq))
      assert.strictEqual((yield* counter(ResumeLog.budgetMetrics.trimmedBytes)) - trimmedBefore, 3000)
      assert.strictEqual(yield* tenantBytes(prefix, "acme"), 10_000)
      assert.strictEqual(yield* reason(collect(b.read("acme", "r_run", -1))), "Truncated")
      yield* running.end
      assert.deepStrictEqual(yield* collect(b.read("acme", "r_run", 11)), [kb(12)])
      // globex was never touched.
      yield* g.end
      assert.strictEqual((yield* collect(b.read("globex", "r_g", -1))).length, 9)
    }))

  it.scoped("the count follows every way a log goes: release, a zero grace, a repeated begin", () =>
    Effect.gen(function*() {
      const prefix = TestRedis.uniquePrefix("budget-count")
      const a = yield* processOn(prefix, { maxTenantBytes: 1_000_000 })
      yield* logOf(a, "s1", "r1", 4, false)
      yield* logOf(a, "s1", "r2", 2, true)
      assert.strictEqual(yield* tenantBytes(prefix, "acme"), 6000)
      yield* logOf(a, "s2", "r3", 1, false)
      yield* logOf(a, "s2", "r3", 2, false) // begun again: replaces the first
      assert.strictEqual(yield* tenantBytes(prefix, "acme"), 8000)
      assert.deepStrictEqual(yield* a.release(session("s1")), { _tag: "Released" })
      assert.strictEqual(yield* tenantBytes(prefix, "acme"), 2000)
      const zero = yield* processOn(prefix, { maxTenantBytes: 1_000_000, grace: "0 millis" })
      const w = yield* zero.begin({ session: session("s2"), responseId: "r4", lane: "a" })
      yield* w.append(0, kb(0))
      assert.strictEqual(yield* tenantBytes(prefix, "acme"), 3000)
      yield* w.end
      assert.strictEqual(yield* tenantBytes(prefix, "acme"), 2000)
    }))
})
