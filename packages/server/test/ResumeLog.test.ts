import { assert, describe, it } from "@effect/vitest"
import * as ResumeLog from "@loopwire/server/ResumeLog"
import {
  Chunk,
  ConfigProvider,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Fiber,
  Layer,
  Option,
  Stream,
  TestClock
} from "effect"
import { Buffer } from "node:buffer"
import * as Ring from "../src/internal/resumeRing.js"

const session = (token: string, tenant = "acme"): ResumeLog.SessionRef => ({ tenant, token })
const frame = (seq: number) => JSON.stringify({ type: "response.output_text.delta", sequence_number: seq, delta: "é" })

const collect = (stream: Stream.Stream<string, ResumeLog.ResumeLogError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const reason = <A>(effect: Effect.Effect<A, ResumeLog.ResumeLogError>) =>
  Effect.map(Effect.either(effect), (e) => (Either.isLeft(e) ? e.left.reason : "ok"))

// A naive model of the byte budget: the longest suffix of the appended frames that fits (at least the newest one).
const retainedByModel = (appended: ReadonlyArray<{ seq: number; size: number }>, budget: number) => {
  let bytes = 0
  let from = appended.length
  while (from > 0 && (from === appended.length || bytes + appended[from - 1]!.size <= budget)) {
    bytes += appended[from - 1]!.size
    from--
  }
  return appended.slice(from).map((e) => e.seq)
}

describe("resume ring (pure)", () => {
  it.prop(
    "a read after N returns exactly the frames with seq > N in order, or Truncated exactly when one was dropped",
    {
      budget: fc.integer({ min: 0, max: 120 }),
      ops: fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("append" as const), gap: fc.integer({ min: 1, max: 3 }), text: fc.string() }),
          fc.record({ op: fc.constant("read" as const), back: fc.integer({ min: -2, max: 12 }) })
        ),
        { maxLength: 60 }
      )
    },
    ({ budget, ops }) => {
      const ring = Ring.make(budget)
      const appended: Array<{ seq: number; frame: string; size: number }> = []
      let next = -1
      for (const o of ops) {
        if (o.op === "append") {
          next += o.gap
          const text = `{"s":${next},"t":${JSON.stringify(o.text)}}`
          assert.strictEqual(Ring.append(ring, next, text), "Appended")
          appended.push({ seq: next, frame: text, size: Ring.frameBytes(text) })
          assert.isTrue(ring.bytes <= budget || Ring.size(ring) === 1)
          continue
        }
        const after = Math.max(-1, next - o.back)
        const result = Ring.readAfter(ring, after)
        const retained = new Set(retainedByModel(appended, budget))
        const wanted = appended.filter((e) => e.seq > after)
        const complete = wanted.every((e) => retained.has(e.seq))
        if (result._tag === "Truncated") {
          assert.isFalse(complete, `truncated although every event after ${after} is retained`)
        } else {
          assert.isTrue(complete)
          assert.deepStrictEqual(result.frames, wanted.map((e) => e.frame))
          assert.strictEqual(result.last, wanted.length === 0 ? after : wanted[wanted.length - 1]!.seq)
        }
      }
    },
    { fastCheck: { numRuns: 200 } }
  )

  it("rejects a sequence number that does not increase, and appends after the end", () => {
    const ring = Ring.make(100)
    assert.strictEqual(Ring.append(ring, 0, "a"), "Appended")
    assert.strictEqual(Ring.append(ring, 0, "b"), "OutOfOrder")
    assert.strictEqual(Ring.append(ring, -5, "b"), "OutOfOrder")
    ring.ended = true
    assert.strictEqual(Ring.append(ring, 1, "c"), "Ended")
  })

  it("reads in batches and keeps the newest frame even when it alone exceeds the budget", () => {
    const ring = Ring.make(4)
    for (let seq = 0; seq < 1000; seq++) Ring.append(ring, seq, "xy")
    assert.strictEqual(Ring.size(ring), 2)
    assert.deepStrictEqual(Ring.readAfter(ring, 998), { _tag: "Frames", frames: ["xy"], last: 999 })
    assert.deepStrictEqual(Ring.readAfter(ring, 997, 1), { _tag: "Frames", frames: ["xy"], last: 998 })
    assert.deepStrictEqual(Ring.readAfter(ring, 996), { _tag: "Truncated" })
    Ring.append(ring, 1000, "this frame is larger than the budget")
    assert.strictEqual(Ring.size(ring), 1)
    assert.deepStrictEqual(Ring.readAfter(ring, 999)._tag, "Frames")
  })

  it("counts UTF-8 bytes", () => {
    assert.strictEqual(Ring.frameBytes("é"), 2)
    assert.strictEqual(Ring.frameBytes("😀"), 4)
  })
})

