/**
 * The gateway against real clients over loopback: the official `openai` npm SDK (WebSocket mode through
 * `ResponsesWS` and its lane session, HTTP mode through `client.responses.create`) and a Codex-style raw socket.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Auth from "@loopwire/server/Auth"
import * as Gateway from "@loopwire/server/Gateway"
import * as GatewayConfig from "@loopwire/server/GatewayConfig"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import * as Scenario from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as StateCache from "@loopwire/server/StateCache"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import { ResponsesWebSocketSession } from "openai/lib/responses/responses-websocket-session"
import { WebSocketError } from "openai/resources/responses/internal-base"
import { ResponsesWS } from "openai/resources/responses/ws"
import * as WS from "ws"

type Json = { readonly [key: string]: any }

const key = "sk-e2e"

// Model turn n of any chain answers with turns[n]: a tool call, then text, then more text.
const scenario = Either.getOrThrow(Scenario.decodeUnknown({
  name: "e2e",
  fallback_text: "No more turns.",
  turns: [
    { output: [{ type: "function_call", name: "get_weather", arguments: { city: "Paris" } }] },
    { output: [{ type: "message", text: "It is sunny in Paris." }] },
    { output: [{ type: "message", text: "Anything else?" }] }
  ]
}))

const startGateway = (config: Partial<GatewayConfig.GatewayConfigShape> = {}) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Gateway.layer.pipe(Layer.provide(Layer.mergeAll(
        GatewayConfig.layer({ port: 0, ...config }),
        Auth.layer({ _tag: "StaticKeys", keys: [[key, "tenant-e2e"]] }),
        ScriptedBackend.layer({ scenario }),
        StateCache.layer(),
        ResponseStore.layerMemory()
      )))
    )
    const url = yield* Effect.provide(Gateway.baseUrl, context)
    return url
  })

const sdk = (url: string) => new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 })

/** A ResponsesWS closed with the scope; its 'error' events are recorded (an unhandled one would reject). */
const openWs = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const ws = new ResponsesWS(sdk(url))
      const errors: Array<WebSocketError> = []
      ws.on("error", (error) => errors.push(error))
      return { ws, errors }
    }),
    ({ ws }) => Effect.sync(() => ws.close())
  )

const terminalTypes = new Set(["response.completed", "response.failed", "response.incomplete", "error"])

/** The events of the next response (through its terminal event or error frame) seen by `ws`. */
const nextResponse = (ws: ResponsesWS) =>
  Effect.promise(() =>
    new Promise<Array<Json>>((resolve) => {
      const events: Array<Json> = []
      const onEvent = (event: Json) => {
        events.push(event)
        if (terminalTypes.has(event.type)) {
          ws.off("event", onEvent)
          resolve(events)
        }
      }
      ws.on("event", onEvent)
    })
  )

const last = (events: ReadonlyArray<Json>) => events[events.length - 1]!

const userText = (text: string) => [{ role: "user" as const, content: text }]

