/**
 * Reconnect-with-resume on the client (docs/resume.md): the pure decisions, and the socket multiplexer against a
 * tiny resume-capable in-memory server with FaultInjection cuts. Time (reconnect backoff, grace periods, the
 * session's ladder) is the TestClock's, advanced by `drive` while the in-memory server runs.
 */
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Schema, Stream } from "effect"
import * as AgentLoop from "../src/AgentLoop.js"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as Resume from "../src/Resume.js"
import * as Session from "../src/Session.js"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { drive } from "./helpers/drive.js"
import * as ResumeLike from "./helpers/resumeLike.js"

describe("Resume (pure)", () => {
  it("reads the offer only when a token is present; a bad grace is 0", () => {
    assert.isUndefined(Resume.offerOf({}))
    assert.deepStrictEqual(Resume.offerOf({ "loopwire-resume-token": "t", "loopwire-resume-grace": "60000" }), {
      token: "t",
      graceMillis: 60000
    })
    assert.deepStrictEqual(Resume.offerOf({ "Loopwire-Resume-Token": "t", "loopwire-resume-grace": "soon" }), {
      token: "t",
      graceMillis: 0
    })
    assert.isTrue(Resume.wasResumed({ "loopwire-resumed": "1" }))
    assert.isFalse(Resume.wasResumed({ "loopwire-resumed": "0" }))
    assert.isFalse(Resume.wasResumed({}))
  })

  it("tags a create right after its type, keeping the rest byte for byte", () => {
    const frame = `{"type":"response.create","model":"m","input":[]}`
    const tagged = Resume.tagCreate(frame, "lwr_1")
    assert.strictEqual(tagged, `{"type":"response.create","loopwire_request_id":"lwr_1","model":"m","input":[]}`)
    assert.deepStrictEqual(JSON.parse(tagged), { ...JSON.parse(frame), loopwire_request_id: "lwr_1" })
    assert.deepStrictEqual(JSON.parse(Resume.tagCreate(`{"model":"m"}`, "x")), { model: "m", loopwire_request_id: "x" })
    assert.deepStrictEqual(JSON.parse(Resume.tagCreate(`{}`, "x")), { loopwire_request_id: "x" })
  })

  it("encodes loopwire.resume and recognises the refusals and the request they name", () => {
    assert.deepStrictEqual(JSON.parse(Resume.encodeResume("lwr_1", 17)), {
      type: "loopwire.resume",
      loopwire_request_id: "lwr_1",
      starting_after: 17
    })
    const frame = {
      type: "error",
      status: 409,
      error: { type: "invalid_request_error", code: "resume_request_unknown", message: "Request 'lwr_a-b_1' was never received.", param: "loopwire_request_id" }
    }
    assert.strictEqual(Resume.refusalOf(frame), "resume_request_unknown")
    assert.strictEqual(Resume.requestIdOf(frame), "lwr_a-b_1")
    assert.strictEqual(Resume.requestIdOf({ ...frame, loopwire_request_id: "lwr_x" }), "lwr_x")
    assert.strictEqual(Resume.refusalOf({ type: "error", code: "resume_log_truncated" }), "resume_log_truncated")
    assert.isUndefined(Resume.refusalOf({ type: "error", error: { code: "previous_response_not_found" } }))
  })

  it("backs off from initialMillis, doubling, capped, with jitter in (0.75, 1]", () => {
    const policy = { ...ClientConfig.defaultResume, initialMillis: 100, maxMillis: 2000 }
    assert.strictEqual(Resume.delayMillis(policy, 0, 0), 100)
    assert.strictEqual(Resume.delayMillis(policy, 3, 0), 800)
    assert.strictEqual(Resume.delayMillis(policy, 10, 0), 2000)
    assert.strictEqual(Resume.delayMillis(policy, 0, 0.999), 75)
  })

  it("configuration: on by default, false disables, partial overrides", () => {
    assert.isTrue(ClientConfig.make({ url: "ws://x/v1/responses" }).resume.enabled)
    assert.isFalse(ClientConfig.make({ url: "ws://x/v1/responses", resume: false }).resume.enabled)
    assert.strictEqual(ClientConfig.make({ url: "ws://x/v1/responses", resume: { initialMillis: 5 } }).resume.initialMillis, 5)
  })
})

const Step = Tool.make("step", { parameters: { n: Schema.Number }, success: Schema.Number })
const kit = Toolkit.make(Step)
const settings: Session.Settings = { model: "m", store: false }
const backoff = { initialMillis: 1, maxMillis: 5, maxRetries: 5 }

