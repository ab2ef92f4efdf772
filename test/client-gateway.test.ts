/**
 * The client against the real Loopwire gateway over loopback sockets: delta rollouts, lanes and pooling,
 * the standard recovery ladder (cache eviction, cut sockets, 426 → HTTP/SSE).
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as AgentLoop from "@loopwire/client/AgentLoop"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ResponsesClient from "@loopwire/client/ResponsesClient"
import * as Session from "@loopwire/client/Session"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as Auth from "@loopwire/server/Auth"
import * as Gateway from "@loopwire/server/Gateway"
import * as GatewayConfig from "@loopwire/server/GatewayConfig"
import { ModelBackend, type ModelTurn } from "@loopwire/server/ModelBackend"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import * as StateCache from "@loopwire/server/StateCache"
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Ref, Schema, Stream } from "effect"

const key = "sk-e2e"

/** A deterministic model: calls `step` until it has seen `toolCalls` outputs, then answers with the task name. */
const makeModel = (toolCalls: number) => {
  const turns: Array<ModelTurn> = []
  const generate = (turn: ModelTurn) => {
    turns.push(turn)
    const outputs = turn.input.filter((i: any) => i.type === "function_call_output").length
    const first = turn.input.find((i: any) => i.role === "user") as any
    const task = typeof first?.content === "string" ? first.content : first?.content?.[0]?.text ?? ""
    const id = turn.response.id
    const item: any = outputs >= toolCalls
      ? {
        type: "message",
        id: `msg_${id}`,
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: `${task}: done after ${outputs}`, annotations: [] }]
      }
      : {
        type: "function_call",
        id: `fc_${id}`,
        call_id: `call_${task}_${outputs}`,
        name: "step",
        arguments: JSON.stringify({ n: outputs, task }),
        status: "completed"
      }
    const events: Array<any> = [
      { type: "response.created", response: turn.response },
      { type: "response.in_progress", response: turn.response },
      { type: "response.output_item.added", output_index: 0, item: { ...item, status: "in_progress", ...(item.type === "message" ? { content: [] } : { arguments: "" }) } },
      ...(item.type === "message"
        ? [
          { type: "response.content_part.added", item_id: item.id, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } },
          { type: "response.output_text.delta", item_id: item.id, output_index: 0, content_index: 0, delta: item.content[0].text, logprobs: [] },
          { type: "response.output_text.done", item_id: item.id, output_index: 0, content_index: 0, text: item.content[0].text, logprobs: [] },
          { type: "response.content_part.done", item_id: item.id, output_index: 0, content_index: 0, part: item.content[0] }
        ]
        : [
          { type: "response.function_call_arguments.delta", item_id: item.id, output_index: 0, delta: item.arguments },
          { type: "response.function_call_arguments.done", item_id: item.id, output_index: 0, arguments: item.arguments, name: "step" }
        ]),
      { type: "response.output_item.done", output_index: 0, item },
      {
        type: "response.completed",
        response: { ...turn.response, status: "completed", output: [item], usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 } }
      }
    ]
    return Stream.fromIterable(events)
  }
  return { turns, layer: Layer.succeed(ModelBackend, { supportsSteering: false, generate }) }
}

const Step = Tool.make("step", {
  parameters: { n: Schema.Number, task: Schema.String },
  success: Schema.Struct({ n: Schema.Number, task: Schema.String })
})
const kit = Toolkit.make(Step)

const startGateway = (toolCalls: number, config: Partial<GatewayConfig.GatewayConfigShape> = {}) =>
  Effect.gen(function*() {
    const model = makeModel(toolCalls)
    const context = yield* Layer.build(
      Gateway.layer.pipe(
        Layer.provide(Layer.mergeAll(
          GatewayConfig.layer({ port: 0, host: "127.0.0.1", ...config }),
          StateCache.layer(),
          ResponseStore.layerMemory(),
          Auth.layer({ _tag: "StaticKeys", keys: [[key, "tenant-e2e"]] }),
          model.layer
        ))
      )
    )
    const baseUrl = yield* Effect.provide(Gateway.baseUrl, context)
    return { model, config: ClientConfig.make({ baseUrl: `${baseUrl}/v1`, apiKey: key }) }
  })

const clientLayer = (config: ClientConfig.ClientConfig, size = 1, plan?: FaultInjection.Plan) =>
  Layer.mergeAll(
    ResponsesClient.layer(config, { size }).pipe(
      Layer.provide(plan === undefined ? WebSocket.layer() : FaultInjection.layer(plan).pipe(Layer.provide(WebSocket.layer())))
    ),
    NodeHttpClient.layerUndici
  )

const handlers = (runs: Ref.Ref<number>) =>
  kit.toLayer({ step: (p) => Ref.update(runs, (n) => n + 1).pipe(Effect.as(p)) })

const backoff = { initialMillis: 5, maxMillis: 20, maxRetries: 5 }

