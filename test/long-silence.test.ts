/**
 * Minutes of silence (a reasoning model that sends nothing for 10 minutes before its first token, as in Codex
 * issues #39771 / #43022), end to end over real loopback sockets: the Loopwire client → a TCP proxy that counts
 * WebSocket control frames → the gateway with the scripted backend. Both ends ping every 30 s and the other answers;
 * the connection stays up, the client's idle timeout (5 minutes) does not fire while pongs arrive, and the turn
 * is generated once. Timers are the TestClock's (heartbeats, the client's idle watchdog, the model's
 * time to first token), advanced one virtual second at a time with a few real milliseconds between steps so the
 * pings and pongs move over the sockets.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ConnectionPool from "@loopwire/client/ConnectionPool"
import * as Session from "@loopwire/client/Session"
import * as Gateway from "@loopwire/server/Gateway"
import { ModelBackend } from "@loopwire/server/ModelBackend"
import * as Scenario from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { Duration, Effect, Either, Fiber, Layer, Option, TestClock } from "effect"
import type { Scope } from "effect"
import * as Net from "node:net"

const thinking = Either.getOrThrow(Scenario.decodeUnknown({
  turns: [{ latency: { time_to_first_token_ms: 600_000 }, output: [{ type: "message", text: "Thought it through." }] }]
}))

interface Counts {
  pings: number
  pongs: number
}

// Counts WebSocket ping (0x9) and pong (0xA) frames in one direction of a byte stream, frame by frame.
const frameCounter = (counts: Counts) => {
  let buffer = Buffer.alloc(0)
  return (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      if (buffer.length < 2) return
      const opcode = buffer[0]! & 0x0f
      const masked = (buffer[1]! & 0x80) !== 0
      let length = buffer[1]! & 0x7f
      let offset = 2
      if (length === 126) {
        if (buffer.length < 4) return
        length = buffer.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (buffer.length < 10) return
        length = Number(buffer.readBigUInt64BE(2))
        offset = 10
      }
      const total = offset + (masked ? 4 : 0) + length
      if (buffer.length < total) return
      if (opcode === 0x9) counts.pings++
      if (opcode === 0xa) counts.pongs++
      buffer = buffer.subarray(total)
    }
  }
}

/** A TCP proxy on 127.0.0.1 that forwards everything and counts control frames each way (after the 101). */
const countingProxy = (target: number): Effect.Effect<
  { readonly port: number; readonly fromGateway: Counts; readonly fromClient: Counts },
  never,
  Scope.Scope
> => {
  const fromGateway: Counts = { pings: 0, pongs: 0 }
  const fromClient: Counts = { pings: 0, pongs: 0 }
  return Effect.acquireRelease(
    Effect.async<{ readonly server: Net.Server; readonly sockets: Array<Net.Socket> }>((resume) => {
      const sockets: Array<Net.Socket> = []
      const server = Net.createServer((down) => {
        const up = Net.connect(target, "127.0.0.1")
        down.on("error", () => {})
        up.on("error", () => {})
        sockets.push(down, up)
        const countUp = frameCounter(fromClient)
        const countDown = frameCounter(fromGateway)
        let upgraded = false
        // The request and the 101 are HTTP; frames start after the 101's blank line.
        down.on("data", (chunk: Buffer) => {
          up.write(chunk)
          if (upgraded) countUp(chunk)
        })
        up.on("data", (chunk: Buffer) => {
          down.write(chunk)
          if (upgraded) return countDown(chunk)
          const end = chunk.indexOf("\r\n\r\n")
          if (end >= 0) {
            upgraded = true
            countDown(chunk.subarray(end + 4))
          }
        })
        down.on("close", () => up.destroy())
        up.on("close", () => down.destroy())
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ server }) => ({ port: (server.address() as Net.AddressInfo).port, fromGateway, fromClient })))
}

const realPause = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 3)))

describe("ten minutes of silence before the first token", () => {
  it.scoped("the connection stays up on pings both ways, the client's idle timeout waits, the turn runs once", () =>
    Effect.gen(function*() {
      const scripted = yield* ScriptedBackend.make({ scenario: thinking })
      // Heartbeats as by default (every 30 s), with a longer answer window than the default 10 s so the pongs'
      // real round trip between virtual steps is never mistaken for a dead peer.
      const heartbeat = { interval: Duration.seconds(30), timeout: Duration.seconds(20) }
      const gateway = yield* Layer.build(Gateway.layerLocal({
        config: { host: "127.0.0.1", port: 0, heartbeatInterval: heartbeat.interval, heartbeatTimeout: heartbeat.timeout },
        backend: Layer.succeed(ModelBackend, scripted)
      }))
      const base = yield* Effect.provide(Gateway.baseUrl, gateway)
      const proxy = yield* countingProxy(Number(new URL(base).port))
      const config = ClientConfig.make({ url: `ws://127.0.0.1:${proxy.port}/v1/responses`, apiKey: "sk", heartbeat })

      const outcome = yield* Effect.gen(function*() {
        const session = yield* Session.make({ settings: { model: "m", store: false }, idleTimeout: "5 minutes" })
        const events: Array<string> = []
        const turn = yield* Effect.fork(session.turnWith(
          [{ type: "message", role: "user", content: "Think hard." }],
          undefined,
          (event) => {
            events.push(event._tag === "Event" ? event.event.type : event._tag)
          }
        ))
        // 10 minutes and a little more, one virtual second per step.
        for (let i = 0; i < 700 && Option.isNone(yield* Fiber.poll(turn)); i++) {
          yield* TestClock.adjust("1 second")
          yield* realPause
        }
        const done = yield* Fiber.poll(turn)
        assert.isTrue(Option.isSome(done), "the turn finished")
        return { response: yield* Fiber.join(turn), events, metrics: yield* session.metrics }
      }).pipe(Effect.provide(ConnectionPool.layer(config).pipe(Layer.provide(WebSocket.layer()))))

      assert.strictEqual(outcome.response.status, "completed")
      assert.strictEqual((outcome.response.output[0] as any).content[0].text, "Thought it through.")
      assert.isFalse(outcome.events.includes("Discard"), "the turn was never restarted")
      assert.strictEqual(outcome.metrics.reconnects, 0)
      assert.strictEqual(outcome.metrics.fullResends, 0)
      assert.strictEqual(yield* scripted.generations, 1, "generated once")
      // Twenty heartbeat periods: each side pinged about twenty times, and the other answered each ping.
      assert.isAtLeast(proxy.fromGateway.pings, 18)
      assert.isAtLeast(proxy.fromClient.pings, 18)
      assert.isAtLeast(proxy.fromClient.pongs, proxy.fromGateway.pings - 1)
      assert.isAtLeast(proxy.fromGateway.pongs, proxy.fromClient.pings - 1)
    }))
})