describe("ResumeLog (memory): response logs", () => {
  it.effect("replays the retained frames after N, byte-identical, then ends", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make()
      yield* log.openSession(session("tok"))
      const writer = yield* log.begin({ session: session("tok"), responseId: "resp_1", lane: "default" })
      for (let seq = 0; seq < 5; seq++) yield* writer.append(seq, frame(seq))
      yield* writer.end
      assert.deepStrictEqual(yield* collect(log.read("acme", "resp_1", -1)), [0, 1, 2, 3, 4].map(frame))
      assert.deepStrictEqual(yield* collect(log.read("acme", "resp_1", 2)), [frame(3), frame(4)])
      assert.deepStrictEqual(yield* collect(log.read("acme", "resp_1", 4)), [])
      assert.deepStrictEqual(yield* collect(log.read("acme", "resp_1", 99)), [])
    }))

  it.effect("follows live appends with concurrent readers at different cursors", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make()
      const writer = yield* log.begin({ session: session("tok"), responseId: "resp_1", lane: "a" })
      yield* writer.append(0, frame(0))
      const readers = yield* Effect.forEach(
        [-1, 0, 3],
        (after) => Effect.fork(collect(log.read("acme", "resp_1", after)))
      )
      const producer = yield* Effect.fork(Effect.gen(function*() {
        for (let seq = 1; seq < 40; seq++) {
          yield* writer.append(seq, frame(seq))
          if (seq % 3 === 0) yield* Effect.yieldNow()
        }
        yield* writer.end
      }))
      yield* Fiber.join(producer)
      const all = Array.from({ length: 40 }, (_, seq) => frame(seq))
      const [fromStart, after0, after3] = yield* Effect.forEach(readers, Fiber.join)
      assert.deepStrictEqual(fromStart, all)
      assert.deepStrictEqual(after0, all.slice(1))
      assert.deepStrictEqual(after3, all.slice(4))
    }))

  it.effect.prop(
    "live and replayed reads deliver exactly the frames after N, in order, or Truncated",
    {
      count: fc.integer({ min: 0, max: 40 }),
      budget: fc.integer({ min: 1, max: 2_000 }),
      after: fc.integer({ min: -1, max: 45 }),
      yieldEvery: fc.integer({ min: 1, max: 5 })
    },
    ({ after, budget, count, yieldEvery }) =>
      Effect.gen(function*() {
        const log = yield* ResumeLog.make({ maxBytes: budget })
        const writer = yield* log.begin({ session: session("tok"), responseId: "r", lane: "a" })
        const reader = yield* Effect.fork(Effect.either(collect(log.read("acme", "r", after))))
        for (let seq = 0; seq < count; seq++) {
          yield* writer.append(seq, frame(seq))
          if (seq % yieldEvery === 0) yield* Effect.yieldNow()
        }
        yield* writer.end
        const live = yield* Fiber.join(reader)
        const replay = yield* Effect.either(collect(log.read("acme", "r", after)))
        const expected = Array.from({ length: count }, (_, seq) => frame(seq)).slice(Math.max(0, after + 1))
        for (const outcome of [live, replay]) {
          if (Either.isLeft(outcome)) assert.strictEqual(outcome.left.reason, "Truncated")
          else assert.deepStrictEqual(outcome.right, expected)
        }
      })
  )

  it.effect("fails with Truncated when the byte budget dropped an event after N", () =>
    Effect.gen(function*() {
      const size = Ring.frameBytes(frame(0))
      const log = yield* ResumeLog.make({ maxBytes: size * 3 })
      const writer = yield* log.begin({ session: session("tok"), responseId: "r", lane: "a" })
      for (let seq = 0; seq < 10; seq++) yield* writer.append(seq, frame(seq))
      assert.strictEqual(yield* reason(collect(log.read("acme", "r", -1))), "Truncated")
      assert.strictEqual(yield* reason(collect(log.read("acme", "r", 5))), "Truncated")
      const reader = yield* Effect.fork(collect(log.read("acme", "r", 6)))
      yield* Effect.yieldNow()
      yield* writer.end
      assert.deepStrictEqual(yield* Fiber.join(reader), [7, 8, 9].map(frame))
    }))

  it.effect("a live reader that falls behind the byte budget fails with Truncated, never a gap", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make({ maxBytes: Ring.frameBytes(frame(0)) * 2 })
      const writer = yield* log.begin({ session: session("tok"), responseId: "r", lane: "a" })
      const reader = yield* Effect.fork(Effect.either(collect(log.read("acme", "r", -1))))
      yield* Effect.yieldNow()
      // Appended synchronously without yielding: the reader cannot keep up.
      yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (seq) => writer.append(seq, frame(seq)))
      yield* writer.end
      const outcome = yield* Fiber.join(reader)
      assert.isTrue(Either.isLeft(outcome) && outcome.left.reason === "Truncated")
    }))

  it.effect("NotFound for an unknown id and another tenant's id; logs are kept one grace period after they end", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make({ grace: "60 seconds" })
      const writer = yield* log.begin({ session: session("tok"), responseId: "r", lane: "a" })
      yield* writer.append(0, frame(0))
      assert.strictEqual(yield* reason(collect(log.read("acme", "nope", -1))), "NotFound")
      assert.strictEqual(yield* reason(collect(log.read("globex", "r", -1))), "NotFound")
      yield* TestClock.adjust("10 minutes") // a running response's log does not expire
      yield* writer.end
      yield* TestClock.adjust("59 seconds")
      assert.deepStrictEqual(yield* collect(log.read("acme", "r", -1)), [frame(0)])
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* reason(collect(log.read("acme", "r", -1))), "NotFound")
    }))

  it.effect("rejects a non-increasing sequence number and an append after the end", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make()
      const writer = yield* log.begin({ session: session("tok"), responseId: "r", lane: "a" })
      yield* writer.append(3, frame(3))
      assert.strictEqual(yield* reason(writer.append(3, frame(3))), "InvalidAppend")
      yield* writer.end
      assert.strictEqual(yield* reason(writer.append(4, frame(4))), "InvalidAppend")
    }))
})