describe("gateway with the official openai SDK", () => {
  it.live("a two-turn chain with previous_response_id, and a function-call round trip", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway()
      const { errors, ws } = yield* openWs(url)
      const tools = [{
        type: "function" as const,
        name: "get_weather",
        parameters: { type: "object", properties: { city: { type: "string" } } },
        strict: false
      }]

      ws.send({ type: "response.create", model: "gpt-test", input: userText("Weather in Paris?"), tools, store: false })
      const first = yield* nextResponse(ws)
      assert.deepStrictEqual(first.slice(0, 2).map((e) => e.type), ["response.created", "response.in_progress"])
      assert.isTrue(first.every((e, i) => e.sequence_number === i))
      const firstResponse = last(first).response
      assert.strictEqual(last(first).type, "response.completed")
      const call = firstResponse.output[0]
      assert.strictEqual(call.type, "function_call")
      assert.strictEqual(call.name, "get_weather")
      assert.deepStrictEqual(JSON.parse(call.arguments), { city: "Paris" })
      assert.isTrue(first.some((e) => e.type === "response.function_call_arguments.done"))

      ws.send({
        type: "response.create",
        model: "gpt-test",
        previous_response_id: firstResponse.id,
        input: [{ type: "function_call_output", call_id: call.call_id, output: "{\"sky\":\"clear\"}" }],
        tools,
        store: false
      })
      const second = yield* nextResponse(ws)
      const secondResponse = last(second).response
      assert.strictEqual(secondResponse.previous_response_id, firstResponse.id)
      assert.strictEqual(secondResponse.output[0].content[0].text, "It is sunny in Paris.")
      const deltas = second.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("")
      assert.strictEqual(deltas, "It is sunny in Paris.")

      // Turn three continues the same chain with a plain user message.
      ws.send({
        type: "response.create",
        model: "gpt-test",
        previous_response_id: secondResponse.id,
        input: userText("Thanks"),
        store: false
      })
      assert.strictEqual(last(yield* nextResponse(ws)).response.output[0].content[0].text, "Anything else?")
      assert.strictEqual(errors.length, 0)
    })))

  it.live("error frames reach the SDK's 'error' listener with the documented codes", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway()
      const { errors, ws } = yield* openWs(url)
      ws.send({ type: "response.create", model: "m", previous_response_id: "resp_gone", input: [], store: false })
      const [frame] = yield* nextResponse(ws)
      assert.strictEqual(frame!.type, "error")
      assert.strictEqual(errors.length, 1)
      assert.instanceOf(errors[0], WebSocketError)
      assert.strictEqual(errors[0]!.error?.type, "error")
      assert.strictEqual((errors[0]!.error as Json).error.code, "previous_response_not_found")
      assert.strictEqual((errors[0]!.error as Json).status, 400)

      ws.send({ type: "response.create", model: "m", input: "x", stream_id: "no spaces allowed" } as never)
      yield* nextResponse(ws)
      assert.strictEqual((errors[1]!.error as Json).error.code, "invalid_stream_id")

      ws.send({ type: "response.create", model: "m", input: "x", background: true })
      yield* nextResponse(ws)
      assert.strictEqual((errors[2]!.error as Json).error.param, "background")

      // Still usable afterwards.
      ws.send({ type: "response.create", model: "m", input: "hello" })
      assert.strictEqual(last(yield* nextResponse(ws)).type, "response.completed")
    })))

  it.live("lanes through ResponsesWebSocketSession: concurrent chains, stream_id echoed, lane errors", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway()
      const { ws } = yield* openWs(url)
      // The session sends straight to the socket, so wait until it is open.
      yield* Effect.promise(() =>
        new Promise<void>((resolve) => {
          if (ws.socket.readyState === WS.WebSocket.OPEN) resolve()
          else ws.socket.once("open", () => resolve())
        })
      )
      const session = new ResponsesWebSocketSession(ws, {
        maxLanes: 8,
        maxBufferedEvents: 10_000,
        maxBufferedBytes: 16 * 1024 * 1024
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => session.close()))
      const alpha = session.lane("alpha")
      const beta = session.lane("beta")
      alpha.create({ model: "m", input: userText("alpha question"), store: false })
      beta.create({ model: "m", input: userText("beta question"), store: false })
      const [a1, b1] = yield* Effect.promise(() => Promise.all([alpha.finalResponse(), beta.finalResponse()]))
      assert.strictEqual(a1.status, "completed")
      assert.strictEqual(b1.status, "completed")
      assert.strictEqual(a1.output[0]!.type, "function_call")
      assert.notStrictEqual(a1.id, b1.id)

      // Each lane continues its own chain.
      const callOf = (r: typeof a1) => (r.output[0] as Json).call_id as string
      alpha.create({
        model: "m",
        previous_response_id: a1.id,
        input: [{ type: "function_call_output", call_id: callOf(a1), output: "1" }],
        store: false
      })
      beta.create({
        model: "m",
        previous_response_id: b1.id,
        input: [{ type: "function_call_output", call_id: callOf(b1), output: "2" }],
        store: false
      })
      const [a2, b2] = yield* Effect.promise(() => Promise.all([alpha.finalResponse(), beta.finalResponse()]))
      assert.strictEqual((a2.output[0] as Json).content[0].text, "It is sunny in Paris.")
      assert.strictEqual(b2.previous_response_id, b1.id)

      // A lane-scoped error frame fails that lane's finalResponse with the documented code.
      const gamma = session.lane("gamma")
      gamma.create({ model: "m", previous_response_id: "resp_nowhere", input: [], store: false })
      const failure = yield* Effect.promise(() => gamma.finalResponse().then(() => undefined, (e: unknown) => e))
      assert.instanceOf(failure, WebSocketError)
      assert.strictEqual(((failure as WebSocketError).error as Json).error.code, "previous_response_not_found")
      assert.strictEqual(((failure as WebSocketError).error as Json).stream_id, "gamma")
    })))

  it.live("HTTP mode through client.responses.create: JSON and SSE", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway()
      const client = sdk(url)
      const first = yield* Effect.promise(() => client.responses.create({ model: "m", input: "Weather?" }))
      assert.strictEqual(first.status, "completed")
      assert.strictEqual(first.output[0]!.type, "function_call")
      const call = first.output[0] as Json

      const stream = yield* Effect.promise(() =>
        client.responses.create({
          model: "m",
          previous_response_id: first.id,
          input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }],
          stream: true
        })
      )
      const events: Array<Json> = []
      yield* Effect.promise(async () => {
        for await (const event of stream) events.push(event)
      })
      assert.strictEqual(events[0]!.type, "response.created")
      const done = last(events)
      assert.strictEqual(done.type, "response.completed")
      assert.strictEqual(done.response.output[0].content[0].text, "It is sunny in Paris.")

      const failure = yield* Effect.promise(() =>
        client.responses.create({ model: "m", previous_response_id: "resp_unknown", input: "x" }).then(
          () => undefined,
          (e: unknown) => e
        )
      )
      assert.instanceOf(failure, OpenAI.BadRequestError)
      assert.strictEqual((failure as InstanceType<typeof OpenAI.BadRequestError>).code, "previous_response_not_found")

      const unauthorized = yield* Effect.promise(() =>
        new OpenAI({ apiKey: "sk-wrong", baseURL: `${url}/v1`, maxRetries: 0 }).responses.create({ model: "m", input: "x" })
          .then(() => undefined, (e: unknown) => e)
      )
      assert.instanceOf(unauthorized, OpenAI.AuthenticationError)
    })))
})

