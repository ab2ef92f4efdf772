/**
 * Recovery rungs driven by the transport's FaultInjection wrapper around the in-memory fake server.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Schema, Stream } from "effect"
import * as AgentLoop from "../src/AgentLoop.js"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as Session from "../src/Session.js"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { drive } from "./helpers/drive.js"
import { type FakeServer, makeServer } from "./helpers/openaiLike.js"
import { memoryTransport } from "./helpers/servers.js"

const config = ClientConfig.make({ url: "ws://fake.test/v1/responses", apiKey: "sk-test" })
const settings: Session.Settings = { model: "m", store: false }
const user = (text: string) => ({ type: "message" as const, role: "user" as const, content: [{ type: "input_text" as const, text }] })

/** An HttpClient answering POST /v1/responses from the fake server (SSE). */
const fakeHttp = (server: FakeServer) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) =>
      Effect.sync(() => {
        const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
        const answer = server.httpCreate(body)
        return HttpClientResponse.fromWeb(
          request,
          new Response(answer.body, {
            status: answer.status,
            headers: { "content-type": answer.status === 200 ? "text/event-stream" : "application/json" }
          })
        )
      })
    )
  )

const setup = (plan: FaultInjection.Plan) => {
  const server = makeServer({ toolCalls: 5 })
  const layer = Layer.mergeAll(
    ConnectionPool.layer(config).pipe(
      Layer.provide(FaultInjection.layer(plan)),
      Layer.provide(memoryTransport(server))
    ),
    fakeHttp(server)
  )
  return { server, layer }
}

describe("recovery under FaultInjection", () => {
  it.scoped("a cut mid-response, then a refused reconnect (503): backoff, reconnect, full resend", () => {
    const { server, layer } = setup((index) =>
      index === 0
        ? { cutAfterFrames: { direction: "inbound", frames: 3 } }
        : index === 1
        ? { refuse: { status: 503, body: "busy" } }
        : {}
    )
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const events = Chunk.toArray(yield* drive(Stream.runCollect(session.send([user("a")]))))
      assert.strictEqual(events.filter((e) => e._tag === "Discard").length, 1)
      assert.strictEqual((events.at(-1) as any).event.type, "response.completed")
      const m = yield* session.metrics
      assert.strictEqual(m.reconnects, 2)
      assert.strictEqual(server.stats().connections, 2)
      assert.isUndefined(server.creates.at(-1)!.previousResponseId)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("a cut of the outbound create (lost before the server saw it) is re-sent on a new socket", () => {
    const { server, layer } = setup((index) => index === 0 ? { cutAfterFrames: { direction: "outbound", frames: 1 } } : {})
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const r1 = yield* drive(session.turn([user("a")]))
      const r2 = yield* drive(session.turn([{ type: "function_call_output", call_id: (r1.output[0] as any).call_id, output: "{}" } as any]))
      assert.strictEqual(r2.status, "completed")
      // The lost frame was a delta on socket 1; the re-issue on socket 2 is full.
      const last = server.creates.at(-1)!
      assert.strictEqual(last.connection, 2)
      assert.isUndefined(last.previousResponseId)
      assert.strictEqual(last.inputItems, 3)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("426 on the upgrade: the session switches to HTTP/SSE and sends the full input", () => {
    const { server, layer } = setup((index) => index === 0 ? { refuse: { status: 426, body: "use HTTP" } } : {})
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const r1 = yield* drive(session.turn([user("a")]))
      yield* drive(session.turn([{ type: "function_call_output", call_id: (r1.output[0] as any).call_id, output: "{}" } as any]))
      assert.strictEqual(yield* session.transport, "http")
      const requests = server.httpRequests()
      assert.strictEqual(requests.length, 2)
      assert.strictEqual(requests[1]!.body.input.length, 3)
      assert.isUndefined(requests[1]!.body.previous_response_id)
      assert.strictEqual(server.stats().connections, 0)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("401 on the upgrade: a typed failure, no retry", () => {
    const { layer } = setup({ refuse: { status: 401, body: "bad key" } })
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const error = yield* Effect.flip(drive(session.turn([user("a")])))
      assert.strictEqual(error.reason, "Connect")
      assert.strictEqual(error.status, 401)
    }).pipe(Effect.provide(layer))
  })
})

describe("black hole", () => {
  it.scoped("a socket that stops delivering is dropped after the idle timeout and the turn re-issued", () => {
    const { server, layer } = setup((index) => index === 0 ? { blackHoleAfterFrames: { direction: "inbound", frames: 2 } } : {})
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings, idleTimeout: "30 seconds" })
      const events = Chunk.toArray(yield* drive(Stream.runCollect(session.send([user("a")])), "5 seconds"))
      assert.strictEqual(events.filter((e) => e._tag === "Discard").length, 1)
      assert.strictEqual((events.at(-1) as any).event.type, "response.completed")
      assert.strictEqual(server.stats().connections, 2)
      assert.strictEqual((yield* session.metrics).reconnects, 1)
    }).pipe(Effect.provide(layer))
  })
})

describe("random faults", () => {
  it.effect.prop(
    "whatever the cut (frame, byte, black hole; either direction) the rollout completes and no tool runs twice",
    { seed: Schema.Int.pipe(Schema.between(0, 1_000_000)) },
    ({ seed }) => {
      const plan = FaultInjection.random(seed, { maxFrames: 60, maxBytes: 6000 })
      const server = makeServer({ toolCalls: 5 })
      const layer = ConnectionPool.layer(config).pipe(
        Layer.provide(FaultInjection.layer((index) => (index === 0 ? plan : {}))),
        Layer.provide(memoryTransport(server))
      )
      return Effect.gen(function*() {
        let runs = 0
        const kit = Toolkit.make(Tool.make("step", { parameters: { n: Schema.Number, tag: Schema.String }, success: Schema.Number }))
        const events = yield* drive(
          AgentLoop.run("r", { toolkit: kit, settings, session: { idleTimeout: "30 seconds" } }).pipe(
            Stream.runCollect,
            Effect.provide(kit.toLayer({ step: ({ n }) => Effect.sync(() => (runs++, n)) }))
          ),
          "5 seconds"
        )
        assert.strictEqual((Chunk.toArray(events).at(-1) as any).text, "done after 5 tool calls for r")
        assert.strictEqual(runs, 5)
      }).pipe(Effect.provide(layer), Effect.scoped)
    },
    { fastCheck: { numRuns: 12 } }
  )
})
