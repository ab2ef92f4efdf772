/**
 * The gateway's heartbeat over real loopback sockets: a client whose TCP connection goes silent (a proxy between
 * it and the gateway stops forwarding in both directions, without closing anything: a half-open connection) is cut
 * by the gateway after interval + timeout, its session suspended, and a reconnect with the token resumes it
 * (`loopwire-resumed: 1`). A live client streaming a long response is answered ping after ping (its `ws` pongs by
 * itself) and never cut. And when the client's own heartbeat finds the half-open socket first, its reconnect
 * presents the token, the gateway probes the old socket, cuts it and resumes it. Timers are the TestClock's,
 * advanced in small steps while real IO runs.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ConnectionPool from "@loopwire/client/ConnectionPool"
import * as Session from "@loopwire/client/Session"
import { ResumeHeaders } from "@loopwire/protocol/Resume"
import * as Gateway from "@loopwire/server/Gateway"
import { ModelBackend, type ModelTurn } from "@loopwire/server/ModelBackend"
import * as ResumeLog from "@loopwire/server/ResumeLog"
import type { Connection } from "@loopwire/transport/Connection"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { Chunk, Duration, Effect, Fiber, Layer, Option, Queue, Stream, TestClock } from "effect"
import type { Scope } from "effect"
import * as Net from "node:net"

const terminal = new Set(["response.completed", "response.incomplete", "response.failed", "error"])
type Json = { readonly [key: string]: any }

/** A model that streams 30 deltas one virtual second apart (a response that outlives several heartbeats). */
const slowModel = () => {
  const turns: Array<ModelTurn> = []
  const generate = (turn: ModelTurn) => {
    turns.push(turn)
    const id = `msg_${turn.response.id}`
    const words = Array.from({ length: 30 }, (_, i) => `w${i} `)
    const text = words.join("")
    const item = { type: "message", id, role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] }
    const deltas = Stream.fromIterable(words).pipe(
      Stream.mapEffect((delta) =>
        Effect.as(Effect.sleep("1 second"), { type: "response.output_text.delta", item_id: id, output_index: 0, content_index: 0, delta, logprobs: [] })
      )
    )
    return Stream.fromIterable<Json>([
      { type: "response.created", response: turn.response },
      { type: "response.in_progress", response: turn.response }
    ]).pipe(
      Stream.concat(deltas),
      Stream.concat(Stream.make({
        type: "response.completed",
        response: { ...turn.response, status: "completed", output: [item], usage: { input_tokens: 1, output_tokens: 30, total_tokens: 31 } }
      }))
    ) as Stream.Stream<any>
  }
  return { turns, layer: Layer.succeed(ModelBackend, { supportsSteering: false, generate }) }
}

/** The in-memory ResumeLog, reporting each `suspend` (the gateway has seen the drop). */
const spiedLog = () => {
  const suspended = Effect.runSync(Queue.unbounded<string>())
  const layer = Layer.effect(
    ResumeLog.ResumeLog,
    Effect.map(ResumeLog.makeMemory(), (log) => ({
      ...log,
      suspend: (session: ResumeLog.SessionRef) => Effect.zipRight(log.suspend(session), Queue.offer(suspended, session.token))
    }))
  )
  return { layer, suspended }
}

/** A TCP proxy on 127.0.0.1 whose connections can be frozen: nothing forwarded either way, nothing closed. */
const freezableProxy = (target: number): Effect.Effect<{ readonly port: number; readonly freeze: Effect.Effect<void> }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Net.Server; readonly pairs: Array<readonly [Net.Socket, Net.Socket]> }>((resume) => {
      const pairs: Array<readonly [Net.Socket, Net.Socket]> = []
      const server = Net.createServer((down) => {
        const up = Net.connect(target, "127.0.0.1")
        down.on("error", () => {})
        up.on("error", () => {})
        down.pipe(up)
        up.pipe(down)
        pairs.push([down, up])
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, pairs })))
    }),
    ({ pairs, server }) =>
      Effect.async<void>((resume) => {
        for (const [down, up] of pairs) {
          down.destroy()
          up.destroy()
        }
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ pairs, server }) => ({
    port: (server.address() as Net.AddressInfo).port,
    freeze: Effect.sync(() => {
      for (const [down, up] of pairs) {
        down.unpipe(up)
        up.unpipe(down)
        down.pause()
        up.pause()
      }
    })
  })))

interface Client {
  readonly connection: Connection
  readonly headers: Readonly<Record<string, string>>
  readonly send: (event: Json) => Effect.Effect<void>
  readonly next: Effect.Effect<Json>
  readonly untilDone: Effect.Effect<ReadonlyArray<Json>>
}

const dial = (port: number, token?: string): Effect.Effect<Client, never, Scope.Scope> =>
  Effect.gen(function*() {
    const headers: Record<string, string> = { authorization: "Bearer sk" }
    if (token !== undefined) headers[ResumeHeaders.token] = token
    const connection = yield* Effect.acquireRelease(
      Effect.orDie(WebSocket.connect(`ws://127.0.0.1:${port}/v1/responses`, { headers })),
      (connection) => connection.terminate
    )
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

// Virtual time in 100 ms steps, each followed by a few real milliseconds so sockets (pings, pongs, frames) move.
const advance = (millis: number) =>
  Effect.forEach(
    Array.from({ length: Math.ceil(millis / 100) }),
    () =>
      Effect.zipRight(
        TestClock.adjust("100 millis"),
        Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 4)))
      ),
    { discard: true }
  )

const portOf = (baseUrl: string) => Number(new URL(baseUrl).port)