describe("client ↔ gateway over loopback", () => {
  it.scopedLive("a 20-tool-call rollout: every turn after the first is a delta", () =>
    Effect.gen(function*() {
      const { config, model } = yield* startGateway(20)
      const runs = yield* Ref.make(0)
      const result = yield* Effect.gen(function*() {
        const session = yield* Session.make({ settings: { model: "m", store: false }, backoff })
        const events = Chunk.toArray(yield* Stream.runCollect(AgentLoop.runWith(session, "roll", { toolkit: kit, settings: { model: "m", store: false } })))
        return { events, metrics: yield* session.metrics }
      }).pipe(Effect.provide(Layer.merge(clientLayer(config), handlers(runs))))
      assert.strictEqual((result.events.at(-1) as any).text, "roll: done after 20")
      assert.strictEqual(yield* Ref.get(runs), 20)
      assert.strictEqual(model.turns.length, 21)
      for (const turn of model.turns.slice(1)) {
        assert.isString(turn.request.previous_response_id)
        assert.strictEqual(turn.newInput.length, 1)
      }
      assert.strictEqual(result.metrics.deltaRequests, 20)
      assert.strictEqual(result.metrics.fullRequests, 1)
      assert.isTrue(result.metrics.bytesFullResend > 5 * result.metrics.bytesSent)
    }))

  it.scopedLive("the lane's cache moved on: previous_response_not_found, one full resend", () =>
    Effect.gen(function*() {
      const { config, model } = yield* startGateway(3)
      const runs = yield* Ref.make(0)
      yield* Effect.gen(function*() {
        const client = yield* ResponsesClient.ResponsesClient
        const session = yield* Session.make({ settings: { model: "m", store: false }, backoff })
        const r1 = yield* session.turn([{ type: "message", role: "user", content: [{ type: "input_text", text: "evict" }] } as any])
        // Another response on the session's lane replaces the lane's cached latest response.
        yield* Stream.runDrain(client.create({ model: "m", input: "intruder", store: false }, { lane: session.lease.lane! }))
        const r2 = yield* session.turn([{ type: "function_call_output", call_id: (r1.output[0] as any).call_id, output: "{}" } as any])
        assert.strictEqual(r2.status, "completed")
        assert.strictEqual((yield* session.metrics).fullResends, 1)
        const last = model.turns.at(-1)!
        assert.isUndefined(last.request.previous_response_id ?? undefined)
        assert.strictEqual(last.newInput.length, 3)
      }).pipe(Effect.provide(Layer.merge(clientLayer(config), handlers(runs))))
    }))

  it.scopedLive("a socket cut mid-response: reconnect and re-issue the turn in full", () =>
    Effect.gen(function*() {
      // The standard ladder, as against OpenAI: a gateway without resume (test/resume-client.test.ts has resume).
      const { config } = yield* startGateway(4, { resume: false })
      const runs = yield* Ref.make(0)
      const events = yield* AgentLoop.run("cut", { toolkit: kit, settings: { model: "m", store: false }, session: { backoff } }).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toArray),
        Effect.provide(Layer.merge(clientLayer(config, 1, (i) => i === 0 ? { cutAfterFrames: { direction: "inbound", frames: 10 } } : {}), handlers(runs)))
      )
      assert.isTrue(events.some((e) => e._tag === "TurnRestarted"))
      assert.strictEqual((events.at(-1) as any).text, "cut: done after 4")
      assert.strictEqual(yield* Ref.get(runs), 4)
    }))

  it.scopedLive("a gateway refusing WebSocket (426): the session runs over HTTP/SSE", () =>
    Effect.gen(function*() {
      const { config, model } = yield* startGateway(3, { rejectWebSocket: true })
      const runs = yield* Ref.make(0)
      const events = yield* AgentLoop.run("http", { toolkit: kit, settings: { model: "m", store: false }, session: { backoff } }).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toArray),
        Effect.provide(Layer.merge(clientLayer(config), handlers(runs)))
      )
      assert.strictEqual((events.at(-1) as any).text, "http: done after 3")
      for (const turn of model.turns) assert.isUndefined(turn.request.previous_response_id ?? undefined)
      assert.strictEqual(model.turns.at(-1)!.newInput.length, 7)
    }))

  it.scopedLive("40 concurrent sessions over a pool of 4 sockets: no cross-talk", () =>
    Effect.gen(function*() {
      const { config } = yield* startGateway(2)
      const runs = yield* Ref.make(0)
      const tasks = Array.from({ length: 40 }, (_, i) => `task${i}`)
      const answers = yield* Effect.forEach(
        tasks,
        (task) => AgentLoop.answer(task, { toolkit: kit, settings: { model: "m", store: false } }),
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(Layer.merge(clientLayer(config, 4), handlers(runs))))
      answers.forEach((a, i) => assert.strictEqual(a, `task${i}: done after 2`))
      assert.strictEqual(yield* Ref.get(runs), 80)
    }))
})
