import { assert, describe, it } from "@effect/vitest"
import { ResumeHeaders } from "@loopwire/protocol/Resume"
import type { Connection } from "@loopwire/transport/Connection"
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import * as Memory from "@loopwire/transport/Memory"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Auth from "../src/Auth.js"
import * as Gateway from "../src/Gateway.js"
import type { GatewayConfigShape } from "../src/GatewayConfig.js"
import * as ResumeLog from "../src/ResumeLog.js"
import * as StateCache from "../src/StateCache.js"
import { type Json, makeBackend, services, user } from "./fixtures.js"

const create = (fields: Json = {}): Json => ({ type: "response.create", model: "m", ...fields })
const terminal = new Set(["response.completed", "response.incomplete", "response.failed", "error"])

/**
 * The in-memory ResumeLog, reporting each `suspend` (the gateway has seen the drop) on a queue; `readFails` makes
 * every `read` fail with that reason (a Redis outage, a dead producer).
 */
const spiedLog = (options: ResumeLog.Options = {}, readFails?: ResumeLog.ResumeLogError["reason"]) => {
  const suspended = Effect.runSync(Queue.unbounded<string>())
  const layer = Layer.effect(
    ResumeLog.ResumeLog,
    Effect.map(ResumeLog.makeMemory(options), (log) => ({
      ...log,
      suspend: (session: ResumeLog.SessionRef) =>
        Effect.zipRight(log.suspend(session), Queue.offer(suspended, session.token)),
      read: readFails === undefined
        ? log.read
        : () => Stream.fail(new ResumeLog.ResumeLogError({ reason: readFails, message: `scripted ${readFails}` }))
    }))
  )
  return { layer, suspended: Queue.take(suspended) }
}

type Backend = ReturnType<typeof makeBackend>

const gateway = (
  backend: Backend,
  log: { readonly layer: Layer.Layer<ResumeLog.ResumeLog> },
  config: Partial<GatewayConfigShape> = {}
) =>
  Layer.mergeAll(
    services(backend, config),
    log.layer,
    Auth.layer({ _tag: "StaticKeys", keys: [["sk-a", "tenant-a"], ["sk-b", "tenant-b"]] })
  )

interface Client {
  readonly connection: Connection
  readonly headers: Readonly<Record<string, string>>
  readonly send: (event: Json) => Effect.Effect<void>
  readonly next: Effect.Effect<Json>
  /** Events up to and including the next terminal event or error. */
  readonly untilDone: Effect.Effect<ReadonlyArray<Json>>
  /** After the connection ended: every event it delivered that was not taken yet. */
  readonly rest: Effect.Effect<ReadonlyArray<Json>>
}

interface OpenOptions {
  readonly key?: string
  readonly token?: string | undefined
  readonly faults?: FaultInjection.Faults
}

/** One gateway process: its upgrade handler (and so its in-process sessions) over the in-memory transport. */
const gatewayProcess = Effect.gen(function*() {
  const handler = yield* Gateway.upgradeHandler
  const transport = yield* Memory.makeServer(handler)
  return (options: OpenOptions = {}) => connectTo(transport, options)
})

const connectTo = (
  transport: Effect.Effect.Success<ReturnType<typeof Memory.makeServer>>,
  options: OpenOptions
): Effect.Effect<Client, never, Scope.Scope> =>
  Effect.gen(function*() {
    const headers: Record<string, string> = { authorization: `Bearer ${options.key ?? "sk-a"}` }
    if (options.token !== undefined) headers[ResumeHeaders.token] = options.token
    const raw = yield* Effect.orDie(transport.open("ws://gateway.test/v1/responses", { headers }))
    const connection = options.faults === undefined ? raw : FaultInjection.wrapConnection(raw, options.faults)
    const inbox = yield* Queue.unbounded<Json>()
    const reader = yield* connection.frames.pipe(
      Stream.runForEach((text) => Queue.offer(inbox, JSON.parse(text))),
      Effect.ignore,
      Effect.forkScoped
    )
    const untilDone = Effect.gen(function*() {
      const events: Array<Json> = []
      while (true) {
        const event = yield* Queue.take(inbox)
        events.push(event)
        if (terminal.has(event.type)) return events
      }
    })
    return {
      connection,
      headers: connection.handshake.responseHeaders,
      send: (event) => Effect.orDie(connection.send(JSON.stringify(event))),
      next: Queue.take(inbox),
      untilDone,
      rest: Effect.zipRight(Fiber.join(reader), Effect.map(Queue.takeAll(inbox), (all) => Array.from(all)))
    }
  })

