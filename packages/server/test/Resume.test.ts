import { assert, describe, it } from "@effect/vitest"
import { ResumeHeaders } from "@loopwire/protocol/Resume"
import type { Connection } from "@loopwire/transport/Connection"
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import * as Memory from "@loopwire/transport/Memory"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Auth from "../src/Auth.js"
import * as Gateway from "../src/Gateway.js"
import type { GatewayConfigShape } from "../src/GatewayConfig.js"
import * as ResumeLog from "../src/ResumeLog.js"
import { type Json, makeBackend, services, user } from "./fixtures.js"

const create = (fields: Json = {}): Json => ({ type: "response.create", model: "m", ...fields })
const terminal = new Set(["response.completed", "response.incomplete", "response.failed", "error"])

/** The in-memory ResumeLog, reporting each `suspend` (the gateway has seen the drop) on a queue. */
const spiedLog = (options: ResumeLog.Options = {}) => {
  const suspended = Effect.runSync(Queue.unbounded<string>())
  const layer = Layer.effect(
    ResumeLog.ResumeLog,
    Effect.map(ResumeLog.makeMemory(options), (log) => ({
      ...log,
      suspend: (session: ResumeLog.SessionRef) =>
        Effect.zipRight(log.suspend(session), Queue.offer(suspended, session.token))
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
    yield* connection.frames.pipe(
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
      untilDone
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
      yield* first.send(create({ input: [user("hello")], loopwire_request_id: "lwr_1" }))
      yield* first.next
      yield* first.connection.terminate
      yield* log.suspended
      assert.strictEqual(backend.running, 1)
      yield* TestClock.adjust("61 seconds")
      assert.strictEqual(backend.running, 0)
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
})