interface Outcome {
  readonly events: ReadonlyArray<AgentLoop.AgentEvent>
  /** The sequence numbers each `send` delivered, per attempt. */
  readonly sequences: ReadonlyArray<ReadonlyArray<number>>
  readonly runs: ReadonlyMap<string, number>
  readonly metrics: Session.Metrics
  readonly sessionEvents: ReadonlyArray<Session.SessionEvent>
  readonly socketEvents: ReadonlyArray<ConnectionPool.SocketEvent>
}

const rollout = (
  server: ReturnType<typeof ResumeLike.make>,
  plan: FaultInjection.Plan,
  options: { readonly resume?: Partial<ClientConfig.ResumePolicy> | false; readonly prewarm?: boolean } = {}
) =>
  Effect.gen(function*() {
    const runs = new Map<string, number>()
    const config = ClientConfig.make({
      url: "ws://fake.test/v1/responses",
      resume: options.resume === false ? false : { initialMillis: 2, maxMillis: 50, refusedRetries: 4, ...options.resume }
    })
    const handlers = kit.toLayer({
      step: ({ n }) => Effect.sync(() => (runs.set(`call_${n}`, (runs.get(`call_${n}`) ?? 0) + 1), n))
    })
    const pool = ConnectionPool.layer(config).pipe(Layer.provide(FaultInjection.layer(plan)), Layer.provide(server.layer))
    return yield* drive(Effect.gen(function*() {
      const poolService = yield* ConnectionPool.ConnectionPool
      const sockets = yield* poolService.subscribe
      const session = yield* Session.make({ settings, backoff })
      const sessionEventsStream = yield* session.subscribe
      if (options.prewarm) yield* session.prewarm()
      const sequences: Array<Array<number>> = []
      const recording: Session.Session = {
        ...session,
        send: (items, s) =>
          Stream.suspend(() => {
            let current: Array<number> = []
            sequences.push(current)
            return session.send(items, s).pipe(Stream.tap((e) =>
              Effect.sync(() => {
                if (e._tag === "Discard") sequences.push(current = [])
                else current.push((e.event as any).sequence_number)
              })
            ))
          })
      }
      const events = Chunk.toArray(yield* Stream.runCollect(AgentLoop.runWith(recording, "go", { toolkit: kit, settings })))
      const metrics = yield* session.metrics
      const collectNow = <A>(s: Stream.Stream<A>) =>
        Stream.runCollect(s.pipe(Stream.interruptWhen(Effect.sleep("20 millis")))).pipe(Effect.map(Chunk.toArray))
      return {
        events,
        sequences,
        runs,
        metrics,
        sessionEvents: yield* collectNow(sessionEventsStream),
        socketEvents: yield* collectNow(sockets)
      } satisfies Outcome
    }).pipe(Effect.provide(Layer.merge(pool, handlers))), "5 millis", 20_000)
  })

const assertClean = (outcome: Outcome, toolCalls: number) => {
  const last = outcome.events.at(-1) as any
  assert.strictEqual(last._tag, "FinalAnswer")
  assert.isTrue(last.text.startsWith(`done after ${toolCalls} `))
  assert.isFalse(outcome.events.some((e) => e._tag === "TurnRestarted"), "no turn was restarted")
  for (const seqs of outcome.sequences) assert.deepStrictEqual(seqs, seqs.map((_, i) => i), "no gap, no repeat")
  assert.strictEqual(outcome.runs.size, toolCalls)
  for (const [, n] of outcome.runs) assert.strictEqual(n, 1)
}