describe("ResumeLog (memory): the total and per-tenant byte budgets", () => {
  const size = Buffer.byteLength(frame(0))
  it.effect("suspended sessions go first, oldest first; their token then claims nothing", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make({ maxTotalBytes: size * 10, maxTenantBytes: size * 100 })
      for (const token of ["s1", "s2"]) {
        yield* log.openSession(session(token))
        const writer = yield* log.begin({ session: session(token), responseId: `r_${token}`, lane: "a", requestId: `lwr_${token}` })
        for (let i = 0; i < 4; i++) yield* writer.append(i, frame(i))
        yield* log.suspend(session(token))
      }
      yield* log.openSession(session("live"))
      const live = yield* log.begin({ session: session("live"), responseId: "r_live", lane: "a" })
      for (let i = 0; i < 4; i++) yield* live.append(i, frame(i))
      // 12 frames > 10: the oldest suspended session (s1) made room.
      yield* log.openSession(session("n1"))
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "s1", into: "n1" })), "evicted")
      assert.isTrue(Option.isSome(yield* log.claim({ tenant: "acme", token: "s2", into: "n1" })), "kept")
      assert.deepStrictEqual(yield* collect(log.read("acme", "r_live", -1).pipe(Stream.take(4))), [0, 1, 2, 3].map(frame))
    }))

  it.effect("then the growing log's own oldest frames (a resume from before them is truncated)", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make({ maxTotalBytes: size * 5, maxTenantBytes: size * 100 })
      yield* log.openSession(session("live"))
      const writer = yield* log.begin({ session: session("live"), responseId: "r", lane: "a" })
      for (let i = 0; i < 8; i++) yield* writer.append(i, frame(i))
      yield* writer.end
      assert.strictEqual(yield* reason(collect(log.read("acme", "r", -1))), "Truncated")
      assert.deepStrictEqual(yield* collect(log.read("acme", "r", 2)), [3, 4, 5, 6, 7].map(frame))
    }))

  it.effect("one tenant over its budget sheds its own sessions, not another tenant's", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make({ maxTotalBytes: size * 100, maxTenantBytes: size * 6 })
      yield* log.openSession(session("quiet", "globex"))
      const quiet = yield* log.begin({ session: session("quiet", "globex"), responseId: "rq", lane: "a" })
      for (let i = 0; i < 4; i++) yield* quiet.append(i, frame(i))
      yield* log.suspend(session("quiet", "globex"))
      yield* log.openSession(session("old"))
      const old = yield* log.begin({ session: session("old"), responseId: "ro", lane: "a" })
      for (let i = 0; i < 4; i++) yield* old.append(i, frame(i))
      yield* log.suspend(session("old"))
      yield* log.openSession(session("noisy"))
      const noisy = yield* log.begin({ session: session("noisy"), responseId: "rn", lane: "a" })
      for (let i = 0; i < 4; i++) yield* noisy.append(i, frame(i))
      yield* log.openSession(session("n", "globex"))
      assert.isTrue(Option.isSome(yield* log.claim({ tenant: "globex", token: "quiet", into: "n" })))
      yield* log.openSession(session("n2"))
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "n2" })))
    }))
})

