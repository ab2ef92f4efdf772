import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type { CloseInfo, Connection, ConnectionError } from "../src/Connection.js"
import * as FaultInjection from "../src/FaultInjection.js"
import * as Memory from "../src/Memory.js"
import * as WebSocket from "../src/WebSocket.js"
import { serve } from "./utils.js"

interface Observed {
  readonly frames: ReadonlyArray<string>
  readonly error: ConnectionError | undefined
  readonly closed: CloseInfo
}

/** A server that records what it receives and sends `outbound` frames on connect. */
const recordingServer = (outbound: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const observed = yield* Deferred.make<Observed>()
    const handle = (connection: Connection) =>
      Effect.gen(function*() {
        for (const frame of outbound) yield* Effect.ignore(connection.send(frame))
        const frames: Array<string> = []
        const result = yield* connection.frames.pipe(
          Stream.runForEach((frame) => Effect.sync(() => frames.push(frame))),
          Effect.either
        )
        const closed = yield* connection.closed
        yield* Deferred.succeed(observed, {
          frames,
          error: Either.isLeft(result) ? result.left : undefined,
          closed
        })
      })
    return { observed, handle }
  })

const collect = (connection: Connection) =>
  Effect.gen(function*() {
    const frames: Array<string> = []
    const result = yield* connection.frames.pipe(
      Stream.runForEach((frame) => Effect.sync(() => frames.push(frame))),
      Effect.either
    )
    return { frames, error: Either.isLeft(result) ? result.left : undefined, closed: yield* connection.closed }
  })

