import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import type * as Http from "node:http"
import * as Https from "node:https"
import type { AddressInfo } from "node:net"
import type { Connection } from "../src/Connection.js"
import * as Upgrade from "../src/Upgrade.js"
import * as WebSocket from "../src/WebSocket.js"
import * as WebSocketServer from "../src/WebSocketServer.js"

// A self-signed certificate for 127.0.0.1 / localhost (valid until 2126), made once with openssl for this test.
const fixture = (name: string) => Fs.readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")
const cert = fixture("localhost-cert.pem")
const key = fixture("localhost-key.pem")

const echo = (connection: Connection) =>
  connection.frames.pipe(Stream.runForEach((frame) => connection.send(frame)), Effect.ignore)

/** An https.Server on 127.0.0.1:0 with an echo WebSocket route; yields its wss:// URL. */
const serveTls = Effect.gen(function*() {
  const server = yield* Effect.acquireRelease(
    Effect.async<Https.Server>((resume) => {
      const server = Https.createServer({ cert, key })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
  // An https.Server emits the same `upgrade` events as an http.Server.
  yield* WebSocketServer.attach(server as unknown as Http.Server, {
    path: "/v1/responses",
    onUpgrade: () => Effect.succeed(Upgrade.accept()),
    handle: echo
  })
  return `wss://127.0.0.1:${(server.address() as AddressInfo).port}/v1/responses`
})

describe("WebSocket transport over TLS (loopback)", () => {
  it.scoped("connects to wss:// when told to trust the server's certificate (tls.ca)", () =>
    Effect.gen(function*() {
      const url = yield* serveTls
      const connection = yield* WebSocket.make({ tls: { ca: cert } }).open(url)
      yield* connection.send("over tls")
      const frames = yield* connection.frames.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.deepStrictEqual(frames, ["over tls"])
    }))

  it.scoped("refuses an untrusted certificate by default with a Network error, and accepts it when verification is off", () =>
    Effect.gen(function*() {
      const url = yield* serveTls
      const error = yield* Effect.flip(WebSocket.make().open(url))
      assert.strictEqual(error.reason, "Network")
      assert.match(error.message, /self[- ]signed|certificate/i)
      const connection = yield* WebSocket.make({ tls: { rejectUnauthorized: false } }).open(url)
      yield* connection.send("unverified")
      const frames = yield* connection.frames.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      assert.deepStrictEqual(frames, ["unverified"])
    }))
})