const resume = (requestId: string, startingAfter: number): Json => ({
  type: "loopwire.resume",
  loopwire_request_id: requestId,
  starting_after: startingAfter
})

// Runs one gated response fault-free: the reference every resumed run must match.
const referenceRun = (open: (options?: OpenOptions) => Effect.Effect<Client, never, Scope.Scope>, input: string) =>
  Effect.gen(function*() {
    const client = yield* open()
    yield* client.send(create({ input: [user(input)], loopwire_request_id: "lwr_ref" }))
    return yield* client.untilDone
  })

const withoutIds = (events: ReadonlyArray<Json>) =>
  events.map((event) =>
    JSON.parse(
      JSON.stringify(event).replace(/resp_[0-9a-f]{32}/g, "resp_X").replace(/"(created|completed)_at":\d+/g, "\"$1_at\":0")
    )
  )

describe("reconnect-with-resume (docs/resume.md)", () => {
  it.scoped("every 101 names the connection and tells the grace period; no resumed header unless asked", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const client = yield* open()
      assert.match(client.headers[ResumeHeaders.token]!, /^[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(client.headers[ResumeHeaders.grace], "15000")
      assert.isUndefined(client.headers[ResumeHeaders.resumed])
      const other = yield* open()
      assert.notStrictEqual(other.headers[ResumeHeaders.token], client.headers[ResumeHeaders.token])
    }).pipe(Effect.provide(gateway(backend, spiedLog(), { resumeGrace: "15 seconds" as never })))
  })

  it.scoped("a drop mid-response, resumed within the grace period: the rest exactly once, no second generation", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send(create({ input: [user("hello")], loopwire_request_id: "lwr_1" }))
      const seen = [yield* first.next, yield* first.next]
      assert.deepStrictEqual(seen.map((e) => e.sequence_number), [0, 1])
      yield* first.connection.terminate
      yield* log.suspended
      // The response keeps running while no socket is there.
      yield* backend.release()
      yield* TestClock.adjust("30 seconds")

      const second = yield* open({ token })
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      assert.notStrictEqual(second.headers[ResumeHeaders.token], token)
      yield* second.send(resume("lwr_1", 1))
      const rest = yield* second.untilDone
      assert.deepStrictEqual(rest.map((e) => e.sequence_number), [2, 3, 4])
      assert.strictEqual(rest.at(-1)!.type, "response.completed")
      assert.strictEqual(rest.at(-1)!.response.id, seen[0]!.response.id)
      assert.strictEqual(backend.turns.length, 1)

      // The whole transcript is the fault-free one.
      const reference = yield* Effect.fork(referenceRun(open, "hello"))
      yield* backend.release()
      const expected = yield* reference.await.pipe(Effect.flatten)
      assert.deepStrictEqual(withoutIds([...seen, ...rest]), withoutIds(expected))
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a cut by FaultInjection mid-response; the lane cache carries over (a store: false delta works)", () => {
    const backend = makeBackend()
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      // The client loses the connection when the 4th event would arrive.
      const first = yield* open({ faults: { cutAfterFrames: { direction: "inbound", frames: 3 } } })
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send(create({ input: [user("call:lookup")], store: false, loopwire_request_id: "lwr_a" }))
      const seen = [yield* first.next, yield* first.next, yield* first.next]
      yield* log.suspended
      const second = yield* open({ token })
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      yield* second.send(resume("lwr_a", seen.at(-1)!.sequence_number))
      const rest = yield* second.untilDone
      const events = [...seen, ...rest]
      assert.deepStrictEqual(events.map((e) => e.sequence_number), [0, 1, 2, 3, 4])
      const parent = events.at(-1)!.response
      const call = parent.output[0]
      // A delta continuation of a store: false response: only the lane cache of the lost connection has it.
      yield* second.send(create({
        previous_response_id: parent.id,
        store: false,
        input: [{ type: "function_call_output", call_id: call.call_id, output: "42" }],
        loopwire_request_id: "lwr_b"
      }))
      const next = yield* second.untilDone
      assert.strictEqual(next.at(-1)!.type, "response.completed", JSON.stringify(next))
      assert.strictEqual(backend.turns.length, 2)
      assert.strictEqual(backend.turns[1]!.turn, 1)
      assert.strictEqual(backend.turns[1]!.input.length, 3)
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("after the grace period: resumed 0, resume_not_available, and the running response was interrupted", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send(create({ input: [user("warm")], store: false }))
      yield* backend.release()
      yield* first.untilDone
      yield* first.send(create({ input: [user("hello")], loopwire_request_id: "lwr_1" }))
      yield* first.next
      yield* first.connection.terminate
      yield* log.suspended
      const cache = yield* StateCache.StateCache
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual(backend.running, 1)
      assert.strictEqual((yield* cache.stats).entries, 1)
      yield* TestClock.adjust("2 seconds")
      // Released: the still-running response interrupted, the lane caches evicted.
      assert.strictEqual(backend.running, 0)
      assert.strictEqual((yield* cache.stats).entries, 0)
      const second = yield* open({ token })
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "0")
      yield* second.send(resume("lwr_1", 0))
      const [refusal] = yield* second.untilDone
      assert.deepStrictEqual(refusal, {
        type: "error",
        status: 409,
        error: {
          type: "invalid_request_error",
          code: "resume_not_available",
          message: "Request 'lwr_1' cannot be resumed: this connection did not resume a previous one.",
          param: "loopwire_request_id"
        }
      })
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a spent token, another tenant's token, a cleanly closed connection's token: resumed 0", () => {
    const backend = makeBackend()
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      const token = first.headers[ResumeHeaders.token]!
      yield* first.connection.terminate
      yield* log.suspended
      const stranger = yield* open({ key: "sk-b", token })
      assert.strictEqual(stranger.headers[ResumeHeaders.resumed], "0")
      const second = yield* open({ token })
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      const again = yield* open({ token })
      assert.strictEqual(again.headers[ResumeHeaders.resumed], "0")

      const clean = yield* open()
      yield* clean.send(create({ input: [user("hi")], loopwire_request_id: "lwr_c" }))
      yield* clean.untilDone
      yield* clean.connection.close(1000)
      yield* clean.connection.closed
      const afterClean = yield* open({ token: clean.headers[ResumeHeaders.token]! })
      assert.strictEqual(afterClean.headers[ResumeHeaders.resumed], "0")
      // A live connection's token (a half-open socket the server has not seen drop) resumes nothing either.
      const live = yield* open()
      const thief = yield* open({ token: live.headers[ResumeHeaders.token]! })
      assert.strictEqual(thief.headers[ResumeHeaders.resumed], "0")
      yield* live.send(create({ input: [user("still mine")] }))
      assert.strictEqual((yield* live.untilDone).at(-1)!.type, "response.completed")
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a re-sent create is answered as a resume from the start, never generated again", () => {
    const backend = makeBackend()
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      const token = first.headers[ResumeHeaders.token]!
      const request = create({ input: [user("hello")], loopwire_request_id: "lwr_dup" })
      yield* first.send(request)
      const original = yield* first.untilDone
      yield* first.connection.terminate
      yield* log.suspended
      const second = yield* open({ token })
      yield* second.send(request)
      const replayed = yield* second.untilDone
      assert.deepStrictEqual(replayed, original)
      // And on the same connection, too.
      yield* second.send(request)
      assert.deepStrictEqual(yield* second.untilDone, original)
      assert.strictEqual(backend.turns.length, 1)
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a request refused after acceptance has its error frame in its log: a resume replays the refusal", () => {
    const backend = makeBackend()
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const client = yield* open()
      const request = create({ previous_response_id: "resp_gone", input: [], store: false, stream_id: "s", loopwire_request_id: "lwr_x" })
      yield* client.send(request)
      const [refusal] = yield* client.untilDone
      assert.strictEqual(refusal!.error.code, "previous_response_not_found")
      yield* client.send(resume("lwr_x", -1))
      assert.deepStrictEqual(yield* client.untilDone, [refusal])
      yield* client.send(request)
      assert.deepStrictEqual(yield* client.untilDone, [refusal])
      assert.strictEqual(backend.turns.length, 0)
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a queued request resumes after the running one, in lane order, with no interleaving", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send(create({ input: [user("one")], stream_id: "L", loopwire_request_id: "lwr_1" }))
      yield* first.send(create({ input: [user("two")], stream_id: "L", loopwire_request_id: "lwr_2" }))
      const seen = yield* first.next
      assert.strictEqual(seen.type, "response.created")
      yield* first.connection.terminate
      yield* log.suspended
      const second = yield* open({ token })
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      yield* second.send(resume("lwr_1", 0))
      yield* second.send(resume("lwr_2", -1))
      // A new request on the same lane comes after both.
      yield* second.send(create({ input: [user("three")], stream_id: "L", loopwire_request_id: "lwr_3" }))
      yield* backend.release(3)
      const one = yield* second.untilDone
      const two = yield* second.untilDone
      const three = yield* second.untilDone
      assert.deepStrictEqual(one.map((e) => e.sequence_number), [1, 2, 3, 4])
      assert.deepStrictEqual(two.map((e) => e.sequence_number), [0, 1, 2, 3, 4])
      assert.deepStrictEqual(three.map((e) => e.sequence_number), [0, 1, 2, 3, 4])
      const ids = [one, two, three].map((events) => new Set(events.map((e) => e.response?.id ?? e.item?.id)))
      assert.strictEqual(one.at(-1)!.response.id, seen.response.id)
      assert.notStrictEqual(two.at(-1)!.response.id, one.at(-1)!.response.id)
      assert.strictEqual(ids.length, 3)
      assert.isTrue([...one, ...two, ...three].every((e) => e.stream_id === "L"))
      assert.deepStrictEqual(backend.turns.map((t) => t.newInput.length), [1, 1, 1])
      assert.strictEqual(backend.turns.length, 3)
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a log over its byte budget: resume_log_truncated; a resume after the kept part still works", () => {
    const backend = makeBackend()
    const log = spiedLog({ maxBytes: 1200 })
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send(create({ input: [user("x".repeat(400))], stream_id: "s", loopwire_request_id: "lwr_big" }))
      const events = yield* first.untilDone
      yield* first.connection.terminate
      yield* log.suspended
      const second = yield* open({ token })
      yield* second.send(resume("lwr_big", -1))
      const [refusal] = yield* second.untilDone
      assert.deepStrictEqual(refusal, {
        type: "error",
        status: 409,
        error: {
          type: "invalid_request_error",
          code: "resume_log_truncated",
          message: "Request 'lwr_big' cannot be resumed after event -1: its log no longer holds those events.",
          param: "starting_after"
        },
        stream_id: "s"
      })
      const last = events.at(-1)!
      yield* second.send(resume("lwr_big", last.sequence_number - 1))
      assert.deepStrictEqual(yield* second.untilDone, [last])
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("a resumed connection asked for a request it never received: resume_request_unknown", () => {
    const backend = makeBackend()
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      yield* first.connection.terminate
      yield* log.suspended
      const second = yield* open({ token: first.headers[ResumeHeaders.token]! })
      yield* second.send(resume("lwr_lost", -1))
      const [refusal] = yield* second.untilDone
      assert.strictEqual(refusal!.status, 409)
      assert.strictEqual(refusal!.error.code, "resume_request_unknown")
      assert.strictEqual(refusal!.error.param, "loopwire_request_id")
      // Re-sent as it was, it runs on this connection.
      yield* second.send(create({ input: [user("hi")], loopwire_request_id: "lwr_lost" }))
      assert.strictEqual((yield* second.untilDone).at(-1)!.type, "response.completed")
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  it.scoped("two processes sharing one log: resumed on the other while the first still runs the response", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog()
    return Effect.gen(function*() {
      const processA = yield* gatewayProcess
      const processB = yield* gatewayProcess
      const first = yield* processA()
      yield* first.send(create({ input: [user("call:lookup")], store: false, loopwire_request_id: "lwr_1" }))
      const seen = [yield* first.next, yield* first.next]
      yield* first.connection.terminate
      yield* log.suspended
      const second = yield* processB({ token: first.headers[ResumeHeaders.token]! })
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      yield* second.send(resume("lwr_1", 1))
      // Still running on A: B follows it live.
      yield* backend.release()
      const rest = yield* second.untilDone
      assert.deepStrictEqual([...seen, ...rest].map((e) => e.sequence_number), [0, 1, 2, 3, 4])
      assert.strictEqual(backend.turns.length, 1)
      // The lane caches stayed on A: a store: false delta is not found on B (the client resends in full).
      const parent = rest.at(-1)!.response
      yield* second.send(create({
        previous_response_id: parent.id,
        store: false,
        input: [{ type: "function_call_output", call_id: parent.output[0].call_id, output: "42" }],
        loopwire_request_id: "lwr_2"
      }))
      const [refusal] = yield* second.untilDone
      assert.strictEqual(refusal!.error.code, "previous_response_not_found")
      // Its lane names carried over, and a re-sent create of the lost connection is still deduplicated.
      yield* second.send(create({ input: [user("call:lookup")], store: false, loopwire_request_id: "lwr_1" }))
      assert.deepStrictEqual((yield* second.untilDone).map((e) => e.sequence_number), [0, 1, 2, 3, 4])
      assert.strictEqual(backend.turns.length, 1)
    }).pipe(Effect.provide(gateway(backend, log)))
  })

  for (
    const [reason, status, code] of [
      ["Unavailable", 503, "resume_log_unavailable"],
      ["Abandoned", 409, "resume_not_available"],
      ["NotFound", 409, "resume_not_available"]
    ] as const
  ) {
    it.scoped(`a log read failing with ${reason}: a ${status} ${code} frame on the request's lane`, () => {
      const backend = makeBackend()
      const log = spiedLog({}, reason)
      return Effect.gen(function*() {
        const open = yield* gatewayProcess
        const client = yield* open()
        yield* client.send(create({ input: [user("hi")], stream_id: "s", loopwire_request_id: "lwr_1" }))
        yield* client.untilDone
        yield* client.send(resume("lwr_1", -1))
        const [refusal] = yield* client.untilDone
        assert.strictEqual(refusal!.status, status)
        assert.strictEqual(refusal!.error.code, code)
        assert.strictEqual(refusal!.stream_id, "s")
        assert.include(refusal!.error.message, "lwr_1")
      }).pipe(Effect.provide(gateway(backend, log)))
    })
  }

  it.scoped("the lost connection's lane names count towards the resuming connection's lane limit", () => {
    const backend = makeBackend()
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      yield* first.send(create({ input: [user("a")], stream_id: "a" }))
      yield* first.untilDone
      yield* first.connection.terminate
      yield* log.suspended
      const second = yield* open({ token: first.headers[ResumeHeaders.token]! })
      yield* second.send(create({ input: [user("b")], stream_id: "b" }))
      const [refusal] = yield* second.untilDone
      assert.strictEqual(refusal!.error.code, "websocket_stream_limit_reached")
      yield* second.send(create({ input: [user("a again")], stream_id: "a" }))
      assert.strictEqual((yield* second.untilDone).at(-1)!.type, "response.completed")
    }).pipe(Effect.provide(gateway(backend, log, { maxLanes: 1 })))
  })

  it.scoped("the age limit's 1001 close counts as a drop: the running response can be resumed", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      yield* first.send(create({ input: [user("long")], loopwire_request_id: "lwr_1" }))
      const seen = [yield* first.next, yield* first.next]
      yield* TestClock.adjust("10 minutes")
      const [limit] = yield* first.untilDone
      assert.strictEqual(limit!.error.code, "websocket_connection_limit_reached")
      assert.strictEqual((yield* first.connection.closed).code, 1001)
      yield* log.suspended
      const second = yield* open({ token: first.headers[ResumeHeaders.token]! })
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
      yield* second.send(resume("lwr_1", seen[1]!.sequence_number))
      yield* backend.release()
      assert.deepStrictEqual((yield* second.untilDone).map((e) => e.sequence_number), [2, 3, 4])
      assert.strictEqual(backend.turns.length, 1)
    }).pipe(Effect.provide(gateway(backend, log, { maxConnectionAge: "10 minutes" as never })))
  })

  it.scoped("resume disabled: no headers, loopwire_request_id ignored, loopwire.resume refused", () => {
    const backend = makeBackend()
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const client = yield* open({ token: "whatever" })
      assert.deepStrictEqual(Object.keys(client.headers), [])
      const request = create({ input: [user("hi")], loopwire_request_id: "lwr_1" })
      yield* client.send(request)
      yield* client.untilDone
      yield* client.send(request)
      yield* client.untilDone
      assert.strictEqual(backend.turns.length, 2)
      yield* client.send(resume("lwr_1", -1))
      const [refusal] = yield* client.untilDone
      assert.strictEqual(refusal!.error.code, "resume_not_available")
    }).pipe(Effect.provide(gateway(backend, spiedLog(), { resume: false })))
  })

  it.scoped("a grace period of zero still names connections but keeps nothing", () => {
    const backend = makeBackend({ gated: true })
    const log = spiedLog({ grace: 0 })
    return Effect.gen(function*() {
      const open = yield* gatewayProcess
      const first = yield* open()
      assert.strictEqual(first.headers[ResumeHeaders.grace], "0")
      yield* first.send(create({ input: [user("hi")], loopwire_request_id: "lwr_1" }))
      yield* first.next
      yield* first.connection.terminate
      yield* log.suspended
      yield* TestClock.adjust(0)
      const second = yield* open({ token: first.headers[ResumeHeaders.token]! })
      assert.strictEqual(second.headers[ResumeHeaders.resumed], "0")
      assert.strictEqual(backend.running, 0)
    }).pipe(Effect.provide(gateway(backend, log, { resumeGrace: 0 as never })))
  })

  it.effect.prop(
    "arbitrary cut point, lanes and reconnect delay: per request, the fault-free transcript; no second generation",
    {
      lanes: FastCheck.array(FastCheck.constantFrom("a", "b", ""), { minLength: 1, maxLength: 4 }),
      cut: FastCheck.integer({ min: 0, max: 21 }),
      delay: FastCheck.integer({ min: 0, max: 59_000 })
    },
    ({ cut, delay, lanes }) => {
      const backend = makeBackend()
      const log = spiedLog()
      const requests = lanes.map((lane, i) =>
        create({
          input: [user(i % 2 === 0 ? `req ${i}` : "call:tool")],
          loopwire_request_id: `lwr_${i}`,
          ...(lane === "" ? {} : { stream_id: lane })
        })
      )
      // Events per request: on one lane, the k-th response belongs to the k-th request sent on it.
      const assign = (events: ReadonlyArray<Json>, order: ReadonlyArray<number>, into: Array<Array<Json>>) => {
        const queues = new Map<string, Array<number>>()
        for (const i of order) {
          const lane = lanes[i]!
          queues.set(lane, [...(queues.get(lane) ?? []), i])
        }
        for (const event of events) {
          const queue = queues.get(event.stream_id ?? "")!
          into[queue[0]!]!.push(event)
          if (terminal.has(event.type)) queue.shift()
        }
      }
      return Effect.gen(function*() {
        const open = yield* gatewayProcess
        const reference = lanes.map((): Array<Json> => [])
        const plain = yield* open()
        for (const request of requests) yield* plain.send({ ...request, loopwire_request_id: `ref_${request.loopwire_request_id}` })
        const expected: Array<Json> = []
        while (reference.flat().filter((e) => terminal.has(e.type)).length < lanes.length) {
          const event = yield* plain.next
          expected.push(event)
          reference.forEach((r) => r.length = 0)
          assign(expected, lanes.map((_, i) => i), reference)
        }

        // Cut before one of the run's frames (5 per response), so the connection is always lost.
        const frames = cut % expected.length
        const first = yield* open({ faults: { cutAfterFrames: { direction: "inbound", frames } } })
        for (const request of requests) yield* first.send(request)
        const got = lanes.map((): Array<Json> => [])
        assign(yield* first.rest, lanes.map((_, i) => i), got)
        yield* log.suspended
        yield* TestClock.adjust(delay)
        const second = yield* open({ token: first.headers[ResumeHeaders.token]! })
        assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
        const unfinished = lanes.map((_, i) => i).filter((i) => !got[i]!.some((e) => terminal.has(e.type)))
        for (const i of unfinished) {
          yield* second.send(resume(`lwr_${i}`, got[i]!.at(-1)?.sequence_number ?? -1))
        }
        const resumed: Array<Json> = []
        for (let n = 0; n < unfinished.length; n++) resumed.push(...(yield* second.untilDone))
        assign(resumed, unfinished, got)
        for (let i = 0; i < lanes.length; i++) {
          assert.deepStrictEqual(got[i]!.map((e) => e.sequence_number), got[i]!.map((_, k) => k))
          assert.deepStrictEqual(withoutIds(got[i]!), withoutIds(reference[i]!))
        }
        assert.strictEqual(backend.turns.length, 2 * lanes.length)
      }).pipe(Effect.provide(gateway(backend, log)), Effect.scoped)
    },
    { fastCheck: { numRuns: 30 } }
  )
})
