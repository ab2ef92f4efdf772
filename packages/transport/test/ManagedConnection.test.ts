import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type { Connection } from "../src/Connection.js"
import * as FaultInjection from "../src/FaultInjection.js"
import * as ManagedConnection from "../src/ManagedConnection.js"
import * as Memory from "../src/Memory.js"
import * as ReconnectPolicy from "../src/ReconnectPolicy.js"
import { Transport } from "../src/Transport.js"
import type { TransportShape } from "../src/Transport.js"
import * as Upgrade from "../src/Upgrade.js"
import * as WebSocket from "../src/WebSocket.js"
import { serve } from "./utils.js"

const echo = (connection: Connection) =>
  connection.frames.pipe(Stream.runForEach((frame) => connection.send(frame)), Effect.ignore)

/** Lets forked fibers run until the state satisfies `predicate` (no clock movement). */
const waitFor = (managed: ManagedConnection.ManagedConnection, predicate: (s: ManagedConnection.State) => boolean) =>
  managed.state.pipe(Stream.filter(predicate), Stream.runHead, Effect.map(Option.getOrUndefined))

/** Records every state from now on; returns once the recorder has seen the current state. */
const record = (managed: ManagedConnection.ManagedConnection) =>
  Effect.gen(function*() {
    const seen: Array<ManagedConnection.State> = []
    yield* managed.state.pipe(Stream.runForEach((s) => Effect.sync(() => seen.push(s))), Effect.forkScoped)
    while (seen.length === 0) yield* Effect.yieldNow()
    return seen
  })

/**
 * Advances the TestClock by `step` until `done` holds, letting fibers and real IO run in between. Returns the
 * number of steps taken; fails the test after `maxSteps`. Stepping (instead of one big adjust) does not depend on
 * when a forked fiber registers its sleep.
 */
const tickUntil = (step: Duration.DurationInput, done: Effect.Effect<boolean>, maxSteps = 200) =>
  Effect.gen(function*() {
    for (let i = 0; i < maxSteps; i++) {
      if (yield* done) return i
      yield* TestClock.adjust(step)
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
    }
    return assert.fail(`condition not reached after ${maxSteps} steps`)
  })

const stateIs = (managed: ManagedConnection.ManagedConnection, predicate: (s: ManagedConnection.State) => boolean) =>
  Effect.map(managed.get, predicate)

const tags = (states: ReadonlyArray<ManagedConnection.State>) => states.map((s) => s._tag)

const withTransport = (transport: TransportShape) => Effect.provideService(Transport, transport)

const plain = (transport: TransportShape) =>
  ManagedConnection.make({ url: "ws://memory/", heartbeat: false }).pipe(withTransport(transport))

