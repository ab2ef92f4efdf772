import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Accumulator from "@loopwire/protocol/Accumulator"
import * as Events from "@loopwire/protocol/Events"
import type { InputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import type { ModelTurn, ServerEventBody } from "@loopwire/server/ModelBackend"
import * as UpstreamBackend from "@loopwire/server/UpstreamBackend"
import {
  Chunk,
  ConfigProvider,
  Duration,
  Effect,
  Either,
  FastCheck as fc,
  Fiber,
  Option,
  Redacted,
  Stream,
  TestClock
} from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Sse from "../src/internal/sse.js"

// A small upstream: answers POST /v1/responses with what the current test scripted, records what it received.
interface Received {
  readonly url: string | undefined
  readonly headers: http.IncomingHttpHeaders
  readonly body: Record<string, unknown>
}
type Answer = (res: http.ServerResponse) => void

const upstream = (answer: Answer) =>
  Effect.acquireRelease(
    Effect.async<{ readonly baseUrl: string; readonly received: Array<Received>; readonly server: http.Server }>((resume) => {
      const received: Array<Received> = []
      const server = http.createServer((req, res) => {
        let text = ""
        req.setEncoding("utf8")
        req.on("data", (chunk: string) => (text += chunk))
        req.on("end", () => {
          received.push({ url: req.url, headers: req.headers, body: JSON.parse(text) as Record<string, unknown> })
          answer(res)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ baseUrl: `http://127.0.0.1:${port}/v1`, received, server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const sseFrame = (event: { readonly type: string; readonly [key: string]: unknown }) =>
  `event: ${event.type}\r\ndata: ${JSON.stringify(event)}\r\n\r\n`

// Writes the frames in awkward pieces (mid-line, mid-CRLF) to exercise the incremental parser.
const streamFrames = (frames: ReadonlyArray<string>, pieceSize = 7): Answer => (res) => {
  res.writeHead(200, { "content-type": "text/event-stream" })
  const text = frames.join("")
  for (let i = 0; i < text.length; i += pieceSize) res.write(text.slice(i, i + pieceSize))
  res.end()
}

const user = (text: string): InputItem => ({ type: "message", role: "user", content: [{ type: "input_text", text }] })

const upstreamResponse: Response = {
  id: "resp_upstream_1",
  object: "response",
  created_at: 1_700_000_100,
  status: "completed",
  model: "gpt-test",
  previous_response_id: null,
  store: false,
  output: [
    {
      id: "msg_u1",
      type: "message",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text: "Checking the population.", annotations: [] }]
    },
    {
      id: "fc_u1",
      type: "function_call",
      status: "completed",
      call_id: "call_u1",
      name: "get_population",
      arguments: "{\"city\":\"Paris\"}"
    }
  ],
  usage: { input_tokens: 40, output_tokens: 12, total_tokens: 52 }
}

const history: ReadonlyArray<InputItem> = [
  user("What is the population of Paris?"),
  { type: "function_call", call_id: "call_0", name: "get_population", arguments: "{\"city\":\"Paris\"}" },
  { type: "function_call_output", call_id: "call_0", output: "2102650" }
]

const turn: ModelTurn = {
  response: {
    id: "resp_gateway_7",
    object: "response",
    created_at: 1_700_000_000,
    status: "in_progress",
    model: "gpt-test",
    output: [],
    previous_response_id: "resp_gateway_6",
    store: true
  },
  request: {
    type: "response.create",
    model: "gpt-test",
    previous_response_id: "resp_gateway_6",
    input: [history[2]!],
    instructions: "Be brief.",
    tools: [{ type: "function", name: "get_population", parameters: { type: "object" } }],
    store: true,
    stream: true,
    stream_id: "lane-1",
    generate: true,
    client_metadata: { window: "1" }
  },
  input: history,
  newInput: [history[2]!],
  turn: 1
}

const run = (baseUrl: string, options: Partial<UpstreamBackend.Options> = {}) =>
  Effect.gen(function*() {
    const backend = yield* UpstreamBackend.make({ baseUrl, apiKey: "sk-upstream", ...options })
    return yield* Effect.either(Effect.map(Stream.runCollect(backend.generate(turn)), Chunk.toReadonlyArray))
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))

const fold = (events: ReadonlyArray<ServerEventBody>) =>
  Either.getOrThrow(Accumulator.fold(events.map((event, i) => ({ ...event, sequence_number: i }))))

describe("UpstreamBackend", () => {
  it.scoped("replays the full context and maps the upstream SSE stream onto the gateway's response id", () =>
    Effect.gen(function*() {
      const frames = Events.sequence(Events.fromResponse(upstreamResponse, { chunkSize: 5 })).map(sseFrame)
      const server = yield* upstream(streamFrames([": keep-alive\n\n", ...frames, "data: [DONE]\n\n"]))
      const result = yield* run(server.baseUrl)
      const events = Either.getOrThrow(result)

      const request = server.received[0]!
      assert.strictEqual(request.url, "/v1/responses")
      assert.strictEqual(request.headers.authorization, "Bearer sk-upstream")
      assert.deepStrictEqual(request.body, {
        model: "gpt-test",
        instructions: "Be brief.",
        tools: [{ type: "function", name: "get_population", parameters: { type: "object" } }],
        input: history,
        stream: true,
        store: false
      })

      assert.strictEqual(events[0]!.type, "response.created")
      assert.strictEqual(events[events.length - 1]!.type, "response.completed")
      for (const event of events) {
        assert.isUndefined(event.sequence_number)
        assert.isUndefined(event.stream_id)
        if ("response" in event) {
          const response = event.response as Response
          assert.strictEqual(response.id, "resp_gateway_7")
          assert.strictEqual(response.previous_response_id, "resp_gateway_6")
          assert.strictEqual(response.store, true)
        }
      }
      const final = fold(events)
      assert.deepStrictEqual(final.output, upstreamResponse.output)
      assert.deepStrictEqual(final.usage, upstreamResponse.usage)
    }))

  it.scoped("synthesises response.created when the upstream starts without it, and stops at the terminal event", () =>
    Effect.gen(function*() {
      const all = Events.fromResponse(upstreamResponse)
      const frames = [{ type: "response.queued", response: { ...upstreamResponse, status: "queued", output: [] } }, ...all.slice(1)]
        .map(sseFrame)
      const server = yield* upstream(streamFrames([...frames, sseFrame({ type: "response.output_text.delta" })]))
      const events = Either.getOrThrow(yield* run(server.baseUrl, { model: "gpt-override", apiKey: undefined }))
      assert.deepStrictEqual(events.slice(0, 2).map((e) => e.type), ["response.created", "response.in_progress"])
      assert.deepStrictEqual(events[0], { type: "response.created", response: turn.response })
      assert.strictEqual(events[events.length - 1]!.type, "response.completed")
      assert.strictEqual(server.received[0]!.body.model, "gpt-override")
      assert.isUndefined(server.received[0]!.headers.authorization)
    }))

  it.scoped("accepts an upstream that answers with the final Response as JSON instead of SSE", () =>
    Effect.gen(function*() {
      const server = yield* upstream((res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(upstreamResponse))
      })
      const events = Either.getOrThrow(yield* run(server.baseUrl))
      assert.strictEqual(events[0]!.type, "response.created")
      const final = fold(events)
      assert.strictEqual(final.id, "resp_gateway_7")
      assert.deepStrictEqual(final.output, upstreamResponse.output)

      const broken = yield* upstream((res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ id: "x" }))
      })
      assert.strictEqual(Either.flip(yield* run(broken.baseUrl)).pipe(Either.getOrThrow).reason, "Protocol")
    }))

  it.scoped("times out (TestClock) when the upstream sends no headers, or stalls mid-stream", () =>
    Effect.gen(function*() {
      // Advances the test clock in bounded steps until the run finishes (its timers may start a little later).
      const settle = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
        Effect.gen(function*() {
          for (let i = 0; i < 20; i++) {
            if (Option.isSome(yield* Fiber.poll(fiber))) break
            yield* TestClock.adjust("10 seconds")
            yield* Effect.yieldNow()
          }
          return yield* Fiber.join(fiber)
        })
      let requested!: () => void
      const silentAnswered = new Promise<void>((resolve) => (requested = resolve))
      const silent = yield* upstream(() => requested())
      const first = yield* Effect.fork(run(silent.baseUrl, { idleTimeout: "30 seconds" }))
      yield* Effect.promise(() => silentAnswered)
      const noHeaders = Either.flip(yield* settle(first)).pipe(Either.getOrThrow)
      assert.strictEqual(noHeaders.reason, "Timeout")
      assert.include(noHeaders.message, "30s")

      let started!: () => void
      const stallStarted = new Promise<void>((resolve) => (started = resolve))
      const stalling = yield* upstream((res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write(sseFrame({ type: "response.created", response: { ...upstreamResponse, status: "in_progress", output: [] } }))
        started()
      })
      const second = yield* Effect.fork(run(stalling.baseUrl, { idleTimeout: "30 seconds" }))
      yield* Effect.promise(() => stallStarted)
      const stalled = Either.flip(yield* settle(second)).pipe(Either.getOrThrow)
      assert.strictEqual(stalled.reason, "Timeout")
    }))

  it.effect("layerConfig reads the upstream URL, key and model override", () =>
    Effect.gen(function*() {
      const options = yield* UpstreamBackend.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([
        ["LOOPWIRE_UPSTREAM_URL", "http://127.0.0.1:9/v1"],
        ["LOOPWIRE_UPSTREAM_API_KEY", "sk-x"],
        ["LOOPWIRE_UPSTREAM_MODEL", "gpt-x"]
      ]))))
      assert.strictEqual(options.baseUrl, "http://127.0.0.1:9/v1")
      assert.strictEqual(Redacted.value(options.apiKey as Redacted.Redacted), "sk-x")
      assert.strictEqual(options.model, "gpt-x")
      assert.isTrue(Duration.equals(Duration.decode(options.idleTimeout!), UpstreamBackend.defaultIdleTimeout))
      const missing = yield* Effect.either(
        UpstreamBackend.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      assert.isTrue(Either.isLeft(missing))
    }))

  it.scoped("maps an HTTP error answer to HttpStatus with the upstream's status and code", () =>
    Effect.gen(function*() {
      const server = yield* upstream((res) => {
        res.writeHead(429, { "content-type": "application/json" })
        const error = { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded", param: null }
        res.end(JSON.stringify({ error }))
      })
      const error = Either.flip(yield* run(server.baseUrl)).pipe(Either.getOrThrow)
      assert.strictEqual(error.reason, "HttpStatus")
      assert.strictEqual(error.status, 429)
      assert.strictEqual(error.code, "rate_limit_exceeded")
      assert.strictEqual(error.type, "requests")
      assert.include(error.message, "Rate limit reached")

      const plain = yield* upstream((res) => {
        res.writeHead(502)
        res.end("bad gateway")
      })
      const error502 = Either.flip(yield* run(plain.baseUrl)).pipe(Either.getOrThrow)
      assert.deepStrictEqual([error502.reason, error502.status, error502.code], ["HttpStatus", 502, null])
      assert.include(error502.message, "bad gateway")
    }))

  it.scoped("maps an unreachable upstream to Network", () =>
    Effect.gen(function*() {
      // Take a free port, then close it so nothing listens there.
      const port = yield* Effect.async<number>((resume) => {
        const probe = http.createServer()
        probe.listen(0, "127.0.0.1", () => {
          const { port } = probe.address() as AddressInfo
          probe.close(() => resume(Effect.succeed(port)))
        })
      })
      const error = Either.flip(yield* run(`http://127.0.0.1:${port}/v1`)).pipe(Either.getOrThrow)
      assert.strictEqual(error.reason, "Network")
    }))

  it.scoped("an upstream error event, a malformed event, or an early end fail the stream", () =>
    Effect.gen(function*() {
      const created = sseFrame({ type: "response.created", response: { ...upstreamResponse, status: "in_progress", output: [] } })
      const withError = yield* upstream(streamFrames([
        created,
        sseFrame({ type: "error", code: "server_error", message: "The model crashed", param: null, sequence_number: 1 })
      ]))
      const upstreamError = Either.flip(yield* run(withError.baseUrl)).pipe(Either.getOrThrow)
      assert.deepStrictEqual([upstreamError.reason, upstreamError.code], ["Upstream", "server_error"])
      assert.include(upstreamError.message, "The model crashed")

      const malformed = yield* upstream(streamFrames([created, "data: {not json\n\n"]))
      assert.strictEqual(Either.flip(yield* run(malformed.baseUrl)).pipe(Either.getOrThrow).reason, "Protocol")

      const invalid = yield* upstream(streamFrames([created, sseFrame({ type: "response.output_text.delta", delta: 3 })]))
      assert.strictEqual(Either.flip(yield* run(invalid.baseUrl)).pipe(Either.getOrThrow).reason, "Protocol")

      const early = yield* upstream(streamFrames([created]))
      const earlyError = Either.flip(yield* run(early.baseUrl)).pipe(Either.getOrThrow)
      assert.strictEqual(earlyError.reason, "Protocol")
      assert.include(earlyError.message, "terminal")
    }))
})

describe("SSE parser", () => {
  const parseAll = (pieces: ReadonlyArray<string>) => {
    let state = Sse.initial
    const events: Array<Sse.SseEvent> = []
    for (const piece of pieces) {
      const [next, out] = Sse.feed(state, piece)
      state = next
      events.push(...out)
    }
    return events
  }

  it("handles fields, comments, multi-line data and every line ending", () => {
    assert.deepStrictEqual(parseAll(["event: a\ndata: 1\n\n: comment\r\ndata:2\r\ndata:  3\r\n\r\nevent:b\rdata\r\r"]), [
      { event: "a", data: "1" },
      { event: undefined, data: "2\n 3" },
      { event: "b", data: "" }
    ])
    // An event without its blank line is not dispatched.
    assert.deepStrictEqual(parseAll(["data: x\n"]), [])
  })

  it("gives the same events however the text is split", () => {
    const text = "event: a\r\ndata: {\"k\":1}\r\n\r\n: c\n\ndata: x\ndata: y\n\nevent: z\rdata: w\r\r"
    const expected = parseAll([text])
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 8 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b)
        const pieces: Array<string> = []
        let from = 0
        for (const cut of points) {
          pieces.push(text.slice(from, cut))
          from = cut
        }
        pieces.push(text.slice(from))
        assert.deepStrictEqual(parseAll(pieces), expected)
      }),
      { numRuns: 300 }
    )
  })
})
