import { assert, describe, it } from "@effect/vitest"
import { ResumeHeaders } from "@loopwire/protocol/Resume"
import type { Connection } from "@loopwire/transport/Connection"
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import * as Memory from "@loopwire/transport/Memory"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Auth from "../src/Auth.js"
import * as Gateway from "../src/Gateway.js"
import * as GatewayConfig from "../src/GatewayConfig.js"
import * as ResumeLog from "../src/ResumeLog.js"
import { type Json, makeBackend, services, user } from "./fixtures.js"

const create = (fields: Json = {}): Json => ({ type: "response.create", model: "m", ...fields })
const terminal = new Set(["response.completed", "response.incomplete", "response.failed", "error"])

/** The in-memory ResumeLog, reporting each `suspend` (the gateway has seen the drop) on a queue. */
const spiedLog = () => {
  const suspended = Effect.runSync(Queue.unbounded<string>())
  const layer = Layer.effect(
    ResumeLog.ResumeLog,
    Effect.map(ResumeLog.makeMemory(), (log) => ({
      ...log,
      suspend: (session: ResumeLog.SessionRef) =>
        Effect.zipRight(log.suspend(session), Queue.offer(suspended, session.token))
    }))
  )
  return { layer, suspended }
}

interface Client {
  readonly connection: Connection
  readonly headers: Readonly<Record<string, string>>
  readonly send: (event: Json) => Effect.Effect<void>
  readonly next: Effect.Effect<Json>
  readonly untilDone: Effect.Effect<ReadonlyArray<Json>>
}

/**
 * One gateway process over the in-memory transport; `plan` gives the faults of the n-th connection on the
 * gateway's side (a black hole there is a client that went silent: no frame and no pong reaches the gateway).
 */
const gatewayProcess = (plan: FaultInjection.Plan = {}) =>
  Effect.gen(function*() {
    const handler = yield* Gateway.upgradeHandler
    const transport = yield* Memory.makeServer(FaultInjection.wrapHandler(handler, plan))
    return (token?: string): Effect.Effect<Client, never, Scope.Scope> =>
      Effect.gen(function*() {
        const headers: Record<string, string> = { authorization: "Bearer sk" }
        if (token !== undefined) headers[ResumeHeaders.token] = token
        const connection = yield* Effect.orDie(transport.open("ws://gateway.test/v1/responses", { headers }))
        const inbox = yield* Queue.unbounded<Json>()
        yield* connection.frames.pipe(
          Stream.runForEach((text) => Queue.offer(inbox, JSON.parse(text))),
          Effect.ignore,
          Effect.forkScoped
        )
        return {
          connection,
          headers: connection.handshake.responseHeaders,
          send: (event) => Effect.orDie(connection.send(JSON.stringify(event))),
          next: Queue.take(inbox),
          untilDone: Effect.gen(function*() {
            const events: Array<Json> = []
            while (true) {
              const event = yield* Queue.take(inbox)
              events.push(event)
              if (terminal.has(event.type)) return events
            }
          })
        }
      })
  })

// The heartbeat runs in the gateway's handler fiber, not the test's: advance the clock a second at a time.
const advance = (seconds: number) =>
  Effect.forEach(
    Array.from({ length: seconds }),
    () => Effect.zipRight(TestClock.adjust("1 second"), Effect.repeatN(Effect.yieldNow(), 20)),
    { discard: true }
  )

const gateway = (
  backend: ReturnType<typeof makeBackend>,
  log: ReturnType<typeof spiedLog>,
  config: Partial<GatewayConfig.GatewayConfigShape> = {}
) => Layer.mergeAll(services(backend, config), log.layer, Auth.layer())