describe("resume against a resume-capable server", () => {
  it.scoped("without a fault: requests are tagged with unique ids, nothing else changes", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 3 })
      const outcome = yield* rollout(server, {})
      assertClean(outcome, 3)
      const ids = server.creates.map((c) => c.body.loopwire_request_id)
      assert.strictEqual(ids.length, 4)
      assert.strictEqual(new Set(ids).size, 4)
      for (const id of ids) assert.match(id, /^lwr_/)
      assert.strictEqual(outcome.metrics.deltaRequests, 3)
    }))

  it.scoped("a server without the extension never sees loopwire_request_id", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2, offer: false })
      const outcome = yield* rollout(server, {})
      assertClean(outcome, 2)
      for (const c of server.creates) assert.isFalse("loopwire_request_id" in c.body)
    }))

  it.scoped("resume disabled on the client: no tags even when offered", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2 })
      const outcome = yield* rollout(server, {}, { resume: false })
      assertClean(outcome, 2)
      for (const c of server.creates) assert.isFalse("loopwire_request_id" in c.body)
    }))

  it.scoped("a cut mid-response (inbound): resumed after the last delivered event, no regeneration", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 3 })
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 9 } } : {})
      assertClean(outcome, 3)
      assert.strictEqual(server.generated(), 4)
      assert.isTrue(server.upgrades.at(-1)!.resumed)
      // Frames 8 and 9 are the second response's created (0) and in_progress (1).
      assert.deepStrictEqual(server.resumes.map((r) => [r.startingAfter, r.answer]), [[1, "ok"]])
      assert.strictEqual(outcome.metrics.resumes, 1)
      assert.isTrue(outcome.metrics.resumedEvents > 0)
      assert.strictEqual(outcome.metrics.fullRequests, 1)
      assert.strictEqual(outcome.metrics.reconnects, 0)
      assert.isTrue(outcome.sessionEvents.some((e) => e._tag === "Resumed" && e.startingAfter === 1))
      assert.deepStrictEqual(outcome.socketEvents.map((e) => e._tag), ["Dropped", "Resumed"])
    }))

  it.scoped("a create lost on the wire (outbound cut): resume_request_unknown, the same request re-sent", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 3 })
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "outbound", frames: 1 } } : {})
      assertClean(outcome, 3)
      assert.strictEqual(server.generated(), 4)
      assert.deepStrictEqual(server.resumes.map((r) => r.answer), ["resume_request_unknown"])
      assert.strictEqual(outcome.metrics.resent, 1)
      // The re-sent create is the lost one, id and all, and still a delta (the lane cache carried over).
      const second = server.creates[1]!.body
      assert.strictEqual(second.loopwire_request_id, server.resumes[0]!.id)
      assert.isString(second.previous_response_id)
      assert.strictEqual(outcome.metrics.fullRequests, 1)
    }))

  it.scoped("a drop between turns: the socket resumes at once, the next turn is still a delta", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2 })
      // The first response has 8 frames: cut right after its terminal event.
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 8 } } : {})
      assertClean(outcome, 2)
      assert.strictEqual(outcome.metrics.fullRequests, 1)
      assert.strictEqual(outcome.metrics.deltaRequests, 2)
      assert.strictEqual(server.generated(), 3)
    }))

  it.scoped("during a prewarm: resumed like any response", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2 })
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 1 } } : {}, { prewarm: true })
      assertClean(outcome, 2)
      assert.strictEqual(server.generated(), 3)
      assert.deepStrictEqual(server.resumes.map((r) => [r.startingAfter, r.answer]), [[0, "ok"]])
      // The prewarm, then the first turn (the toolkit's tools change the settings), then deltas.
      assert.strictEqual(outcome.metrics.fullRequests, 2)
      assert.strictEqual(outcome.metrics.reconnects, 0)
    }))

  it.scoped("loopwire-resumed: 0 (the server forgot): refused, the standard ladder completes", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 3, forgetTokens: true })
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 9 } } : {})
      const last = outcome.events.at(-1) as any
      assert.strictEqual(last._tag, "FinalAnswer")
      assert.isTrue(outcome.events.some((e) => e._tag === "TurnRestarted"))
      // 1 + refusedRetries (4) resuming upgrades, all answered 0, then the ladder's fresh dial.
      assert.deepStrictEqual(server.upgrades.slice(1, 7).map((u) => u.resumed), [false, false, false, false, false, undefined])
      assert.isTrue(outcome.sessionEvents.some((e) => e._tag === "ResumeRefused" && e.reason === "not_resumed"))
      assert.isTrue(outcome.socketEvents.some((e) => e._tag === "ResumeRefused" && e.reason === "not_resumed"))
      assert.strictEqual(outcome.metrics.resumeRefusals, 1)
      assert.strictEqual(outcome.metrics.reconnects, 1)
      assert.strictEqual(outcome.metrics.fullRequests, 2)
    }))

  it.scoped("a grace period of zero: no resume attempt, the standard ladder", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2, graceMillis: 0 })
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 9 } } : {})
      assert.strictEqual((outcome.events.at(-1) as any)._tag, "FinalAnswer")
      assert.isTrue(server.upgrades.every((u) => u.token === undefined))
      assert.deepStrictEqual(outcome.socketEvents.map((e) => e._tag), ["Dropped"])
      assert.strictEqual(outcome.metrics.reconnects, 1)
    }))

  it.scoped("reconnect slower than the grace period: the client gives up and takes the ladder", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2, graceMillis: 30 })
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 9 } } : {}, {
        resume: { initialMillis: 100, maxMillis: 100 }
      })
      assert.strictEqual((outcome.events.at(-1) as any)._tag, "FinalAnswer")
      assert.isTrue(server.upgrades.every((u) => u.token === undefined))
      assert.isTrue(outcome.socketEvents.some((e) => e._tag === "ResumeRefused" && e.reason === "grace_expired"))
      assert.strictEqual(outcome.metrics.reconnects, 1)
    }))

  it.scoped("resume_log_truncated: the ladder re-issues the turn", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 1, logFrames: 4, answerChars: 200 })
      // The final answer has ~57 frames; cut early in it so the log has moved past the client's cursor.
      // The reconnect waits 50 ms: the response runs on to its end meanwhile, past the client's cursor.
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 10 } } : {}, {
        resume: { initialMillis: 50, maxMillis: 50 }
      })
      assert.strictEqual((outcome.events.at(-1) as any)._tag, "FinalAnswer")
      assert.deepStrictEqual(server.resumes.map((r) => r.answer), ["resume_log_truncated"])
      assert.isTrue(outcome.events.some((e) => e._tag === "TurnRestarted"))
      assert.isTrue(outcome.sessionEvents.some((e) => e._tag === "ResumeRefused" && e.reason === "resume_log_truncated"))
      assert.strictEqual(outcome.runs.get("call_0"), 1)
    }))

  it.scoped("resume_log_unavailable: the loopwire.resume is asked again after a backoff", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2, logUnavailable: 2 })
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 9 } } : {})
      assertClean(outcome, 2)
      assert.deepStrictEqual(server.resumes.map((r) => r.answer), ["resume_log_unavailable", "resume_log_unavailable", "ok"])
      assert.strictEqual(server.generated(), 3)
    }))

  it.scoped("resume_log_unavailable that persists: after 3 retries, the ladder", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2, logUnavailable: 4 })
      const outcome = yield* rollout(server, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 9 } } : {})
      assert.strictEqual((outcome.events.at(-1) as any)._tag, "FinalAnswer")
      assert.strictEqual(server.resumes.length, 4)
      assert.isTrue(outcome.sessionEvents.some((e) => e._tag === "ResumeRefused" && e.reason === "resume_log_unavailable"))
      assert.strictEqual(outcome.metrics.reconnects, 1)
    }))

  it.scoped("four sessions on one socket: every in-flight response resumed, in send order", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 3 })
      const runs = new Map<string, number>()
      const config = ClientConfig.make({ url: "ws://fake.test/v1/responses", resume: { initialMillis: 2, maxMillis: 10 } })
      const handlers = kit.toLayer({ step: ({ n }) => Effect.sync(() => (runs.set(`${n}`, (runs.get(`${n}`) ?? 0) + 1), n)) })
      // Each turn has 7-8 frames per session: 20 inbound frames lands in the first turns, all four in flight.
      const pool = ConnectionPool.layer(config).pipe(
        Layer.provide(FaultInjection.layer((i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 20 } } : {})),
        Layer.provide(server.layer)
      )
      const answers = yield* drive(Effect.forEach(
        ["a", "b", "c", "d"],
        (task) =>
          AgentLoop.run(task, { toolkit: kit, settings, session: { backoff } }).pipe(
            Stream.runCollect,
            Effect.map((events) => Chunk.toArray(events))
          ),
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(Layer.merge(pool, handlers))), "5 millis", 20_000)
      for (const events of answers) {
        assert.strictEqual((events.at(-1) as any)._tag, "FinalAnswer")
        assert.isFalse(events.some((e) => e._tag === "TurnRestarted"))
      }
      assert.strictEqual(server.generated(), 16)
      assert.isAtLeast(server.resumes.length, 2)
      // In the order the requests were sent: the order their creates reached the server.
      const sent = server.creates.map((c) => c.body.loopwire_request_id as string)
      const asked = server.resumes.map((r) => r.id)
      assert.deepStrictEqual(asked, [...asked].sort((x, y) => sent.indexOf(x) - sent.indexOf(y)))
      assert.deepStrictEqual([...runs.values()], [4, 4, 4])
    }))

  it.scoped("random cuts in either direction on the first two sockets: always the fault-free transcript", () =>
    Effect.gen(function*() {
      let resumed = 0
      for (let seed = 0; seed < 25; seed++) {
        const server = ResumeLike.make({ toolCalls: 4 })
        const plan = (i: number) =>
          i < 2 ? FaultInjection.random(`${seed}:${i}`, { maxFrames: 40, maxBytes: 8000, kinds: ["cutAfterFrames", "cutAtByte"] }) : {}
        const outcome = yield* rollout(server, plan)
        assertClean(outcome, 4)
        assert.strictEqual(server.generated(), 5, `seed ${seed}`)
        resumed += outcome.socketEvents.filter((e) => e._tag === "Resumed").length
      }
      // The cuts did land: most runs went through at least one resume.
      assert.isAtLeast(resumed, 20)
    }))
})