describe("steering with the official openai SDK", () => {
  it.live("response.steer on a running response: accepted, steered, and an automatic successor", () =>
    Effect.scoped(Effect.gen(function*() {
      const steerable = Either.getOrThrow(Scenario.decodeUnknown({
        turns: [
          {
            output: [{ type: "message", text: "Working on the first part." }, { type: "message", text: "Second." }],
            // Slow enough that the steer always arrives before the second item starts (it is polled there).
            latency: { time_to_first_token_ms: 300, delta_delay_ms: 50, chars_per_delta: 4 }
          },
          { output: [{ type: "message", text: "Switching to what you asked." }] }
        ]
      }))
      const context = yield* Layer.build(Gateway.layerLocal({ config: { port: 0 }, scenario: steerable }))
      const url = yield* Effect.provide(Gateway.baseUrl, context)
      const { errors, ws } = yield* openWs(url)
      const events: Array<Json> = []
      const done = Effect.promise(() =>
        new Promise<void>((resolve) => {
          ws.on("event", (event: Json) => {
            events.push(event)
            if (event.type === "response.created" && events.filter((e) => e.type === "response.created").length === 1) {
              ws.send({ type: "response.steer", previous_response_id: event.response.id, input: "Do the other thing." })
            }
            if (event.type === "response.completed") resolve()
          })
        })
      )
      ws.send({ type: "response.create", model: "m", input: "Start.", stream_id: "main" })
      yield* done
      const kinds = events.map((e) => e.type)
      assert.include(kinds, "response.steer.accepted")
      const steered = events.find((e) => e.type === "response.incomplete")!
      assert.strictEqual(steered.response.incomplete_details.reason, "steered")
      const successor = events.filter((e) => e.type === "response.created")[1]!
      assert.strictEqual(successor.response.previous_response_id, steered.response.id)
      const completed = events[events.length - 1]!
      assert.strictEqual(completed.response.output[0].content[0].text, "Switching to what you asked.")
      assert.isTrue(events.every((e) => e.stream_id === "main"))
      assert.strictEqual(errors.length, 0)
    })))
})

/** A raw socket speaking like Codex: Bearer + beta header, `stream: true`, `client_metadata`, full or delta. */
const codexSocket = (url: string, apiKey = key) =>
  Effect.acquireRelease(
    Effect.async<{ ws: WS.WebSocket; inbox: Array<Json>; waiters: Array<() => void> } | { status: number }>(
      (resume) => {
        const ws = new WS.WebSocket(`${url.replace("http", "ws")}/v1/responses`, {
          headers: {
            authorization: `Bearer ${apiKey}`,
            "openai-beta": "responses_websockets=2026-02-06",
            originator: "codex_cli_rs"
          }
        })
        const inbox: Array<Json> = []
        const waiters: Array<() => void> = []
        ws.on("error", () => {})
        ws.on("unexpected-response", (_request, response) => {
          resume(Effect.succeed({ status: response.statusCode ?? 0 }))
          response.resume()
          ws.terminate()
        })
        ws.on("message", (data) => {
          inbox.push(JSON.parse(String(data)))
          waiters.splice(0).forEach((wake) => wake())
        })
        ws.on("open", () => resume(Effect.succeed({ ws, inbox, waiters })))
      }
    ),
    (socket) => Effect.sync(() => "ws" in socket && socket.ws.close())
  )