describe("gateway heartbeat over real sockets", () => {
  it.scoped("a half-open client is cut after interval + timeout; a reconnect with its token gets resumed: 1", () => {
    const model = slowModel()
    const log = spiedLog()
    return Effect.gen(function*() {
      const gatewayPort = portOf(yield* Gateway.baseUrl)
      const proxy = yield* freezableProxy(gatewayPort)

      // A live client straight to the gateway: its response streams for 30 s and it sends nothing meanwhile.
      const live = yield* dial(gatewayPort)
      yield* live.send({ type: "response.create", model: "m", input: "long" })
      assert.strictEqual((yield* live.next).type, "response.created")

      // The client through the proxy: a response starts, two events arrive, then the path goes silent.
      const first = yield* dial(proxy.port)
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send({ type: "response.create", model: "m", input: "hello", loopwire_request_id: "lwr_1" })
      const seen = [yield* first.next, yield* first.next]
      assert.deepStrictEqual(seen.map((e) => e.sequence_number), [0, 1])
      yield* proxy.freeze

      // The first ping goes out at 5 s and is never answered; before 5 s + 5 s the gateway still holds it.
      yield* advance(9_500)
      assert.isTrue(Option.isNone(yield* Queue.poll(log.suspended)))
      yield* advance(1_000)
      assert.strictEqual(yield* Queue.take(log.suspended), token)

      const second = yield* dial(gatewayPort, token)
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      yield* second.send({ type: "loopwire.resume", loopwire_request_id: "lwr_1", starting_after: 1 })
      const rest = yield* Effect.fork(second.untilDone)

      // The live client's response outlives six heartbeats: it is never cut.
      yield* advance(25_000)
      const resumed = yield* rest.await.pipe(Effect.flatten)
      assert.deepStrictEqual([...seen, ...resumed].map((e) => e.sequence_number), Array.from({ length: 33 }, (_, i) => i))
      assert.strictEqual(resumed.at(-1)!.type, "response.completed")
      const events = yield* live.untilDone
      assert.strictEqual(events.at(-1)!.type, "response.completed")
      assert.isTrue(Option.isNone(yield* Queue.poll(log.suspended)), "the live client was never cut")
      assert.strictEqual(model.turns.length, 2)
    }).pipe(
      Effect.provide(Gateway.layerLocal({
        config: { port: 0, heartbeatInterval: Duration.seconds(5), heartbeatTimeout: Duration.seconds(5) },
        backend: model.layer,
        resumeLog: log.layer
      }))
    )
  })

  it.scoped("the client's heartbeat finds the half-open socket first; the gateway probes it at the claim: resumed", () => {
    const model = slowModel()
    const log = spiedLog()
    return Effect.gen(function*() {
      const gatewayPort = portOf(yield* Gateway.baseUrl)
      const proxy = yield* freezableProxy(gatewayPort)
      const config = ClientConfig.make({
        url: `ws://127.0.0.1:${proxy.port}/v1/responses`,
        apiKey: "sk",
        heartbeat: { interval: "3 seconds", timeout: "2 seconds" },
        resume: { initialMillis: 10, maxMillis: 100 }
      })
      const turn = yield* Effect.gen(function*() {
        const sockets = yield* (yield* ConnectionPool.ConnectionPool).subscribe
        const socketEvents = yield* Effect.fork(Stream.runCollect(Stream.take(sockets, 2)))
        const session = yield* Session.make({ settings: { model: "m", store: false } })
        const running = yield* Effect.fork(
          Stream.runCollect(session.send([{ type: "message", role: "user", content: "hello" }]))
        )
        // Two deltas in, then the path goes silent (new connections through the proxy still work).
        for (let i = 0; i < 100 && model.turns.length === 0; i++) yield* advance(100)
        yield* advance(2_000)
        yield* proxy.freeze
        // The client's ping (3 s + 2 s) finds it long before the gateway's (60 s); the reconnect's probe cuts it.
        for (let i = 0; i < 400 && Option.isNone(yield* Fiber.poll(running)); i++) yield* advance(100)
        const done = yield* Fiber.poll(running)
        assert.isTrue(Option.isSome(done), `the turn is still running; socket events: ${JSON.stringify(yield* Fiber.poll(socketEvents))}`)
        const events = Chunk.toArray(yield* Fiber.join(running))
        const tags = yield* Fiber.poll(socketEvents)
        assert.isTrue(Option.isSome(tags), "two socket events")
        return {
          events,
          tags: Chunk.toArray(yield* Fiber.join(socketEvents)).map((e) => e._tag),
          metrics: yield* session.metrics
        }
      }).pipe(Effect.provide(ConnectionPool.layer(config).pipe(Layer.provide(WebSocket.layer()))))
      assert.deepStrictEqual(turn.tags, ["Dropped", "Resumed"])
      assert.isFalse(turn.events.some((e) => e._tag === "Discard"), "no restart")
      const sequence = turn.events.map((e) => (e as any).event.sequence_number)
      assert.deepStrictEqual(sequence, Array.from({ length: 33 }, (_, i) => i))
      assert.strictEqual(turn.metrics.resumes, 1)
      assert.strictEqual(model.turns.length, 1, "no second generation")
      assert.strictEqual(yield* Queue.size(log.suspended), 1)
    }).pipe(
      Effect.provide(Gateway.layerLocal({
        config: { port: 0, heartbeatInterval: Duration.seconds(60), heartbeatTimeout: Duration.seconds(5) },
        backend: model.layer,
        resumeLog: log.layer
      }))
    )
  })
})
