import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import type { Connection } from "../src/Connection.js"
import * as Upgrade from "../src/Upgrade.js"
import * as WebSocket from "../src/WebSocket.js"
import * as WebSocketServer from "../src/WebSocketServer.js"

const echo = (connection: Connection) =>
  connection.frames.pipe(Stream.runForEach((frame) => connection.send(frame)), Effect.ignore)

const router = HttpRouter.empty.pipe(HttpRouter.get("/health", HttpServerResponse.text("ok")))

const Live = Layer.mergeAll(
  HttpServer.serve(router),
  WebSocketServer.layer({
    path: "/v1/responses",
    onUpgrade: (request) =>
      Effect.succeed(
        request.headers["authorization"] === "Bearer good"
          ? Upgrade.accept({ headers: { "x-loopwire-resume": "tok" } })
          : Upgrade.reject(401, "bad key", { "www-authenticate": "Bearer" })
      ),
    handle: (connection, request) =>
      Effect.zipRight(connection.send(`hello ${request.remoteAddress ?? "?"}`), echo(connection))
  })
).pipe(Layer.provideMerge(WebSocketServer.layerHttpServer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })))

const baseUrl = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address as HttpServer.TcpAddress
  return `127.0.0.1:${address.port}`
})

describe("WebSocketServer on the @effect/platform Node HTTP server", () => {
  it.scoped("serves WebSocket upgrades and ordinary HTTP on one port", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const health = yield* Effect.promise(() => fetch(`http://${base}/health`).then((r) => r.text()))
      assert.strictEqual(health, "ok")

      const connection = yield* WebSocket.make().open(`ws://${base}/v1/responses`, {
        headers: { authorization: "Bearer good" }
      })
      assert.strictEqual(connection.handshake.responseHeaders["x-loopwire-resume"], "tok")
      yield* connection.send("one")
      const frames = yield* connection.frames.pipe(Stream.take(2), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.deepStrictEqual(frames, ["hello 127.0.0.1", "one"])

      const refused = yield* Effect.flip(WebSocket.make().open(`ws://${base}/v1/responses`))
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(refused.body, "bad key")
      assert.strictEqual(refused.headers?.["www-authenticate"], "Bearer")

      // Upgrades on other paths still reach the platform's HttpApp (which has no such route).
      const other = yield* Effect.flip(WebSocket.make().open(`ws://${base}/elsewhere`))
      assert.strictEqual(other.reason, "Refused")
      assert.strictEqual(other.status, 404)
    }).pipe(Effect.provide(Live)))

  it.scoped("shutting the server down closes live connections with 1001", () =>
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      const { base, connection } = yield* Effect.gen(function*() {
        const base = yield* baseUrl
        const connection = yield* WebSocket.make().open(`ws://${base}/v1/responses`, {
          headers: { authorization: "Bearer good" }
        }).pipe(Effect.provideService(Scope.Scope, scope))
        return { base, connection }
      }).pipe(Effect.provide(Live), Effect.scoped)
      assert.isString(base)
      const info = yield* connection.closed
      assert.strictEqual(info.code, 1001)
    }))
})
