/**
 * Reconnect-with-resume against the real gateway over loopback sockets (docs/resume.md): the TCP connection is cut
 * mid-response, the client reconnects with its token and resumes; and with `--redis`, a socket dropped on one
 * gateway process resumes on another while the first still runs the response.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { ResumeHeaders } from "@loopwire/protocol/Resume"
import * as Serve from "@loopwire/cli/Serve"
import * as Gateway from "@loopwire/server/Gateway"
import { ModelBackend, type ModelTurn } from "@loopwire/server/ModelBackend"
import * as ResumeLog from "@loopwire/server/ResumeLog"
import type { Connection } from "@loopwire/transport/Connection"
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { ConfigProvider, Duration, Effect, Exit, Layer, Queue, Schedule, Stream } from "effect"
import type { Scope } from "effect"
import * as CutProxy from "@loopwire/testkit/CutProxy"
import * as TestRedis from "../packages/server/test/helpers/redisServer.js"

const key = "sk-resume"
const terminal = new Set(["response.completed", "response.incomplete", "response.failed", "error"])
type Json = { readonly [key: string]: any }

/** A model that streams its answer as 30 small deltas, `delay` apart, and counts its generations. */
const slowModel = (delay: Duration.DurationInput = "4 millis") => {
  const turns: Array<ModelTurn> = []
  let active = 0
  const generate = (turn: ModelTurn) => {
    turns.push(turn)
    active++
    const id = `msg_${turn.response.id}`
    const words = Array.from({ length: 30 }, (_, i) => `w${i} `)
    const text = words.join("")
    const item = { type: "message", id, role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] }
    const head: Array<Json> = [
      { type: "response.created", response: turn.response },
      { type: "response.in_progress", response: turn.response },
      { type: "response.output_item.added", output_index: 0, item: { ...item, status: "in_progress", content: [] } },
      { type: "response.content_part.added", item_id: id, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } }
    ]
    const tail: Array<Json> = [
      { type: "response.output_text.done", item_id: id, output_index: 0, content_index: 0, text, logprobs: [] },
      { type: "response.content_part.done", item_id: id, output_index: 0, content_index: 0, part: item.content[0] },
      { type: "response.output_item.done", output_index: 0, item },
      { type: "response.completed", response: { ...turn.response, status: "completed", output: [item], usage: { input_tokens: 1, output_tokens: 30, total_tokens: 31 } } }
    ]
    const deltas = Stream.fromIterable(words).pipe(
      Stream.mapEffect((delta) =>
        Effect.as(Effect.sleep(delay), { type: "response.output_text.delta", item_id: id, output_index: 0, content_index: 0, delta, logprobs: [] })
      )
    )
    return Stream.concat(Stream.concat(Stream.fromIterable(head), deltas), Stream.fromIterable(tail)).pipe(
      Stream.ensuring(Effect.sync(() => active--))
    ) as Stream.Stream<any>
  }
  return {
    turns,
    get active() {
      return active
    },
    layer: Layer.succeed(ModelBackend, { supportsSteering: false, generate })
  }
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
  return { layer, suspended: Queue.take(suspended) }
}

interface Client {
  readonly connection: Connection
  readonly headers: Readonly<Record<string, string>>
  readonly send: (event: Json) => Effect.Effect<void>
  readonly next: Effect.Effect<Json>
  readonly untilDone: Effect.Effect<ReadonlyArray<Json>>
}

