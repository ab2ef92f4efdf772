/**
 * The pool's heartbeat: a socket that goes silent (FaultInjection black hole: nothing arrives, pings go
 * unanswered, the socket stays open) is found by the client's ping and cut, then handled like any drop — a resume
 * when the server offered one, else the standard ladder. Time is the TestClock's, advanced by `drive`.
 */
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Layer, Schema, Stream } from "effect"
import * as AgentLoop from "../src/AgentLoop.js"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as Session from "../src/Session.js"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { drive } from "./helpers/drive.js"
import * as ResumeLike from "./helpers/resumeLike.js"

const Step = Tool.make("step", { parameters: { n: Schema.Number }, success: Schema.Number })
const kit = Toolkit.make(Step)
const settings: Session.Settings = { model: "m", store: false }

// The first socket goes silent in the middle of the second response (after its events 0 to 2): every later frame
// is lost and pings go unanswered, but nothing closes.
const silentMidResponse: FaultInjection.Plan = (i) =>
  i === 0 ? { blackHoleAfterFrames: { direction: "inbound", frames: 10 } } : {}

const rollout = (
  server: ReturnType<typeof ResumeLike.make>,
  options: Pick<ClientConfig.Options, "heartbeat"> = {},
  idleTimeout: Duration.DurationInput = "5 minutes"
) =>
  Effect.gen(function*() {
    const config = ClientConfig.make({
      url: "ws://fake.test/v1/responses",
      resume: { initialMillis: 2, maxMillis: 50 },
      ...options
    })
    const handlers = kit.toLayer({ step: ({ n }) => Effect.succeed(n) })
    const pool = ConnectionPool.layer(config).pipe(
      Layer.provide(FaultInjection.layer(silentMidResponse)),
      Layer.provide(server.layer)
    )
    return yield* drive(
      Effect.gen(function*() {
        const sockets = yield* (yield* ConnectionPool.ConnectionPool).subscribe
        const session = yield* Session.make({ settings, idleTimeout, backoff: { initialMillis: 1, maxMillis: 5, maxRetries: 5 } })
        const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const events = Chunk.toArray(yield* Stream.runCollect(AgentLoop.runWith(session, "go", { toolkit: kit, settings })))
        const end = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const socketEvents = Chunk.toArray(
          yield* Stream.runCollect(sockets.pipe(Stream.interruptWhen(Effect.sleep("20 millis"))))
        )
        return { events, socketEvents, metrics: yield* session.metrics, elapsedMillis: end - start }
      }).pipe(Effect.provide(Layer.merge(pool, handlers))),
      "50 millis",
      20_000
    )
  })

describe("ClientConfig.heartbeat", () => {
  it("on by default (30 s / 10 s); false, or a zero interval or timeout, turns it off; partial overrides", () => {
    const url = "ws://x/v1/responses"
    const byDefault = ClientConfig.make({ url }).heartbeat
    assert.isTrue(byDefault !== false && Duration.toMillis(byDefault.interval) === 30_000)
    assert.isTrue(byDefault !== false && Duration.toMillis(byDefault.timeout) === 10_000)
    assert.isFalse(ClientConfig.make({ url, heartbeat: false }).heartbeat)
    assert.isFalse(ClientConfig.make({ url, heartbeat: { interval: 0 } }).heartbeat)
    assert.isFalse(ClientConfig.make({ url, heartbeat: { timeout: "0 millis" } }).heartbeat)
    const custom = ClientConfig.make({ url, heartbeat: { timeout: "2 seconds" } }).heartbeat
    assert.isTrue(custom !== false && Duration.toMillis(custom.interval) === 30_000)
    assert.isTrue(custom !== false && Duration.toMillis(custom.timeout) === 2_000)
    assert.isTrue(ClientConfig.xai().heartbeat !== false)
  })
})

describe("the pool's heartbeat finds a silent socket", () => {
  it.scoped("resume offered: the socket is cut (1006) and resumed; the turn completes with no restart", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2 })
      const outcome = yield* rollout(server)
      const last = outcome.events.at(-1) as any
      assert.strictEqual(last._tag, "FinalAnswer")
      assert.isTrue(last.text.startsWith("done after 2 "))
      assert.isFalse(outcome.events.some((e) => e._tag === "TurnRestarted"))
      assert.deepStrictEqual(outcome.socketEvents.map((e) => e._tag), ["Dropped", "Resumed"])
      const dropped = outcome.socketEvents[0] as Extract<ConnectionPool.SocketEvent, { _tag: "Dropped" }>
      assert.strictEqual(dropped.closeCode, 1006)
      assert.strictEqual(dropped.inFlight, 1)
      assert.isTrue(server.upgrades.at(-1)!.resumed)
      assert.deepStrictEqual(server.resumes.map((r) => [r.startingAfter, r.answer]), [[2, "ok"]])
      assert.strictEqual(server.generated(), 3)
      // Found by the first unanswered ping (30 s + 10 s), long before the session's 5-minute idle timeout.
      assert.isAtLeast(outcome.elapsedMillis, 30_000)
      assert.isBelow(outcome.elapsedMillis, 60_000)
    }))

  it.scoped("no resume offered: the socket is cut and the ladder re-issues the turn", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2, offer: false })
      const outcome = yield* rollout(server, { heartbeat: { interval: "5 seconds", timeout: "2 seconds" } })
      const last = outcome.events.at(-1) as any
      assert.strictEqual(last._tag, "FinalAnswer")
      assert.isTrue(last.text.startsWith("done after 2 "))
      assert.isTrue(outcome.events.some((e) => e._tag === "TurnRestarted"))
      assert.deepStrictEqual(outcome.socketEvents.map((e) => e._tag), ["Dropped"])
      assert.strictEqual((outcome.socketEvents[0] as any).closeCode, 1006)
      assert.strictEqual(outcome.metrics.reconnects, 1)
      assert.isAtLeast(outcome.elapsedMillis, 5_000)
      assert.isBelow(outcome.elapsedMillis, 30_000)
    }))

  it.scoped("heartbeat off: the silent socket waits for the session's idle timeout (closed by the client, 1000)", () =>
    Effect.gen(function*() {
      const server = ResumeLike.make({ toolCalls: 2 })
      const outcome = yield* rollout(server, { heartbeat: false }, "90 seconds")
      assert.strictEqual((outcome.events.at(-1) as any)._tag, "FinalAnswer")
      assert.isTrue(outcome.events.some((e) => e._tag === "TurnRestarted"))
      assert.isTrue(server.resumes.length === 0)
      assert.isAtLeast(outcome.elapsedMillis, 90_000)
    }))
})