describe("gateway heartbeat", () => {
  it("config: 30 s / 10 s by default; a zero interval or timeout turns it off", () => {
    const beat = GatewayConfig.heartbeatOf(GatewayConfig.defaults)!
    assert.strictEqual(Duration.toMillis(beat.interval), 30_000)
    assert.strictEqual(Duration.toMillis(beat.timeout), 10_000)
    assert.isUndefined(GatewayConfig.heartbeatOf({ heartbeatInterval: Duration.zero, heartbeatTimeout: beat.timeout }))
    assert.isUndefined(GatewayConfig.heartbeatOf({ heartbeatInterval: beat.interval, heartbeatTimeout: Duration.zero }))
  })

  it.effect("env: LOOPWIRE_HEARTBEAT_INTERVAL / LOOPWIRE_HEARTBEAT_TIMEOUT (durations, 0 = off); bad values refused", () =>
    Effect.gen(function*() {
      const fromEnv = (env: Record<string, string>) =>
        Effect.provide(
          GatewayConfig.GatewayConfig,
          GatewayConfig.layerConfig().pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
          )
        )
      const byDefault = yield* fromEnv({})
      assert.strictEqual(Duration.toMillis(byDefault.heartbeatInterval), 30_000)
      assert.strictEqual(Duration.toMillis(byDefault.heartbeatTimeout), 10_000)
      const set = yield* fromEnv({ LOOPWIRE_HEARTBEAT_INTERVAL: "15 seconds", LOOPWIRE_HEARTBEAT_TIMEOUT: "3 seconds" })
      assert.strictEqual(Duration.toMillis(set.heartbeatInterval), 15_000)
      assert.strictEqual(Duration.toMillis(set.heartbeatTimeout), 3_000)
      const off = yield* fromEnv({ LOOPWIRE_HEARTBEAT_INTERVAL: "0" })
      assert.isUndefined(GatewayConfig.heartbeatOf(off))
      const bad = yield* Effect.exit(fromEnv({ LOOPWIRE_HEARTBEAT_TIMEOUT: "soon" }))
      assert.isTrue(Exit.isFailure(bad))
      assert.include(String(Exit.isFailure(bad) ? bad.cause : ""), "LOOPWIRE_HEARTBEAT_TIMEOUT")
    }))

  it.scoped("a silent client is cut after interval + timeout; its session is suspended and claimable (resumed: 1)", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog()
    return Effect.gen(function*() {
      // The gateway receives the create, then nothing at all from this client (from its next frame on): no frame,
      // no pong.
      const open = yield* gatewayProcess((n) => n === 0 ? { blackHoleAfterFrames: { direction: "inbound", frames: 1 } } : {})
      const first = yield* open()
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send(create({ input: [user("hello")], loopwire_request_id: "lwr_1" }))
      const seen = [yield* first.next, yield* first.next]
      assert.deepStrictEqual(seen.map((e) => e.sequence_number), [0, 1])
      yield* first.send({ type: "response.processed" })

      // Not before the first unanswered ping's timeout (30 s + 10 s)...
      yield* advance(39)
      assert.isTrue(Option.isNone(yield* Queue.poll(log.suspended)))
      // ...then the gateway cuts the connection as a drop (1006 on both ends).
      yield* advance(2)
      assert.strictEqual(yield* Queue.take(log.suspended), token)
      assert.strictEqual((yield* first.connection.closed).code, 1006)

      // The response ran on into the log; a reconnect with the token takes the session over.
      yield* backend.release()
      const second = yield* open(token)
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      yield* second.send({ type: "loopwire.resume", loopwire_request_id: "lwr_1", starting_after: 1 })
      const rest = yield* second.untilDone
      assert.deepStrictEqual(rest.map((e) => e.sequence_number), [2, 3, 4])
      assert.strictEqual(rest.at(-1)!.type, "response.completed")
      assert.strictEqual(backend.turns.length, 1)
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a token presented before the heartbeat noticed: the silent socket is probed, cut and resumed at once", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess((n) => n === 0 ? { blackHoleAfterFrames: { direction: "inbound", frames: 1 } } : {})
      const first = yield* open()
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send(create({ input: [user("hello")], loopwire_request_id: "lwr_1" }))
      const seen = [yield* first.next, yield* first.next]
      yield* first.send({ type: "response.processed" })
      // The client found its socket dead (say, by its own ping) well before the gateway's first ping (30 s).
      yield* advance(3)
      const reconnecting = yield* Effect.fork(open(token))
      // The probe waits min(timeout, 5 s) for a pong that never comes, cuts, and claims.
      yield* advance(6)
      const second = yield* Fiber.join(reconnecting)
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      assert.strictEqual(yield* Queue.take(log.suspended), token)
      assert.strictEqual((yield* first.connection.closed).code, 1006)
      yield* backend.release()
      yield* second.send({ type: "loopwire.resume", loopwire_request_id: "lwr_1", starting_after: 1 })
      const rest = yield* second.untilDone
      assert.deepStrictEqual([...seen, ...rest].map((e) => e.sequence_number), [0, 1, 2, 3, 4])
      assert.strictEqual(backend.turns.length, 1)
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a token presented while its connection answers pings: resumed 0, the connection is left alone", () => {
    const backend = makeBackend()
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess()
      const live = yield* open()
      const other = yield* open(live.headers[ResumeHeaders.token]!)
      assert.strictEqual(other.headers[ResumeHeaders.resumed], "0")
      yield* live.send(create({ input: [user("still mine")] }))
      assert.strictEqual((yield* live.untilDone).at(-1)!.type, "response.completed")
      assert.isTrue(Option.isNone(yield* Queue.poll(log.suspended)))
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("the timings follow the config; a live client is never cut, however long its response runs", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess((n) => n === 1 ? { blackHoleAfterFrames: { direction: "inbound", frames: 0 } } : {})
      const live = yield* open()
      yield* live.send(create({ input: [user("long")] }))
      yield* live.next
      const silent = yield* open()
      // 5 s + 2 s for the silent one; the live one answers every ping during a response that runs for minutes.
      yield* advance(6)
      assert.isTrue(Option.isNone(yield* Queue.poll(log.suspended)))
      yield* advance(2)
      assert.strictEqual(yield* Queue.take(log.suspended), silent.headers[ResumeHeaders.token])
      yield* advance(180)
      yield* backend.release()
      const events = yield* live.untilDone
      assert.strictEqual(events.at(-1)!.type, "response.completed")
      assert.isTrue(Option.isNone(yield* Queue.poll(log.suspended)))
    }).pipe(Effect.provide(gateway(backend, log, { heartbeatInterval: Duration.seconds(5), heartbeatTimeout: Duration.seconds(2) })))
  })

  it.scoped("heartbeat off (interval 0): a silent client is never cut", () => {
    const backend = makeBackend()
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess({ blackHoleAfterFrames: { direction: "inbound", frames: 0 } })
      const silent = yield* open()
      yield* advance(120)
      assert.isTrue(Option.isNone(yield* Queue.poll(log.suspended)))
      assert.isTrue(Option.isNone(yield* Effect.timeoutOption(silent.connection.closed, Duration.zero)))
    }).pipe(Effect.provide(gateway(backend, log, { heartbeatInterval: Duration.zero })))
  })
})