const dial = (
  baseUrl: string,
  options: { readonly token?: string | undefined; readonly faults?: FaultInjection.Faults } = {}
): Effect.Effect<Client, never, Scope.Scope> =>
  Effect.gen(function*() {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` }
    if (options.token !== undefined) headers[ResumeHeaders.token] = options.token
    const raw = yield* Effect.acquireRelease(
      Effect.orDie(WebSocket.connect(`${baseUrl.replace(/^http/, "ws")}/v1/responses`, { headers })),
      (connection) => connection.close(1000)
    )
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

const create = (input: string, requestId: string): Json => ({
  type: "response.create",
  model: "m",
  input,
  loopwire_request_id: requestId
})

const normalize = (events: ReadonlyArray<Json>) =>
  events.map((event) =>
    JSON.parse(
      JSON.stringify(event)
        .replace(/resp_[0-9a-f]{32}/g, "resp_X")
        .replace(/"(created|completed)_at":\d+/g, "\"$1_at\":0")
    )
  )

const gatewayLayer = (
  backend: { readonly layer: Layer.Layer<ModelBackend> },
  log?: Layer.Layer<ResumeLog.ResumeLog> | undefined
) =>
  Gateway.layerLocal({
    config: { port: 0 },
    auth: { _tag: "StaticKeys", keys: [[key, "tenant-e2e"]] },
    backend: backend.layer,
    resumeLog: log
  })

describe("resume over real sockets (one gateway)", () => {
  for (const cutAfter of [0, 3, 9, 21]) {
    it.live(`the TCP connection cut after ${cutAfter} events, resumed: the fault-free transcript, one generation`, () => {
      const model = slowModel()
      const log = spiedLog()
      return Effect.gen(function*() {
        const baseUrl = yield* Gateway.baseUrl
        const reference = yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* dial(baseUrl)
          yield* client.send(create("hello", "lwr_ref"))
          return yield* client.untilDone
        }))
        assert.strictEqual(model.turns.length, 1)

        const first = yield* dial(baseUrl, { faults: { cutAfterFrames: { direction: "inbound", frames: cutAfter } } })
        const token = first.headers[ResumeHeaders.token]!
        assert.match(token, /^[A-Za-z0-9_-]{43}$/)
        yield* first.send(create("hello", "lwr_1"))
        const seen: Array<Json> = []
        for (let i = 0; i < cutAfter; i++) seen.push(yield* first.next)
        yield* first.connection.closed
        yield* log.suspended

        const second = yield* dial(baseUrl, { token })
        assert.strictEqual(second.headers[ResumeHeaders.resumed], "1")
        const last = seen.length === 0 ? -1 : seen.at(-1)!.sequence_number
        yield* second.send({ type: "loopwire.resume", loopwire_request_id: "lwr_1", starting_after: last })
        const rest = yield* second.untilDone
        const transcript = [...seen, ...rest]
        assert.deepStrictEqual(transcript.map((e) => e.sequence_number), reference.map((e) => e.sequence_number))
        assert.deepStrictEqual(normalize(transcript), normalize(reference))
        assert.strictEqual(model.turns.length, 2)
      }).pipe(Effect.provide(gatewayLayer(model, log.layer)), Effect.scoped)
    })
  }

  it.live("a client that never uses the extension sees the standard protocol; the 101 headers are extra", () => {
    const model = slowModel()
    return Effect.gen(function*() {
      const baseUrl = yield* Gateway.baseUrl
      const client = yield* dial(baseUrl)
      assert.isString(client.headers[ResumeHeaders.token])
      assert.strictEqual(client.headers[ResumeHeaders.grace], "60000")
      yield* client.send({ type: "response.create", model: "m", input: "hi" })
      const events = yield* client.untilDone
      assert.deepStrictEqual(events.map((e) => e.sequence_number), events.map((_, i) => i))
      assert.isTrue(events.every((e) => !Object.keys(e).some((k) => k.startsWith("loopwire"))))
    }).pipe(Effect.provide(gatewayLayer(model)), Effect.scoped)
  })
})

/** Parses `loopwire serve` flags as the command would. */
const parseServe = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let parsed: Serve.ServeOptions | undefined
    const probe = Command.make("serve", Serve.options, (o) => Effect.sync(() => {
      parsed = o
    }))
    yield* Command.run(probe, { name: "loopwire", version: "0.0.0" })(["node", "serve", ...args])
    return parsed!
  }).pipe(Effect.provide(NodeContext.layer))

/** One gateway process as `loopwire serve --redis URL --port 0` builds it, with `model` as its backend. */
const servedProcess = (redisUrl: string, prefix: string, model: { readonly layer: Layer.Layer<ModelBackend> }) =>
  Effect.gen(function*() {
    const options = yield* parseServe(["--port", "0", "--redis", redisUrl, "--api-keys", `${key}:tenant-e2e`])
    const services = Layer.merge(Serve.layer(options), model.layer)
    const context = yield* Layer.build(Gateway.layer.pipe(Layer.provideMerge(services), Layer.provide(NodeContext.layer)))
    return yield* Effect.provide(Gateway.baseUrl, context)
  }).pipe(Effect.withConfigProvider(configProvider(prefix)))

const configProvider = (prefix: string) => ConfigProvider.fromMap(new Map([["LOOPWIRE_REDIS_PREFIX", prefix]]))

TestRedis.describe("resume across two gateway processes sharing Redis (--redis)", () => {
  it.live("a socket dropped on A resumes on B while A still runs the response", () => {
    // Slow enough (30 deltas, 20 ms apart) that the resume lands while A still generates.
    const modelA = slowModel("20 millis")
    const modelB = slowModel("20 millis")
    return Effect.scoped(Effect.gen(function*() {
      const redis = yield* TestRedis.start
      const prefix = TestRedis.uniquePrefix("resume-e2e")
      const a = yield* servedProcess(redis.url, prefix, modelA)
      const b = yield* servedProcess(redis.url, prefix, modelB)

      const reference = yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* dial(a)
        yield* client.send(create("hello", "lwr_ref"))
        return yield* client.untilDone
      }))

      const first = yield* dial(a, { faults: { cutAfterFrames: { direction: "inbound", frames: 6 } } })
      const token = first.headers[ResumeHeaders.token]!
      yield* first.send(create("hello", "lwr_1"))
      const seen: Array<Json> = []
      for (let i = 0; i < 6; i++) seen.push(yield* first.next)
      yield* first.connection.closed
      // B claims as soon as A has seen the drop (a real client backs off and retries the same way).
      const second = yield* dial(b, { token }).pipe(
        Effect.filterOrFail((client) => client.headers[ResumeHeaders.resumed] === "1", () => "not yet"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.compose(Schedule.recurs(100))))
      )
      assert.strictEqual(modelA.active, 1, "A still runs the response")
      yield* second.send({ type: "loopwire.resume", loopwire_request_id: "lwr_1", starting_after: seen.at(-1)!.sequence_number })
      const rest = yield* second.untilDone
      assert.deepStrictEqual(normalize([...seen, ...rest]), normalize(reference))
      // A generated both responses; B none: the resumed one was followed, not generated again.
      assert.strictEqual(modelA.turns.length, 2)
      assert.strictEqual(modelB.turns.length, 0)
      // A re-sent create of the lost connection is answered from the shared log by B, not generated.
      yield* second.send(create("hello", "lwr_1"))
      assert.deepStrictEqual(normalize(yield* second.untilDone), normalize(reference))
      assert.strictEqual(modelB.turns.length, 0)
    }))
  })
})

/** `dial` through a `CutProxy` in front of `baseUrl`: the `index`-th connection is cut after `plan(index)` bytes. */
const proxied = (baseUrl: string, plan: (index: number) => number | undefined) =>
  Effect.map(
    Effect.orDie(CutProxy.make({ target: { host: "127.0.0.1", port: Number(new URL(baseUrl).port) }, plan })),
    (proxy) => ({ proxy, url: `http://127.0.0.1:${proxy.port}` })
  )

/** The fault-free transcript of `create("hello")`. */
const referenceRun = (baseUrl: string) =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* dial(baseUrl)
    yield* client.send(create("hello", "lwr_ref"))
    return yield* client.untilDone
  }))

