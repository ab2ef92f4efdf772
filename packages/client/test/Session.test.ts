import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as Session from "../src/Session.js"
import { drive } from "./helpers/drive.js"
import { makeServer } from "./helpers/openaiLike.js"
import { memoryTransport } from "./helpers/servers.js"

const config = ClientConfig.make({ url: "ws://fake.test/v1/responses", apiKey: "sk-test" })
const user = (text: string) => ({ type: "message" as const, role: "user" as const, content: [{ type: "input_text" as const, text }] })
const output = (call_id: string) => ({ type: "function_call_output" as const, call_id, output: "{\"ok\":true}" })

const setup = (toolCalls = 100) => {
  const server = makeServer({ toolCalls })
  const layer = ConnectionPool.layer(config).pipe(Layer.provide(memoryTransport(server)))
  return { server, layer }
}

const settings: Session.Settings = { model: "m", store: false, instructions: "be brief" }

const collectEvents = (session: Session.Session) =>
  Effect.gen(function*() {
    const events: Array<Session.SessionEvent> = []
    const stream = yield* session.subscribe
    yield* Effect.forkScoped(Stream.runForEach(stream, (e) => Effect.sync(() => events.push(e))))
    return events
  })

describe("Session", () => {
  it.scoped("a 20-tool-call rollout: every turn after the first is a delta (bytes on the wire)", () => {
    const { server, layer } = setup(20)
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      let response = yield* drive(session.turn([user("go")]))
      let calls = 0
      while (response.output.some((i: any) => i.type === "function_call")) {
        const fc = response.output.find((i: any) => i.type === "function_call") as any
        calls++
        response = yield* drive(session.turn([output(fc.call_id)]))
      }
      assert.strictEqual(calls, 20)
      const creates = server.creates
      assert.strictEqual(creates.length, 21)
      assert.isUndefined(creates[0]!.previousResponseId)
      for (const c of creates.slice(1)) {
        assert.isDefined(c.previousResponseId)
        assert.strictEqual(c.inputItems, 1)
      }
      // Delta frames stay the same size while the history grows.
      const deltaSizes = creates.slice(1).map((c) => c.bytes)
      assert.isTrue(Math.max(...deltaSizes) - Math.min(...deltaSizes) <= 4) // only ids gain digits
      const m = yield* session.metrics
      assert.strictEqual(m.deltaRequests, 20)
      assert.strictEqual(m.fullRequests, 1)
      assert.strictEqual(m.bytesSent, creates.reduce((n, c) => n + c.bytes, 0))
      // The full-resend equivalent is exact: resend the history the session holds.
      const history = yield* session.history
      assert.strictEqual(history.length, 1 + 20 * 2 + 1)
      assert.isTrue(m.bytesFullResend > 5 * m.bytesSent)
      assert.strictEqual(server.stats().connections, 1)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("bytesFullResend equals the size of an actual full resend", () => {
    const { server, layer } = setup(3)
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const events = yield* collectEvents(session)
      const r1 = yield* drive(session.turn([user("a")]))
      yield* drive(session.turn([output((r1.output[0] as any).call_id)]))
      server.forgetAll()
      // The next delta fails (not found) and is resent in full: compare the predicted and actual full sizes.
      const r2 = (yield* session.history).at(-1) as any
      yield* drive(session.turn([output(r2.call_id)]))
      const sent = events.filter((e) => e._tag === "RequestSent") as Array<any>
      const lastDelta = sent.at(-2)
      const full = sent.at(-1)
      assert.strictEqual(lastDelta.mode, "delta")
      assert.strictEqual(full.mode, "full")
      assert.strictEqual(lastDelta.fullBytes, full.bytes)
      assert.strictEqual(server.creates.at(-1)!.bytes, full.bytes)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("previous_response_not_found: one full resend on the same socket", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const r1 = yield* drive(session.turn([user("a")]))
      server.forgetAll()
      yield* drive(session.turn([output((r1.output[0] as any).call_id)]))
      const [, notFound, full] = server.creates
      assert.strictEqual(notFound!.outcome, "not_found")
      assert.isUndefined(full!.previousResponseId)
      assert.strictEqual(full!.inputItems, 3)
      assert.strictEqual(full!.connection, 1)
      const m = yield* session.metrics
      assert.strictEqual(m.fullResends, 1)
      // The chain is healthy again: the next turn is a delta.
      yield* drive(session.turn([output("call_1")]))
      assert.isDefined(server.creates.at(-1)!.previousResponseId)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("turnWith hands over the same events as send, in order (a Discard included), and returns the final response", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const r1 = yield* drive(session.turn([user("a")]))
      // The same drop mid-response on both paths: events, Discard marker, re-issued events.
      server.faults.dropAfterEvents = 3
      const viaStream = Chunk.toArray(yield* drive(Stream.runCollect(session.send([output((r1.output[0] as any).call_id)]))))
      const r2 = (yield* session.history).at(-1) as any
      server.faults.dropAfterEvents = 3
      const viaCallback: Array<Session.TurnEvent> = []
      const final = yield* drive(session.turnWith([output(r2.call_id)], undefined, (e) => viaCallback.push(e)))
      const shape = (events: ReadonlyArray<Session.TurnEvent>) =>
        events.map((e) => e._tag === "Discard" ? "Discard" : e.event.type)
      assert.deepStrictEqual(shape(viaCallback), shape(viaStream))
      assert.strictEqual(shape(viaCallback).filter((t) => t === "Discard").length, 1)
      const terminal = viaCallback.at(-1) as any
      assert.strictEqual(terminal.event.type, "response.completed")
      assert.strictEqual(final.id, terminal.event.response.id)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("a drop mid-response: reconnect with backoff, full resend (store:false), partial output discarded", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const events = yield* collectEvents(session)
      const r1 = yield* drive(session.turn([user("a")]))
      server.faults.dropAfterEvents = 3
      const turn = yield* drive(Stream.runCollect(session.send([output((r1.output[0] as any).call_id)])))
      const items = Chunk.toArray(turn)
      const discard = items.findIndex((e) => e._tag === "Discard")
      assert.strictEqual(discard, 3)
      assert.strictEqual((items.at(-1) as any).event.type, "response.completed")
      const last = server.creates.at(-1)!
      assert.strictEqual(last.connection, 2)
      assert.isUndefined(last.previousResponseId)
      assert.strictEqual(last.inputItems, 3)
      const recovering = events.find((e) => e._tag === "Recovering") as any
      assert.strictEqual(recovering.action, "Reconnect")
      assert.isTrue(recovering.delayMillis >= 375 && recovering.delayMillis <= 500)
      assert.strictEqual((yield* session.metrics).reconnects, 1)
      // History holds only the completed response's output, not the lost partial one.
      assert.strictEqual((yield* session.history).length, 4)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("a drop mid-response with store:true continues from the last completed id on the new socket", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings: { ...settings, store: true } })
      const r1 = yield* drive(session.turn([user("a")]))
      server.faults.dropAfterEvents = 2
      yield* drive(session.turn([output((r1.output[0] as any).call_id)]))
      const last = server.creates.at(-1)!
      assert.strictEqual(last.connection, 2)
      assert.strictEqual(last.previousResponseId, r1.id)
      assert.strictEqual(last.inputItems, 1)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("websocket_connection_limit_reached: rotate the socket, full resend", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const r1 = yield* drive(session.turn([user("a")]))
      server.faults.limitNext = true
      yield* drive(session.turn([output((r1.output[0] as any).call_id)]))
      const last = server.creates.at(-1)!
      assert.strictEqual(last.connection, 2)
      assert.isUndefined(last.previousResponseId)
      assert.strictEqual((yield* session.metrics).rotations, 1)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("maximum age: the socket is rotated between turns", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const r1 = yield* drive(session.turn([user("a")]))
      yield* drive(Effect.sleep("56 minutes"), "1 minute")
      yield* drive(session.turn([output((r1.output[0] as any).call_id)]))
      const last = server.creates.at(-1)!
      assert.strictEqual(last.connection, 2)
      assert.isUndefined(last.previousResponseId)
      assert.strictEqual(server.stats().open, 1)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("429: back off for the server's retry hint, then retry (in full after a failed delta)", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const events = yield* collectEvents(session)
      const r1 = yield* drive(session.turn([user("a")]))
      server.faults.errorNext = { status: 429, code: "rate_limit_exceeded", type: "rate_limit_error", headers: { "retry-after-ms": "1500" } }
      yield* drive(session.turn([output((r1.output[0] as any).call_id)]))
      const recovering = events.find((e) => e._tag === "Recovering") as any
      assert.strictEqual(recovering.action, "Backoff")
      assert.strictEqual(recovering.delayMillis, 1500)
      assert.strictEqual(recovering.error.code, "rate_limit_exceeded")
      const last = server.creates.at(-1)!
      assert.isUndefined(last.previousResponseId)
      assert.strictEqual(last.connection, 1)
      assert.strictEqual((yield* session.metrics).retries, 1)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("5xx: exponential backoff and retry", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const events = yield* collectEvents(session)
      server.faults.errorNext = { status: 503, code: "server_error" }
      const r = yield* drive(session.turn([user("a")]))
      assert.strictEqual(r.status, "completed")
      const recovering = events.find((e) => e._tag === "Recovering") as any
      assert.strictEqual(recovering.action, "Backoff")
      assert.isTrue(recovering.delayMillis >= 375 && recovering.delayMillis <= 500)
      assert.strictEqual(server.creates.length, 2)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("other 4xx: a typed failure, no retry", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      server.faults.errorNext = { status: 400, code: "invalid_value", type: "invalid_request_error" }
      const error = yield* Effect.flip(drive(session.turn([user("a")])))
      assert.strictEqual(error.reason, "ErrorFrame")
      assert.strictEqual(error.code, "invalid_value")
      assert.strictEqual(error.status, 400)
      assert.strictEqual(server.creates.length, 1)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("retries are bounded: a socket that keeps dropping ends in RetriesExhausted", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings, backoff: { maxRetries: 2 } })
      server.faults.refuseUpgrade = 503
      server.faults.refuseCount = 10
      const error = yield* Effect.flip(drive(session.turn([user("a")])))
      assert.strictEqual(error.reason, "RetriesExhausted")
      assert.strictEqual(server.creates.length, 0)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("prewarm (generate:false), then the first real turn is an empty-history delta", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings, history: [user("a")] })
      yield* drive(session.prewarm())
      yield* drive(session.turn([]))
      const [warm, first] = server.creates
      assert.isFalse(warm!.generate)
      assert.strictEqual(first!.previousResponseId, "resp_1")
      assert.strictEqual(first!.inputItems, 0)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("changed settings force a full resend", () => {
    const { server, layer } = setup()
    return Effect.gen(function*() {
      const session = yield* Session.make({ settings })
      const r1 = yield* drive(session.turn([user("a")]))
      yield* drive(session.turn([output((r1.output[0] as any).call_id)], { ...settings, instructions: "other" }))
      assert.isUndefined(server.creates.at(-1)!.previousResponseId)
    }).pipe(Effect.provide(layer))
  })
})

describe("endpoints without lanes (xAI, Azure)", () => {
  it.scoped("one session per socket, no stream_id on the wire, a full pool is a typed error", () => {
    const server = makeServer({ toolCalls: 1 })
    const xai = ClientConfig.make({ url: "ws://fake.test/v1/responses", lanes: false, maxInFlight: 1 })
    const layer = ConnectionPool.layer(xai, { size: 2 }).pipe(Layer.provide(memoryTransport(server)))
    return Effect.gen(function*() {
      const a = yield* Session.make({ settings })
      const b = yield* Session.make({ settings })
      assert.notStrictEqual(a.lease.socket, b.lease.socket)
      assert.isUndefined(a.lease.lane)
      const full = yield* Effect.flip(Session.make({ settings }))
      assert.strictEqual(full.reason, "LaneLimit")
      yield* drive(Effect.all([a.turn([user("a")]), b.turn([user("b")])], { concurrency: 2 }))
      assert.isTrue(server.creates.every((c) => c.lane === undefined))
      assert.deepStrictEqual(server.creates.map((c) => c.connection).sort(), [1, 2])
    }).pipe(Effect.provide(layer))
  })
})

describe("cost per turn", () => {
  it.scoped("every item and the settings are serialized once, however long the rollout", () => {
    const { layer } = setup(20)
    const counted = <A extends object>(value: A) => {
      const box = { n: 0 }
      const item = { ...value, toJSON: () => (box.n++, value) }
      return { item: item as unknown as A, box }
    }
    return Effect.gen(function*() {
      const tools = counted({ type: "function", name: "step", parameters: { type: "object" }, strict: false })
      const session = yield* Session.make({ settings: { ...settings, tools: [tools.item as any] } })
      const first = counted(user("go"))
      const boxes = [first.box]
      let response = yield* drive(session.turn([first.item]))
      while (response.output.some((i: any) => i.type === "function_call")) {
        const fc = response.output.find((i: any) => i.type === "function_call") as any
        const out = counted(output(fc.call_id))
        boxes.push(out.box)
        response = yield* drive(session.turn([out.item]))
      }
      assert.strictEqual(boxes.length, 21)
      assert.isTrue(boxes.every((b) => b.n === 1))
      assert.strictEqual(tools.box.n, 1)
    }).pipe(Effect.provide(layer))
  })
})