describe("FaultInjection", () => {
  it.scoped("cuts after N outbound frames: the peer gets exactly N, both sides see 1006", () =>
    Effect.gen(function*() {
      const { handle, observed } = yield* recordingServer()
      const transport = FaultInjection.wrap(
        yield* Memory.makeServer({ handle }),
        { cutAfterFrames: { direction: "outbound", frames: 3 } }
      )
      const connection = yield* transport.open("ws://memory/")
      for (let i = 0; i < 4; i++) yield* connection.send(`f${i}`)
      const server = yield* Deferred.await(observed)
      assert.deepStrictEqual(server.frames, ["f0", "f1", "f2"])
      assert.strictEqual(server.error?.reason, "Dropped")
      assert.strictEqual(server.closed.code, 1006)
      assert.strictEqual((yield* connection.closed).code, 1006)
      const error = yield* Effect.flip(connection.send("after"))
      assert.strictEqual(error.reason, "Closed")
    }))

  it.scoped("cuts after N inbound frames: the client sees N then Dropped, the server sees 1006", () =>
    Effect.gen(function*() {
      const { handle, observed } = yield* recordingServer(["a", "b", "c", "d", "e"])
      const transport = FaultInjection.wrap(
        yield* Memory.makeServer({ handle }),
        { cutAfterFrames: { direction: "inbound", frames: 2 } }
      )
      const connection = yield* transport.open("ws://memory/")
      const client = yield* collect(connection)
      assert.deepStrictEqual(client.frames, ["a", "b"])
      assert.strictEqual(client.error?.reason, "Dropped")
      assert.strictEqual((yield* Deferred.await(observed)).closed.code, 1006)
    }))

  it.scoped("cuts at a byte offset: frames ending at or before it pass, the crossing frame is lost", () =>
    Effect.gen(function*() {
      const { handle, observed } = yield* recordingServer()
      const transport = FaultInjection.wrap(
        yield* Memory.makeServer({ handle }),
        { cutAtByte: { direction: "outbound", offset: 10 } }
      )
      const connection = yield* transport.open("ws://memory/")
      for (const frame of ["aaaa", "bbbb", "cc", "dddd"]) yield* connection.send(frame)
      const server = yield* Deferred.await(observed)
      assert.deepStrictEqual(server.frames, ["aaaa", "bbbb", "cc"])
      assert.strictEqual(server.closed.code, 1006)
    }))

  it.scoped("refuses upgrades with a given status, per open", () =>
    Effect.gen(function*() {
      const transport = FaultInjection.wrap(
        yield* Memory.makeServer({ handle: () => Effect.void }),
        (index) =>
          index === 0
            ? { refuse: { status: 503, body: "later", headers: { "Retry-After": "1" } } }
            : index === 1
            ? { refuse: { status: 426 } }
            : {}
      )
      const first = yield* Effect.flip(transport.open("ws://memory/"))
      assert.strictEqual(first.reason, "Refused")
      assert.strictEqual(first.status, 503)
      assert.strictEqual(first.headers?.["retry-after"], "1")
      assert.strictEqual(first.body, "later")
      const second = yield* Effect.flip(transport.open("ws://memory/"))
      assert.strictEqual(second.status, 426)
      const third = yield* transport.open("ws://memory/")
      assert.strictEqual(third.side, "client")
    }))

  it.scoped("delays frames on the Clock, keeps their order, and is reproducible from the seed", () =>
    Effect.gen(function*() {
      const run = (seed: number) =>
        Effect.gen(function*() {
          const [client, server] = yield* Memory.makePair()
          const faulty = FaultInjection.wrapConnection(client, {
            delay: { direction: "inbound", min: "100 millis", max: "1 second" }
          }, { seed })
          for (let i = 0; i < 5; i++) yield* server.send(String(i))
          const reader = yield* faulty.frames.pipe(Stream.take(5), Stream.runCollect, Effect.fork)
          const arrivals: Array<number> = []
          for (let step = 0; step < 60 && arrivals.length < 5; step++) {
            yield* TestClock.adjust("100 millis")
            const seen = faulty.counters().inboundFrames
            while (arrivals.length < seen) arrivals.push(step)
          }
          const frames = Chunk.toArray(yield* Fiber.join(reader))
          return { frames, arrivals }
        })
      const a = yield* run(7)
      const b = yield* run(7)
      assert.deepStrictEqual(a.frames, ["0", "1", "2", "3", "4"])
      assert.deepStrictEqual(a.arrivals, b.arrivals)
      assert.isAbove(a.arrivals[4]!, 4)
    }))

  it.scoped("a black hole stops delivery without closing; ping never completes", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const faulty = FaultInjection.wrapConnection(client, {
        blackHoleAfterFrames: { direction: "inbound", frames: 1 }
      })
      yield* server.send("first")
      yield* server.send("second")
      const received: Array<string> = []
      const reader = yield* faulty.frames.pipe(
        Stream.runForEach((frame) => Effect.sync(() => received.push(frame))),
        Effect.fork
      )
      while (faulty.counters().inboundDropped < 1) yield* Effect.yieldNow()
      assert.deepStrictEqual(received, ["first"])
      const ping = yield* Effect.fork(Effect.either(Effect.timeout(faulty.ping, "5 seconds")))
      yield* TestClock.adjust("5 seconds")
      const pinged = yield* Fiber.join(ping)
      assert.isTrue(Either.isLeft(pinged) && pinged.left._tag === "TimeoutException")
      // Still open: the other direction works and nothing closed.
      yield* faulty.send("still open")
      const [echoed] = yield* server.frames.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.strictEqual(echoed, "still open")
      assert.isTrue(Option.isNone(yield* Fiber.poll(reader)))
      assert.isFalse(faulty.counters().cut)
    }))

  it("random plans are reproducible from the seed and vary across seeds", () => {
    assert.deepStrictEqual(FaultInjection.random(42), FaultInjection.random(42))
    assert.deepStrictEqual(FaultInjection.random("abc"), FaultInjection.random("abc"))
    const distinct = new Set(Array.from({ length: 20 }, (_, i) => JSON.stringify(FaultInjection.random(i))))
    assert.isAbove(distinct.size, 5)
  })

  it.scoped("over real sockets a cut destroys the TCP connection: both sides see 1006", () =>
    Effect.gen(function*() {
      const { handle, observed } = yield* recordingServer()
      const { url } = yield* serve({ path: "/faults", handle })
      const transport = FaultInjection.wrap(WebSocket.make(), { cutAfterFrames: { direction: "outbound", frames: 2 } })
      const connection = yield* transport.open(url)
      yield* connection.send("one")
      yield* connection.send("two")
      // Let the two frames reach the server before the cut.
      yield* connection.ping
      yield* connection.send("three")
      const server = yield* Deferred.await(observed)
      assert.deepStrictEqual(server.frames, ["one", "two"])
      assert.strictEqual(server.closed.code, 1006)
      assert.strictEqual(server.error?.reason, "Dropped")
      assert.strictEqual((yield* connection.closed).code, 1006)
    }))

  it.scoped("wrapHandler injects faults on the server side over real sockets: refusal, then a cut", () =>
    Effect.gen(function*() {
      const { handle, observed } = yield* recordingServer()
      const { url } = yield* serve({
        path: "/server-faults",
        ...FaultInjection.wrapHandler({ handle }, (index) =>
          index === 0
            ? { refuse: { status: 401, body: "who are you" } }
            : { cutAfterFrames: { direction: "inbound", frames: 2 } })
      })
      const refused = yield* Effect.flip(WebSocket.make().open(url))
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(refused.body, "who are you")
      const connection = yield* WebSocket.make().open(url)
      for (const frame of ["a", "b", "c"]) yield* Effect.ignore(connection.send(frame))
      const client = yield* collect(connection)
      assert.strictEqual(client.error?.reason, "Dropped")
      assert.strictEqual(client.closed.code, 1006)
      const server = yield* Deferred.await(observed)
      assert.deepStrictEqual(server.frames, ["a", "b"])
      assert.strictEqual(server.closed.code, 1006)
    }))
})
