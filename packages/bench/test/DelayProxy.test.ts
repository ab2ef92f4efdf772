import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as DelayProxy from "../src/DelayProxy.js"

/** Wait for real IO (not virtual time): bounded polling on the event loop. */
const waitUntil = (condition: () => boolean, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 5000; i++) {
      if (condition()) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

const listen = Effect.acquireRelease(
  Effect.async<{ server: Net.Server; port: number; peers: Array<Net.Socket>; received: Array<Buffer> }>((resume) => {
    const peers: Array<Net.Socket> = []
    const received: Array<Buffer> = []
    const server = Net.createServer((socket) => {
      peers.push(socket)
      socket.on("data", (chunk) => received.push(chunk))
      socket.on("error", () => {})
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ server, port: (server.address() as Net.AddressInfo).port, peers, received })))
  }),
  ({ peers, server }) =>
    Effect.async<void>((resume) => {
      for (const peer of peers) peer.destroy()
      server.close(() => resume(Effect.void))
    })
)

const connect = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ socket: Net.Socket; received: Array<Buffer> }>((resume) => {
      const received: Array<Buffer> = []
      const socket = Net.connect({ host: "127.0.0.1", port }, () => resume(Effect.succeed({ socket, received })))
      socket.on("data", (chunk) => received.push(chunk))
      socket.on("error", () => {})
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

const total = (chunks: ReadonlyArray<Buffer>) => chunks.reduce((n, c) => n + c.length, 0)

describe("DelayProxy", () => {
  it("schedules delivery after the emulated handshake plus the one-way delay", () => {
    assert.strictEqual(DelayProxy.deliveryTime(0, 20, 10), 30)
    assert.strictEqual(DelayProxy.deliveryTime(50, 20, 10), 60)
    assert.strictEqual(DelayProxy.deliveryTime(5, 0, 0), 5)
  })

  it.scoped("forwards bytes intact and in order, each direction only once its delay has elapsed", () =>
    Effect.gen(function*() {
      const target = yield* listen
      const proxy = yield* DelayProxy.make({ target: { host: "127.0.0.1", port: target.port }, rttMs: 20 })
      const client = yield* connect(proxy.port)
      yield* waitUntil(() => target.peers.length === 1, "the proxy's upstream connection")

      // client → server: received at t=0, the handshake ends at t=20, one way is 10 → delivered at t=30.
      const up = Buffer.concat([Crypto.randomBytes(200_000), Buffer.from("end-of-upload")])
      client.socket.write(up)
      yield* waitUntil(() => Effect.runSync(proxy.stats).upReceived === up.length, "the proxy to read the upload")
      assert.strictEqual((yield* proxy.stats).upDelivered, 0)
      yield* TestClock.adjust("29 millis")
      assert.strictEqual((yield* proxy.stats).upDelivered, 0)
      assert.strictEqual(total(target.received), 0)
      yield* TestClock.adjust("1 millis")
      yield* waitUntil(() => total(target.received) === up.length, "the upload at the target")
      assert.isTrue(Buffer.concat(target.received).equals(up))

      // server → client at t=30: delivered at t=40.
      const down = Crypto.randomBytes(300_000)
      target.peers[0]!.write(down)
      yield* waitUntil(() => Effect.runSync(proxy.stats).downReceived === down.length, "the proxy to read the reply")
      yield* TestClock.adjust("9 millis")
      assert.strictEqual((yield* proxy.stats).downDelivered, 0)
      assert.strictEqual(total(client.received), 0)
      yield* TestClock.adjust("1 millis")
      yield* waitUntil(() => total(client.received) === down.length, "the reply at the client")
      assert.isTrue(Buffer.concat(client.received).equals(down))
      const stats = yield* proxy.stats
      assert.strictEqual(stats.accepted, 1)
      assert.strictEqual(stats.open, 1)
    }))

  it.scoped("forwards a half-close after the bytes before it", () =>
    Effect.gen(function*() {
      const target = yield* listen
      const proxy = yield* DelayProxy.make({ target: { host: "127.0.0.1", port: target.port }, rttMs: 0 })
      const client = yield* connect(proxy.port)
      yield* waitUntil(() => target.peers.length === 1, "the upstream connection")
      let ended = false
      target.peers[0]!.on("end", () => {
        ended = true
      })
      client.socket.end(Buffer.from("last words"))
      yield* waitUntil(() => ended, "the half-close at the target")
      assert.strictEqual(Buffer.concat(target.received).toString(), "last words")
    }))

  it.scoped("rejects an out-of-range RTT with a Config error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(DelayProxy.make({ target: { host: "127.0.0.1", port: 1 }, rttMs: 20_000 }))
      assert.strictEqual(error.reason, "Config")
    }))
})