/**
 * The double cut (issue 16, item 1): the first connection is cut after `firstCut` events of a response; the
 * reconnect presenting its token is cut after `secondCut` bytes of the 101 (it never learns its new token); the
 * next reconnect presents the first token again. Returns the reassembled transcript.
 */
const doubleCut = (direct: string, viaProxy: string, firstCut: number, requestId = "lwr_1") =>
  Effect.gen(function*() {
    const first = yield* dial(direct, { faults: { cutAfterFrames: { direction: "inbound", frames: firstCut } } })
    const token = first.headers[ResumeHeaders.token]!
    yield* first.send(create("hello", requestId))
    const seen: Array<Json> = []
    for (let i = 0; i < firstCut; i++) seen.push(yield* first.next)
    yield* first.connection.closed
    const cutReconnect = yield* Effect.exit(Effect.scoped(dial(viaProxy, { token })))
    assert.isTrue(Exit.isFailure(cutReconnect), "the reconnect whose 101 was cut fails")
    // The client never learned the second token: it presents the first again (backing off until the gateway has
    // seen the cut connections drop).
    const third = yield* dial(direct, { token }).pipe(
      Effect.filterOrFail((client) => client.headers[ResumeHeaders.resumed] === "1", () => "not resumed"),
      Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.compose(Schedule.recurs(100))))
    )
    const last = seen.length === 0 ? -1 : seen.at(-1)!.sequence_number
    yield* third.send({ type: "loopwire.resume", loopwire_request_id: requestId, starting_after: last })
    return [...seen, ...(yield* third.untilDone)]
  })