const untilTerminal = (socket: { inbox: Array<Json>; waiters: Array<() => void> }) =>
  Effect.promise(async () => {
    const events: Array<Json> = []
    for (;;) {
      while (socket.inbox.length > 0) {
        const event = socket.inbox.shift()!
        events.push(event)
        if (terminalTypes.has(event.type)) return events
      }
      await new Promise<void>((wake) => socket.waiters.push(wake))
    }
  })

describe("gateway with a Codex-style client", () => {
  it.live("prewarm, empty delta from the prewarm, tool output continuation, then a full resend after reconnect", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway()
      const socket = yield* codexSocket(url)
      assert.isTrue("ws" in socket)
      if (!("ws" in socket)) return
      const tools = [{ type: "function", name: "get_weather", parameters: { type: "object" }, strict: false }]
      const settings = {
        model: "gpt-codex",
        instructions: "You are a coding agent.",
        tools,
        tool_choice: "auto",
        parallel_tool_calls: false,
        store: false,
        stream: true,
        include: [],
        prompt_cache_key: "conversation-1",
        client_metadata: { "x-codex-window-id": "w-1", traceparent: "00-abc-def-01" }
      }
      const history: Array<Json> = [{
        type: "message",
        role: "user",
        content: [{ type: "input_text", text: "What's the weather in Paris?" }]
      }]
      const send = (body: Json) => Effect.sync(() => socket.ws.send(JSON.stringify({ type: "response.create", ...body })))

      // 1. Prewarm: the full request with generate:false.
      yield* send({ ...settings, input: history, generate: false })
      const warm = yield* untilTerminal(socket)
      const prewarm = last(warm).response
      assert.strictEqual(last(warm).type, "response.completed")
      assert.deepStrictEqual(prewarm.output, [])

      // 2. The real request as an empty delta on the prewarm.
      yield* send({ ...settings, previous_response_id: prewarm.id, input: [] })
      const turn1 = last(yield* untilTerminal(socket)).response
      assert.strictEqual(turn1.previous_response_id, prewarm.id)
      const call = turn1.output[0]
      assert.strictEqual(call.type, "function_call")
      history.push(...turn1.output)

      // 3. The tool output as a delta.
      const toolOutput = { type: "function_call_output", call_id: call.call_id, output: "sunny, 21C" }
      history.push(toolOutput)
      yield* send({ ...settings, previous_response_id: turn1.id, input: [toolOutput] })
      const turn2 = last(yield* untilTerminal(socket)).response
      assert.strictEqual(turn2.output[0].content[0].text, "It is sunny in Paris.")
      history.push(...turn2.output)

      // 4. Reconnect: the cache died with the socket, so a delta fails and Codex resends everything.
      socket.ws.close()
      const again = yield* codexSocket(url)
      if (!("ws" in again)) return assert.fail("reconnect refused")
      again.ws.send(JSON.stringify({ type: "response.create", ...settings, previous_response_id: turn2.id, input: [] }))
      const [notFound] = yield* untilTerminal(again)
      assert.strictEqual(notFound!.error.code, "previous_response_not_found")
      history.push({ type: "message", role: "user", content: [{ type: "input_text", text: "Thanks!" }] })
      again.ws.send(JSON.stringify({ type: "response.create", ...settings, input: history }))
      const resent = last(yield* untilTerminal(again))
      assert.strictEqual(resent.type, "response.completed", JSON.stringify(resent))
      const turn3 = resent.response
      assert.strictEqual(turn3.previous_response_id, null)
      // Two model responses were in the resent history, so the script continues at its third turn.
      assert.strictEqual(turn3.output[0].content[0].text, "Anything else?")
    })))

  it.live("426 mode refuses the upgrade (Codex falls back to HTTP) and a bad key gets a plain 401", () =>
    Effect.scoped(Effect.gen(function*() {
      const open = yield* startGateway()
      const unauthorized = yield* codexSocket(open, "sk-nope")
      assert.deepStrictEqual(unauthorized, { status: 401 })

      const closed = yield* startGateway({ rejectWebSocket: true })
      const refused = yield* codexSocket(closed)
      assert.deepStrictEqual(refused, { status: 426 })
      // The HTTP fallback works on the same server.
      const response = yield* Effect.promise(() => sdk(closed).responses.create({ model: "m", input: "fallback" }))
      assert.strictEqual(response.status, "completed")
    })))
})