describe("ManagedConnection", () => {
  it.scoped("reconnects after a drop with backoff, and reports every state", () =>
    Effect.gen(function*() {
      let opens = 0
      const firstServerSide = yield* Deferred.make<Connection>()
      const memory = yield* Memory.makeServer({
        handle: (connection) =>
          opens++ === 0 ? Effect.zipRight(Deferred.succeed(firstServerSide, connection), connection.closed) : echo(connection)
      })
      const managed = yield* plain(memory)
      const seen = yield* record(managed)
      const first = yield* managed.current
      // The server drops the first connection.
      yield* Effect.flatMap(Deferred.await(firstServerSide), (connection) => connection.terminate)
      const reconnecting = yield* waitFor(managed, (s) => s._tag === "Reconnecting")
      assert.isTrue(reconnecting?._tag === "Reconnecting")
      if (reconnecting?._tag === "Reconnecting") {
        assert.strictEqual(reconnecting.attempt, 1)
        assert.deepStrictEqual(reconnecting.cause, { _tag: "Closed", code: 1006, reason: "" })
        const millis = Duration.toMillis(reconnecting.delay)
        assert.isTrue(millis >= 375 && millis <= 500)
      }
      assert.strictEqual((yield* first.closed).code, 1006)
      yield* tickUntil("100 millis", stateIs(managed, (s) => s._tag === "Open"))
      const connection = yield* managed.current
      assert.notStrictEqual(connection, first)
      yield* connection.send("hi")
      const [frame] = yield* connection.frames.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.strictEqual(frame, "hi")
      const observed = tags(seen).filter((tag, i, all) => i === 0 || all[i - 1] !== tag)
      assert.deepStrictEqual(observed.slice(-4), ["Open", "Reconnecting", "Connecting", "Open"])
      assert.isTrue(observed.length === 4 || (observed.length === 5 && observed[0] === "Connecting"))
    }))

  it.scoped("never reconnects after a non-recoverable close", () =>
    Effect.gen(function*() {
      for (const code of [1000, 1008, 1009, 4001]) {
        const memory = yield* Memory.makeServer({ handle: (connection) => connection.close(code, "no") })
        const managed = yield* plain(memory)
        const closed = yield* waitFor(managed, (s) => s._tag === "Closed")
        assert.isTrue(closed?._tag === "Closed" && closed.reason._tag === "PeerClosed")
        const error = yield* Effect.flip(managed.current)
        assert.strictEqual(error.reason, "PeerClosed")
        assert.strictEqual(error.code, code)
      }
    }))

  it.scoped("a 401 refusal ends at once; a 503 is retried until the budget is spent", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.makeServer({
        // Each decision takes 100 virtual milliseconds, so the test sees every state.
        onUpgrade: (request) =>
          Effect.as(
            Effect.sleep("100 millis"),
            request.headers["authorization"] === undefined ? Upgrade.reject(401, "key?") : Upgrade.reject(503, "busy")
          ),
        handle: echo
      })
      const unauthorized = yield* ManagedConnection.make({ url: "ws://memory/", heartbeat: false }).pipe(
        withTransport(memory)
      )
      yield* tickUntil("100 millis", stateIs(unauthorized, (s) => s._tag === "Closed"))
      const error = yield* Effect.flip(unauthorized.current)
      assert.strictEqual(error.reason, "Refused")
      assert.strictEqual(error.status, 401)

      const busy = yield* ManagedConnection.make({
        url: "ws://memory/",
        headers: { authorization: "Bearer x" },
        heartbeat: false,
        policy: ReconnectPolicy.make({ maxAttempts: 2 })
      }).pipe(withTransport(memory))
      const all = yield* record(busy)
      yield* tickUntil("100 millis", Effect.sync(() => all[all.length - 1]?._tag === "Closed"))
      assert.deepStrictEqual(tags(all), [
        "Connecting",
        "Reconnecting",
        "Connecting",
        "Reconnecting",
        "Connecting",
        "Closed"
      ])
      const last = all[all.length - 1]!
      assert.isTrue(last._tag === "Closed" && last.reason._tag === "GaveUp" && last.reason.attempts === 2)
    }))

  it.scoped("rotates before the maximum age, and closes the old connection after the grace", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.makeServer({ handle: echo })
      const managed = yield* ManagedConnection.make({
        url: "ws://memory/",
        heartbeat: false,
        rotation: { maxAge: "55 minutes" },
        rotationGrace: "30 seconds"
      }).pipe(withTransport(memory))
      const first = yield* managed.current
      const minutes = yield* tickUntil("1 minute", stateIs(managed, (s) => s._tag === "Open" && s.connection !== first))
      assert.isAtLeast(minutes, 55)
      assert.isAtMost(minutes, 56)
      const seconds = yield* tickUntil("1 second", Effect.map(Fiber.poll(yield* Effect.fork(first.closed)), Option.isSome))
      assert.isAtLeast(seconds, 30)
      const info = yield* first.closed
      assert.strictEqual(info.code, 1000)
      assert.strictEqual(info.reason, "rotate: max age")
    }))

  it.scoped("the heartbeat finds a black-holed server and the connection is replaced", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.makeServer({ handle: echo })
      const faulty = FaultInjection.wrap(memory, (index) =>
        index === 0 ? { blackHoleAfterFrames: { direction: "inbound", frames: 0 } } : {})
      const managed = yield* ManagedConnection.make({
        url: "ws://memory/",
        heartbeat: { interval: "30 seconds", timeout: "10 seconds" }
      }).pipe(withTransport(faulty))
      const first = yield* managed.current
      const closedFiber = yield* Effect.fork(first.closed)
      const seconds = yield* tickUntil("1 second", Effect.map(Fiber.poll(closedFiber), Option.isSome))
      assert.isAtLeast(seconds, 40)
      assert.strictEqual((yield* first.closed).code, 1006)
      yield* tickUntil("100 millis", stateIs(managed, (s) => s._tag === "Open" && s.connection !== first))
      const second = yield* managed.current
      assert.notStrictEqual(second, first)
      yield* second.send("alive")
      const [frame] = yield* second.frames.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.strictEqual(frame, "alive")
    }))

  it.scoped("close ends it for good with the given code", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.makeServer({ handle: echo })
      const managed = yield* plain(memory)
      const connection = yield* managed.current
      yield* managed.close(1000, "bye")
      assert.deepStrictEqual({ ...(yield* connection.closed) }, { code: 1000, reason: "bye" })
      const state = yield* managed.get
      assert.isTrue(state._tag === "Closed" && state.reason._tag === "Shutdown")
      assert.strictEqual((yield* Effect.flip(managed.current)).reason, "Shutdown")
    }))

  it.scoped("close does not wait for a dial in progress", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.makeServer({
        onUpgrade: () => Effect.as(Effect.sleep("1 hour"), Upgrade.accept()),
        handle: echo
      })
      const managed = yield* plain(memory)
      yield* waitFor(managed, (s) => s._tag === "Connecting")
      yield* managed.close()
      const state = yield* managed.get
      assert.isTrue(state._tag === "Closed" && state.reason._tag === "Shutdown")
    }))

  it.scoped("closing the scope closes the live connection and publishes Shutdown", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.makeServer({ handle: echo })
      const { connection, managed } = yield* Effect.gen(function*() {
        const managed = yield* plain(memory)
        return { connection: yield* managed.current, managed }
      }).pipe(Effect.scoped)
      assert.strictEqual((yield* connection.closed).code, 1000)
      const state = yield* managed.get
      assert.isTrue(state._tag === "Closed" && state.reason._tag === "Shutdown")
    }))

  it.scoped("over loopback: a dropped WebSocket is replaced, with the resume-style headers evaluated per dial", () =>
    Effect.gen(function*() {
      let accepted = 0
      const tokens: Array<string | undefined> = []
      const { url } = yield* serve({
        path: "/managed",
        onUpgrade: (request) =>
          Effect.sync(() => {
            tokens.push(request.headers["x-resume"])
            return Upgrade.accept({ headers: { "x-resume-offer": `t${accepted}` } })
          }),
        handle: (connection) => (accepted++ === 0 ? connection.terminate : echo(connection))
      })
      let dials = 0
      const managed = yield* ManagedConnection.make({
        url,
        headers: Effect.sync(() => ({ "x-resume": `dial-${dials++}` })),
        heartbeat: false
      }).pipe(Effect.provide(WebSocket.layer()))
      const reconnecting = yield* waitFor(managed, (s) => s._tag === "Reconnecting")
      assert.isTrue(reconnecting?._tag === "Reconnecting" && reconnecting.cause._tag === "Closed")
      yield* tickUntil("100 millis", stateIs(managed, (s) => s._tag === "Open"))
      const connection = yield* managed.current
      assert.strictEqual(connection.handshake.responseHeaders["x-resume-offer"], "t1")
      yield* connection.send("back")
      const [frame] = yield* connection.frames.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.strictEqual(frame, "back")
      assert.deepStrictEqual(tokens, ["dial-0", "dial-1"])
    }))
})
