import * as Socket from "@effect/platform/Socket"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Net from "node:net"
import * as WS from "ws"
import type { Connection } from "../src/Connection.js"
import * as Upgrade from "../src/Upgrade.js"
import * as WebSocket from "../src/WebSocket.js"
import { serve } from "./utils.js"

const echo = (connection: Connection) =>
  connection.frames.pipe(Stream.runForEach((frame) => connection.send(frame)), Effect.ignore)

describe("WebSocket transport over loopback", () => {
  it.scoped("sends the Authorization header and reads the 101 response headers", () =>
    Effect.gen(function*() {
      const seen = yield* Deferred.make<Upgrade.UpgradeRequest>()
      const { url } = yield* serve({
        path: "/v1/responses",
        onUpgrade: (request) =>
          Effect.as(Deferred.succeed(seen, request), Upgrade.accept({ headers: { "X-Resume-Token": "tok_1" } })),
        handle: echo
      })
      const transport = WebSocket.make()
      const connection = yield* transport.open(`${url}?model=m`, {
        headers: { Authorization: "Bearer sk-test" },
        protocols: ["loopwire.v1"]
      })
      const request = yield* Deferred.await(seen)
      assert.strictEqual(request.headers["authorization"], "Bearer sk-test")
      assert.strictEqual(request.path, "/v1/responses")
      assert.strictEqual(request.url, "/v1/responses?model=m")
      assert.deepStrictEqual(request.protocols, ["loopwire.v1"])
      assert.strictEqual(connection.handshake.responseHeaders["x-resume-token"], "tok_1")
      assert.strictEqual(connection.handshake.protocol, "loopwire.v1")
      assert.strictEqual(connection.side, "client")
      yield* connection.send("hello")
      const [first] = yield* connection.frames.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.strictEqual(first, "hello")
    }))

  it.scoped("a 401 and a 426 refusal reach the client as typed errors with status, headers and body", () =>
    Effect.gen(function*() {
      const { url } = yield* serve({
        path: "/v1/responses",
        onUpgrade: (request) =>
          Effect.succeed(
            request.headers["authorization"] === undefined
              ? Upgrade.reject(401, "{\"error\":\"missing key\"}", { "content-type": "application/json" })
              : request.headers["authorization"] === "Bearer old"
              ? Upgrade.reject(426, "use HTTP")
              : Upgrade.reject(503, "busy", { "Retry-After": "2" })
          ),
        handle: echo
      })
      const transport = WebSocket.make()
      const unauthorized = yield* Effect.flip(transport.open(url))
      assert.strictEqual(unauthorized.reason, "Refused")
      assert.strictEqual(unauthorized.status, 401)
      assert.strictEqual(unauthorized.body, "{\"error\":\"missing key\"}")
      assert.strictEqual(unauthorized.headers?.["content-type"], "application/json")
      const upgradeRequired = yield* Effect.flip(transport.open(url, { headers: { authorization: "Bearer old" } }))
      assert.strictEqual(upgradeRequired.status, 426)
      assert.strictEqual(upgradeRequired.body, "use HTTP")
      const busy = yield* Effect.flip(transport.open(url, { headers: { authorization: "Bearer x" } }))
      assert.strictEqual(busy.status, 503)
      assert.strictEqual(busy.headers?.["retry-after"], "2")
    }))

  it.scoped("10,000 frames arrive in order in both directions", () =>
    Effect.gen(function*() {
      const { url } = yield* serve({ path: "/echo", handle: echo })
      const connection = yield* WebSocket.make().open(url)
      const count = 10_000
      const reader = yield* connection.frames.pipe(Stream.take(count), Stream.runCollect, Effect.fork)
      for (let i = 0; i < count; i++) yield* connection.send(`{"n":${i}}`)
      const received = Chunk.toArray(yield* Fiber.join(reader))
      assert.strictEqual(received.length, count)
      for (let i = 0; i < count; i++) assert.strictEqual(received[i], `{"n":${i}}`)
    }))

  it.scoped("a server drop is seen as 1006: frames fail with Dropped, sends fail with Closed", () =>
    Effect.gen(function*() {
      const { url } = yield* serve({ path: "/drop", handle: (connection) => connection.terminate })
      const connection = yield* WebSocket.make().open(url)
      const error = yield* Effect.flip(Stream.runDrain(connection.frames))
      assert.strictEqual(error.reason, "Dropped")
      const info = yield* connection.closed
      assert.strictEqual(info.code, 1006)
      const sendError = yield* Effect.flip(connection.send("late"))
      assert.strictEqual(sendError.reason, "Closed")
      assert.strictEqual(sendError.code, 1006)
    }))

  it.scoped("close code and reason travel to the peer; frames end normally on a close frame", () =>
    Effect.gen(function*() {
      const { url } = yield* serve({
        path: "/bye",
        handle: (connection) => Effect.zipRight(connection.close(4001, "bye"), connection.closed)
      })
      const connection = yield* WebSocket.make().open(url)
      const frames = yield* Stream.runCollect(connection.frames)
      assert.strictEqual(frames.length, 0)
      const info = yield* connection.closed
      assert.strictEqual(info.code, 4001)
      assert.strictEqual(info.reason, "bye")
    }))

  it.scoped("a frame over maxPayload closes with 1009 and a typed error on both sides", () =>
    Effect.gen(function*() {
      const serverSide = yield* Deferred.make<Either.Either<void, unknown>>()
      const serverClosed = yield* Deferred.make<number>()
      const { url } = yield* serve({
        path: "/small",
        maxPayload: 1024,
        handle: (connection) =>
          Stream.runDrain(connection.frames).pipe(
            Effect.either,
            Effect.flatMap((result) => Deferred.succeed(serverSide, result)),
            Effect.zipRight(connection.closed),
            Effect.flatMap((info) => Deferred.succeed(serverClosed, info.code))
          )
      })
      const connection = yield* WebSocket.make().open(url)
      yield* connection.send("x".repeat(2048))
      const clientError = yield* Effect.flip(Stream.runDrain(connection.frames))
      assert.strictEqual(clientError.reason, "MessageTooLarge")
      assert.strictEqual((yield* connection.closed).code, 1009)
      const result = yield* Deferred.await(serverSide)
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.strictEqual((result.left as { reason: string }).reason, "MessageTooLarge")
      assert.strictEqual(yield* Deferred.await(serverClosed), 1009)
    }))

  it.scoped("the client's own maxPayload applies to inbound frames", () =>
    Effect.gen(function*() {
      const { url } = yield* serve({ path: "/big", handle: (connection) => connection.send("y".repeat(4096)) })
      const connection = yield* WebSocket.make({ maxPayload: 1000 }).open(url)
      const error = yield* Effect.flip(Stream.runDrain(connection.frames))
      assert.strictEqual(error.reason, "MessageTooLarge")
      assert.strictEqual((yield* connection.closed).code, 1009)
    }))

  it.scoped("a binary frame is a typed protocol error and closes with 1003", () =>
    Effect.gen(function*() {
      const outcome = yield* Deferred.make<string>()
      const { url } = yield* serve({
        path: "/bin",
        handle: (connection) =>
          Stream.runDrain(connection.frames).pipe(
            Effect.catchAll((error) => Deferred.succeed(outcome, error.reason)),
            Effect.zipRight(connection.closed)
          )
      })
      const raw = new WS.WebSocket(url)
      const closedCode = yield* Effect.async<number>((resume) => {
        raw.on("open", () => raw.send(Buffer.from([1, 2, 3])))
        raw.on("close", (code) => resume(Effect.succeed(code)))
        raw.on("error", () => {})
      })
      assert.strictEqual(yield* Deferred.await(outcome), "BinaryFrame")
      assert.strictEqual(closedCode, 1003)
    }))

  it.scoped("socket errors are typed and never crash the process", () =>
    Effect.gen(function*() {
      // Nothing listens on a just-freed port: a Network error.
      const port = yield* Effect.async<number>((resume) => {
        const probe = Net.createServer()
        probe.listen(0, "127.0.0.1", () => {
          const { port } = probe.address() as Net.AddressInfo
          probe.close(() => resume(Effect.succeed(port)))
        })
      })
      const refused = yield* Effect.flip(WebSocket.make().open(`ws://127.0.0.1:${port}/`))
      assert.strictEqual(refused.reason, "Network")
      const invalid = yield* Effect.flip(WebSocket.make().open("http://127.0.0.1:1/"))
      assert.strictEqual(invalid.reason, "InvalidUrl")

      // A server that answers garbage, and one that resets the socket mid-handshake.
      let accepted = 0
      const garbage = yield* Effect.acquireRelease(
        Effect.async<Net.Server>((resume) => {
          const server = Net.createServer((socket) => {
            socket.on("error", () => {})
            // Alternate: answer garbage, then reset mid-handshake.
            socket.once("data", () => {
              if (accepted++ % 2 === 0) socket.end("NOT HTTP\r\n\r\n")
              else socket.resetAndDestroy()
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
        })
      )
      const garbagePort = (garbage.address() as Net.AddressInfo).port
      for (let i = 0; i < 4; i++) {
        const error = yield* Effect.flip(WebSocket.make().open(`ws://127.0.0.1:${garbagePort}/`))
        assert.strictEqual(error.reason, "Network")
      }

      // The server survives clients that vanish mid-handshake or send junk after the upgrade.
      const { url } = yield* serve({ path: "/echo", handle: echo })
      const { port: wsPort } = new URL(url)
      yield* Effect.async<void>((resume) => {
        const socket = Net.connect(Number(wsPort), "127.0.0.1", () => {
          socket.write("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
          socket.destroy()
          resume(Effect.void)
        })
        socket.on("error", () => {})
      })
      yield* Effect.async<void>((resume) => {
        const socket = Net.connect(Number(wsPort), "127.0.0.1", () => {
          socket.write(
            "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
          )
          socket.once("data", () => socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])))
        })
        socket.on("error", () => {})
        socket.on("close", () => resume(Effect.void))
      })
      // An upgrade without Sec-WebSocket-Key is answered 400 by the handshake, not left hanging.
      const answer = yield* Effect.async<string>((resume) => {
        const socket = Net.connect(Number(wsPort), "127.0.0.1", () => {
          socket.write("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        })
        let text = ""
        socket.on("data", (chunk) => (text += chunk.toString()))
        socket.on("error", () => {})
        socket.on("close", () => resume(Effect.succeed(text)))
      })
      assert.match(answer, /^HTTP\/1\.1 400/)
      const connection = yield* WebSocket.make().open(url)
      yield* connection.send("still alive")
      const [frame] = yield* connection.frames.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.strictEqual(frame, "still alive")
    }))
})

describe("WebSocket backpressure over loopback", () => {
  it.scoped("a reader that stops reading slows the sender down (bounded buffers both ways), and nothing is lost", () =>
    Effect.gen(function*() {
      const total = 200
      const frame = (i: number) => `${String(i).padStart(6, "0")}${"z".repeat(100_000)}`
      let sent = 0
      const { url } = yield* serve({
        path: "/flood",
        highWaterMark: 256 * 1024,
        handle: (connection) =>
          Effect.gen(function*() {
            for (let i = 0; i < total; i++) {
              yield* connection.send(frame(i))
              sent++
            }
            yield* connection.closed
          })
      })
      const connection = yield* WebSocket.make({ inboundHighWaterMark: 256 * 1024 }).open(url)
      // Let the server push as much as the buffers allow while nobody reads on the client.
      let last = -1
      let still = 0
      for (let i = 0; i < 250 && still < 10 && sent < total; i++) {
        still = sent === last && sent > 0 ? still + 1 : 0
        last = sent
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      }
      assert.isBelow(sent, total)
      const received = Chunk.toArray(yield* connection.frames.pipe(Stream.take(total), Stream.runCollect))
      assert.strictEqual(received.length, total)
      for (let i = 0; i < total; i++) assert.strictEqual(received[i]!.slice(0, 6), String(i).padStart(6, "0"))
      assert.strictEqual(sent, total)
    }))
})

describe("WebSocket open timeout and the platform bridge", () => {
  it.scoped("a server that never answers the handshake fails with Timeout on the Clock", () =>
    Effect.gen(function*() {
      const sockets = new Set<Net.Socket>()
      const silent = yield* Effect.acquireRelease(
        Effect.async<Net.Server>((resume) => {
          const server = Net.createServer((socket) => {
            sockets.add(socket)
            socket.on("error", () => {})
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => resume(Effect.void))
          })
      )
      const port = (silent.address() as Net.AddressInfo).port
      const url = `ws://127.0.0.1:${port}/`
      const fiber = yield* Effect.fork(Effect.flip(WebSocket.make({ openTimeout: "5 seconds" }).open(url)))
      // Wait until the open timeout is registered on the TestClock, then let it fire.
      while (Chunk.isEmpty(yield* TestClock.sleeps())) yield* Effect.yieldNow()
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
    }))

  it.scoped("layerWebSocketConstructor lets @effect/platform's Socket send handshake headers", () =>
    Effect.gen(function*() {
      const seen = yield* Deferred.make<string | undefined>()
      const { url } = yield* serve({
        path: "/platform",
        onUpgrade: (request) => Effect.as(Deferred.succeed(seen, request.headers["authorization"]), Upgrade.accept()),
        handle: echo
      })
      const socket = yield* Socket.makeWebSocket(url).pipe(
        Effect.provide(WebSocket.layerWebSocketConstructor({ headers: { Authorization: "Bearer platform" } }))
      )
      const received = yield* Deferred.make<string>()
      const write = yield* socket.writer
      yield* socket.runRaw((data) => Deferred.succeed(received, String(data)), {
        onOpen: Effect.orDie(write("via platform"))
      }).pipe(Effect.forkScoped)
      assert.strictEqual(yield* Deferred.await(seen), "Bearer platform")
      assert.strictEqual(yield* Deferred.await(received), "via platform")
    }))
})

