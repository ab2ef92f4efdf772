import * as Chat from "@effect/ai/Chat"
import * as AiLanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Ref, Schema, Stream, Tracer } from "effect"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as LanguageModel from "../src/LanguageModel.js"
import { ResponsesError } from "../src/ResponsesError.js"
import { makeServer, type ModelOptions } from "./helpers/openaiLike.js"
import { memoryTransport } from "./helpers/servers.js"

const config = ClientConfig.make({ url: "ws://fake.test/v1/responses", apiKey: "sk-test" })

const Step = Tool.make("step", {
  parameters: { n: Schema.Number, tag: Schema.String },
  success: Schema.Struct({ n: Schema.Number, tag: Schema.String })
})
const kit = Toolkit.make(Step)

const setup = (model: ModelOptions, options: Partial<LanguageModel.Options> = {}) => {
  const server = makeServer(model)
  const layer = LanguageModel.layer({ model: "m", store: false, ...options }).pipe(
    Layer.provide(ConnectionPool.layer(config, { size: 2 })),
    Layer.provide(memoryTransport(server))
  )
  return { server, layer }
}

const handlers = (runs: Ref.Ref<number>) =>
  kit.toLayer({ step: (p) => Ref.update(runs, (n) => n + 1).pipe(Effect.as(p)) })