describe("ResumeLog (memory): sessions", () => {
  it.effect("a suspended session is claimed exactly once, into the new session", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make()
      yield* log.openSession(session("old"))
      const w1 = yield* log.begin({ session: session("old"), responseId: "r1", lane: "a", requestId: "lwr_1" })
      yield* log.begin({ session: session("old"), responseId: "r2", lane: "b", requestId: "lwr_2" })
      yield* log.begin({ session: session("old"), responseId: "r3", lane: "b" })
      yield* w1.append(0, frame(0))
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "new" })), "live: no claim")
      yield* log.suspend(session("old"))
      yield* log.openSession(session("new"))
      yield* log.openSession(session("other"))
      const [first, second] = yield* Effect.all([
        log.claim({ tenant: "acme", token: "old", into: "new" }),
        log.claim({ tenant: "acme", token: "old", into: "other" })
      ], { concurrency: "unbounded" })
      assert.isTrue(Option.isSome(first))
      assert.isTrue(Option.isNone(second))
      const claimed = Option.getOrThrow(first)
      assert.deepStrictEqual(claimed.lanes, ["a", "b"])
      assert.deepStrictEqual(claimed.requests, [
        { requestId: "lwr_1", responseId: "r1", lane: "a" },
        { requestId: "lwr_2", responseId: "r2", lane: "b" }
      ])
      assert.deepStrictEqual(yield* log.findRequest(session("new"), "lwr_2"), Option.some(claimed.requests[1]!))
      assert.isTrue(Option.isNone(yield* log.findRequest(session("old"), "lwr_1")), "the old token is spent")
      assert.isTrue(Option.isNone(yield* log.findRequest(session("other"), "lwr_1")))
      // A request the old connection had queued and starts only now is recorded in the claiming session.
      yield* log.begin({ session: session("old"), responseId: "r4", lane: "b", requestId: "lwr_4" })
      assert.isTrue(Option.isSome(yield* log.findRequest(session("new"), "lwr_4")))
      // The old connection's grace timer learns that it was claimed; its running responses keep their logs.
      assert.deepStrictEqual(yield* log.release(session("old")), { _tag: "Claimed", into: "new" })
      yield* w1.append(1, frame(1))
      yield* w1.end
      assert.deepStrictEqual(yield* collect(log.read("acme", "r1", -1)), [frame(0), frame(1)])
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "other" })))
    }))

  it.effect("an unconfirmed claim is followed by the old token once; a confirmed one is final", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make()
      yield* log.openSession(session("old"))
      yield* log.begin({ session: session("old"), responseId: "r1", lane: "a", requestId: "lwr_1" })
      yield* log.suspend(session("old"))
      yield* log.openSession(session("cut"))
      assert.isTrue(Option.isSome(yield* log.claim({ tenant: "acme", token: "old", into: "cut" })))
      // The reconnect that claimed is still open: no second claim of its session.
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "x" })), "successor live")
      // Its 101 was cut: it drops without a frame; the old token, presented again, claims its session.
      yield* log.suspend(session("cut"))
      yield* log.openSession(session("next"))
      yield* log.openSession(session("rival"))
      const [first, second] = yield* Effect.all([
        log.claim({ tenant: "acme", token: "old", into: "next" }),
        log.claim({ tenant: "acme", token: "old", into: "rival" })
      ], { concurrency: "unbounded" })
      assert.isTrue(Option.isNone(second), "at most one")
      const claimed = Option.getOrThrow(first)
      assert.strictEqual(claimed.token, "cut")
      assert.strictEqual(claimed.presented, "old")
      assert.deepStrictEqual(claimed.requests, [{ requestId: "lwr_1", responseId: "r1", lane: "a" }])
      assert.isTrue(Option.isSome(yield* log.findRequest(session("next"), "lwr_1")))
      // Confirmed (a frame arrived on "next"): after its drop only its own token claims it.
      yield* log.confirm(session("next"))
      yield* log.suspend(session("next"))
      yield* log.openSession(session("last"))
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "last" })), "old spent")
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "cut", into: "last" })), "cut spent")
      assert.isTrue(Option.isSome(yield* log.claim({ tenant: "acme", token: "next", into: "last" })))
    }))

  it.effect("no claim for another tenant, an unknown token, itself, or after the grace period", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make({ grace: "60 seconds" })
      yield* log.openSession(session("old"))
      yield* log.begin({ session: session("old"), responseId: "r1", lane: "a", requestId: "lwr_1" })
      yield* log.suspend(session("old"))
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "globex", token: "old", into: "new" })))
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "unknown", into: "new" })))
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "old" })))
      yield* TestClock.adjust("60 seconds")
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "new" })))
      assert.strictEqual(yield* reason(collect(log.read("acme", "r1", -1))), "NotFound", "expired with its session")
    }))

  it.effect("claims inside the grace period succeed", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make({ grace: "60 seconds" })
      yield* log.openSession(session("old"))
      yield* log.suspend(session("old"))
      yield* TestClock.adjust("59 seconds")
      assert.isTrue(Option.isSome(yield* log.claim({ tenant: "acme", token: "old", into: "new" })))
    }))

  it.effect("release drops an unclaimed session and its logs; a waiting reader fails with NotFound", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make()
      yield* log.openSession(session("old"))
      const writer = yield* log.begin({ session: session("old"), responseId: "r1", lane: "a", requestId: "lwr_1" })
      yield* writer.append(0, frame(0))
      const reader = yield* Effect.fork(reason(collect(log.read("acme", "r1", 0))))
      yield* Effect.yieldNow()
      yield* log.suspend(session("old"))
      assert.deepStrictEqual(yield* log.release(session("old")), { _tag: "Released" })
      assert.strictEqual(yield* Fiber.join(reader), "NotFound")
      yield* writer.append(1, frame(1)) // the interrupted response's late append is ignored
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "new" })))
      assert.isTrue(Option.isNone(yield* log.findRequest(session("old"), "lwr_1")))
    }))

  it.effect("a grace period of zero keeps nothing after a drop", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.make({ grace: 0 })
      yield* log.openSession(session("old"))
      yield* log.begin({ session: session("old"), responseId: "r1", lane: "a" })
      yield* log.suspend(session("old"))
      assert.isTrue(Option.isNone(yield* log.claim({ tenant: "acme", token: "old", into: "new" })))
      assert.strictEqual(yield* reason(collect(log.read("acme", "r1", -1))), "NotFound")
    }))

  it.effect("makeToken: 32 random bytes, base64url", () =>
    Effect.gen(function*() {
      const tokens = yield* Effect.all(Array.from({ length: 20 }, () => ResumeLog.makeToken))
      for (const token of tokens) {
        assert.match(token, /^[A-Za-z0-9_-]{43}$/)
        assert.strictEqual(Buffer.from(token, "base64url").length, 32)
      }
      assert.strictEqual(new Set(tokens).size, tokens.length)
    }))

  it.effect("layerConfig reads LOOPWIRE_RESUME_GRACE and LOOPWIRE_RESUME_LOG_BYTES", () =>
    Effect.gen(function*() {
      const log = yield* ResumeLog.ResumeLog
      const writer = yield* log.begin({ session: session("s"), responseId: "r", lane: "a" })
      yield* writer.append(0, "12345")
      yield* writer.append(1, "67890")
      yield* writer.end
      assert.strictEqual(yield* reason(collect(log.read("acme", "r", -1))), "Truncated")
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* reason(collect(log.read("acme", "r", 0))), "NotFound")
    }).pipe(Effect.provide(
      ResumeLog.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
        new Map([["LOOPWIRE_RESUME_GRACE", "5 seconds"], ["LOOPWIRE_RESUME_LOG_BYTES", "8"]])
      ))))
    )))

  it.effect("layerConfig rejects a non-positive byte budget", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(
        ResumeLog.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([["LOOPWIRE_RESUME_LOG_BYTES", "0"]])
        ))))
      ).pipe(Effect.scoped))
      assert.isTrue(Exit.isFailure(exit))
    }))
})