describe("a reconnect cut inside its 101 does not lose the resume (issue 16)", () => {
  for (const [firstCut, secondCut] of [[3, 0], [9, 100], [21, 230], [0, 180]] as const) {
    it.live(`first cut after ${firstCut} events, then the 101 cut after ${secondCut} bytes: resumed once`, () => {
      const model = slowModel()
      return Effect.gen(function*() {
        const baseUrl = yield* Gateway.baseUrl
        const { proxy, url } = yield* proxied(baseUrl, () => secondCut)
        const reference = yield* referenceRun(baseUrl)
        const transcript = yield* doubleCut(baseUrl, url, firstCut)
        assert.strictEqual(proxy.cut(), 1)
        assert.deepStrictEqual(normalize(transcript), normalize(reference))
        assert.strictEqual(model.turns.length, 2, "no extra generation")
      }).pipe(Effect.provide(gatewayLayer(model)), Effect.scoped)
    })
  }

  // A run of random double cuts (seeded; LOOPWIRE_DOUBLE_CUT_RUNS for a longer run): the first cut after any
  // number of the 34 events, the second anywhere inside the 101.
  const runs = Number(process.env["LOOPWIRE_DOUBLE_CUT_RUNS"] ?? "6")
  it.live(`${runs} random double cuts: every one resumed, the fault-free transcript, one generation each`, () => {
    const model = slowModel("1 millis")
    let seed = 16
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    }
    // The resuming 101 is 248 bytes (its three resume headers included): cut after 0 to 247 of them.
    const plan = Array.from({ length: runs }, () => ({ firstCut: random(34), secondCut: random(248) }))
    return Effect.gen(function*() {
      const baseUrl = yield* Gateway.baseUrl
      const { proxy, url } = yield* proxied(baseUrl, (index) => plan[index]?.secondCut)
      const reference = yield* referenceRun(baseUrl)
      for (const [i, { firstCut, secondCut }] of plan.entries()) {
        const transcript = yield* doubleCut(baseUrl, url, firstCut, `lwr_run${i}`)
        assert.deepStrictEqual(normalize(transcript), normalize(reference), `run ${i}: ${firstCut} events, ${secondCut} bytes`)
        assert.strictEqual(model.turns.length, i + 2, `run ${i}: no extra generation`)
      }
      assert.strictEqual(proxy.cut(), runs)
    }).pipe(Effect.provide(gatewayLayer(model)), Effect.scoped)
  }, { timeout: 600_000 })

})

TestRedis.describe("a reconnect cut inside its 101 does not lose the resume, across processes (issue 16)", () => {
  it.live("across two processes sharing Redis: cut on A, the 101 of B cut, then resumed on A", () => {
    const modelA = slowModel("20 millis")
    const modelB = slowModel("20 millis")
    return Effect.scoped(Effect.gen(function*() {
      const redis = yield* TestRedis.start
      const prefix = TestRedis.uniquePrefix("double-cut")
      const a = yield* servedProcess(redis.url, prefix, modelA)
      const b = yield* servedProcess(redis.url, prefix, modelB)
      const { url } = yield* proxied(b, () => 120)
      const reference = yield* referenceRun(a)
      const transcript = yield* doubleCut(a, url, 6)
      assert.deepStrictEqual(normalize(transcript), normalize(reference))
      assert.strictEqual(modelA.turns.length + modelB.turns.length, 2, "no extra generation")
    }))
  })
})