describe("LanguageModel", () => {
  it.live("streamText: reasoning, argument deltas and the tool call as parts, finish with usage", () => {
    const { layer } = setup({ toolCalls: 1, reasoning: "Think about the step." })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const parts = Chunk.toArray(
        yield* Stream.runCollect(AiLanguageModel.streamText({ prompt: "go", toolkit: kit })).pipe(
          Effect.provide(handlers(runs))
        )
      )
      const types = parts.map((p) => p.type)
      assert.strictEqual(types[0], "response-metadata")
      const reasoning = parts.filter((p) => p.type === "reasoning-delta").map((p: any) => p.delta).join("")
      assert.strictEqual(reasoning, "Think about the step.")
      const start = parts.find((p) => p.type === "reasoning-start") as any
      assert.match(start.metadata.openai.encryptedContent, /^enc_resp_/)
      assert.isTrue(types.indexOf("reasoning-end") < types.indexOf("tool-params-start"))
      const args = parts.filter((p) => p.type === "tool-params-delta").map((p: any) => p.delta).join("")
      assert.deepStrictEqual(JSON.parse(args), { n: 0, tag: "go" })
      const call = parts.find((p) => p.type === "tool-call") as any
      assert.deepStrictEqual(call.params, { n: 0, tag: "go" })
      assert.strictEqual(call.id, "call_0")
      const result = parts.find((p) => p.type === "tool-result") as any
      assert.deepStrictEqual(result.result, { n: 0, tag: "go" })
      const finish = parts.find((p) => p.type === "finish") as any
      assert.strictEqual(finish.reason, "tool-calls")
      assert.strictEqual(finish.usage.inputTokens, 10)
      assert.strictEqual(yield* Ref.get(runs), 1)
    }).pipe(Effect.provide(layer))
  })

  it.live("two Chats interleaved on one layer each continue with deltas; a replayed prompt goes out in full", () => {
    const { layer, server } = setup({ toolCalls: 2 })
    const runs = Ref.unsafeMake(0)
    return Effect.gen(function*() {
      const [a, b] = [yield* Chat.empty, yield* Chat.empty]
      yield* a.generateText({ prompt: "task-a", toolkit: kit })
      yield* b.generateText({ prompt: "task-b", toolkit: kit })
      yield* a.generateText({ prompt: [], toolkit: kit })
      yield* b.generateText({ prompt: [], toolkit: kit })
      const lastA = yield* a.generateText({ prompt: [], toolkit: kit })
      const lastB = yield* b.generateText({ prompt: [], toolkit: kit })
      assert.strictEqual(lastA.text, "done after 2 tool calls for task-a")
      assert.strictEqual(lastB.text, "done after 2 tool calls for task-b")
      assert.strictEqual(yield* Ref.get(runs), 4)
      const fulls = server.creates.filter((c) => c.previousResponseId === undefined)
      assert.strictEqual(fulls.length, 2)
      for (const c of server.creates.filter((c) => c.previousResponseId !== undefined)) assert.strictEqual(c.inputItems, 1)
      // The same prompt again (not a continuation of what the conversation became): a new conversation, in full.
      const history = yield* a.history
      const before = history.content.slice(0, 1)
      yield* AiLanguageModel.generateText({ prompt: Prompt.fromMessages(before), toolkit: kit })
      assert.isUndefined(server.creates.at(-1)!.previousResponseId)
    }).pipe(Effect.provide(layer), Effect.provide(handlers(runs)))
  })

  it.live("more conversations than the pool has leases: the least recently used idle one gives its lease up", () => {
    const server = makeServer({ toolCalls: 0 })
    const small = ClientConfig.make({ url: "ws://fake.test/v1/responses", maxLanes: 2 })
    const layer = LanguageModel.layer({ model: "m", store: false }).pipe(
      Layer.provide(ConnectionPool.layer(small, { size: 1 })),
      Layer.provide(memoryTransport(server))
    )
    return Effect.gen(function*() {
      const chats = [yield* Chat.empty, yield* Chat.empty, yield* Chat.empty]
      for (const [i, chat] of chats.entries()) yield* chat.generateText({ prompt: `c${i}` })
      // c0 was evicted for c2: its next turn is a full request; c2's stays a delta.
      yield* chats[2]!.generateText({ prompt: "again" })
      assert.isDefined(server.creates.at(-1)!.previousResponseId)
      yield* chats[0]!.generateText({ prompt: "again" })
      assert.isUndefined(server.creates.at(-1)!.previousResponseId)
      assert.strictEqual(server.creates.at(-1)!.inputItems, 3)
    }).pipe(Effect.provide(layer))
  })

  it.live("a socket dropped mid-turn: generateText gets the re-issued response, tools run once, the Chat goes on by deltas", () => {
    const { layer, server } = setup({ toolCalls: 2 }, { session: { backoff: { initialMillis: 1, maxMillis: 5 } } })
    const runs = Ref.unsafeMake(0)
    return Effect.gen(function*() {
      const chat = yield* Chat.empty
      yield* chat.generateText({ prompt: "drop", toolkit: kit })
      server.faults.dropAfterEvents = 3
      yield* chat.generateText({ prompt: [], toolkit: kit })
      const last = yield* chat.generateText({ prompt: [], toolkit: kit })
      assert.strictEqual(last.text, "done after 2 tool calls for drop")
      assert.strictEqual(yield* Ref.get(runs), 2)
      assert.deepStrictEqual(server.creates.map((c) => c.outcome), ["ok", "dropped", "ok", "ok"])
      // The re-issued turn is a full request on the new socket; the next one continues it.
      assert.isUndefined(server.creates[2]!.previousResponseId)
      assert.isDefined(server.creates[3]!.previousResponseId)
      assert.strictEqual(server.creates[3]!.inputItems, 1)
    }).pipe(Effect.provide(layer), Effect.provide(handlers(runs)))
  })

  it.live("streamText: a response lost after parts were emitted fails the stream instead of mixing two responses", () => {
    const { layer, server } = setup({ toolCalls: 0 }, { session: { backoff: { initialMillis: 1, maxMillis: 5 } } })
    return Effect.gen(function*() {
      server.faults.dropAfterEvents = 4
      const error = yield* Effect.flip(Stream.runDrain(AiLanguageModel.streamText({ prompt: "long answer here" })))
      assert.strictEqual(error._tag, "UnknownError")
      assert.include(error.message, "lost mid-stream")
    }).pipe(Effect.provide(layer))
  })

  it.live("an error frame becomes an AiError whose cause is the ResponsesError", () => {
    const { layer, server } = setup({ toolCalls: 0 })
    return Effect.gen(function*() {
      server.faults.errorNext = { status: 400, code: "invalid_prompt", message: "Bad prompt." }
      const error = yield* Effect.flip(AiLanguageModel.generateText({ prompt: "x" }))
      assert.strictEqual(error._tag, "UnknownError")
      assert.include(error.message, "Bad prompt.")
      assert.instanceOf((error as any).cause, ResponsesError)
      // The failed conversation was closed; the next call starts a new one and succeeds.
      const ok = yield* AiLanguageModel.generateText({ prompt: "y" })
      assert.strictEqual(ok.text, "done after 0 tool calls for y")
    }).pipe(Effect.provide(layer))
  })

  it.live("a turn is a span under LanguageModel.generateText, annotated with the request mode", () => {
    const { layer } = setup({ toolCalls: 0 })
    const spans: Array<{ readonly name: string; readonly parent: string | undefined; readonly span: Tracer.Span }> = []
    return Effect.gen(function*() {
      const native = yield* Effect.tracer
      const recording = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          const span = native.span(name, parent, context, links, startTime, kind, options)
          spans.push({ name, parent: Option.getOrUndefined(Option.map(parent, (p) => p._tag === "Span" ? p.name : "external")), span })
          return span
        },
        context: (f, fiber) => native.context(f, fiber)
      })
      const chat = yield* Chat.empty
      yield* chat.generateText({ prompt: "one" }).pipe(Effect.withTracer(recording))
      yield* chat.generateText({ prompt: "two" }).pipe(Effect.withTracer(recording))
      const turns = spans.filter((s) => s.name === "Session.turnWith")
      assert.strictEqual(turns.length, 2)
      assert.deepStrictEqual(turns.map((t) => t.parent), ["LanguageModel.generateText", "LanguageModel.generateText"])
      assert.match(String(turns[1]!.span.attributes.get("gen_ai.response.id")), /^resp_/)
      assert.strictEqual(turns[1]!.span.attributes.get("gen_ai.usage.input_tokens"), 10)
      const generate = spans.filter((s) => s.name === "LanguageModel.generateText").map((s) => s.span.attributes)
      assert.deepStrictEqual(generate.map((a) => a.get("loopwire.request.mode")), ["full", "delta"])
      assert.strictEqual(generate[1]!.get("gen_ai.usage.input_tokens"), 10)
    }).pipe(Effect.provide(layer))
  })
})

describe("LanguageModel prompt mapping", () => {
  it.effect("messages become Responses input items; reasoning goes back with its encrypted content", () =>
    Effect.gen(function*() {
      const prompt = Prompt.make([
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "hi" }] },
        {
          role: "assistant",
          content: [
            { type: "reasoning", text: "ok", options: { openai: { itemId: "rs_1", encryptedContent: "enc" } } },
            { type: "text", text: "calling" },
            { type: "tool-call", id: "call_1", name: "step", params: { n: 1 }, providerExecuted: false }
          ]
        },
        { role: "tool", content: [{ type: "tool-result", id: "call_1", name: "step", result: { n: 1 }, isFailure: false, providerExecuted: false }] }
      ])
      const items = yield* LanguageModel.promptItems(prompt.content, "gpt-5.6")
      assert.deepStrictEqual(items as any, [
        { type: "message", role: "developer", content: "Be brief." },
        { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
        { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "ok" }], encrypted_content: "enc" },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "calling" }] },
        { type: "function_call", call_id: "call_1", name: "step", arguments: "{\"n\":1}" },
        { type: "function_call_output", call_id: "call_1", output: "{\"n\":1}" }
      ])
    }))

  it.effect("an unsupported file type is a MalformedInput", () =>
    Effect.gen(function*() {
      const prompt = Prompt.make([{
        role: "user",
        content: [{ type: "file", mediaType: "audio/wav", data: new Uint8Array([1, 2]) }]
      }])
      const error = yield* Effect.flip(LanguageModel.promptItems(prompt.content, "m"))
      assert.strictEqual(error._tag, "MalformedInput")
    }))
})
