import { assert, describe, it } from "@effect/vitest"
import { Chunk, type Duration, Effect, Layer, Ref, Schema, Stream } from "effect"
import * as AgentLoop from "../src/AgentLoop.js"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as ToolRegistry from "../src/ToolRegistry.js"
import { drive } from "./helpers/drive.js"
import { makeServer, type ModelOptions } from "./helpers/openaiLike.js"
import { memoryTransport } from "./helpers/servers.js"

const config = ClientConfig.make({ url: "ws://fake.test/v1/responses", apiKey: "sk-test" })

const Step = Tool.make("step", {
  description: "Takes one step",
  parameters: { n: Schema.Number, tag: Schema.String },
  success: Schema.Struct({ n: Schema.Number, tag: Schema.String })
}).annotate(ToolRegistry.Timeout, "5 seconds")
const Note = Tool.make("note", { parameters: { text: Schema.String }, success: Schema.String })
const kit = Toolkit.make(Step, Note)

const setup = (model: ModelOptions, pool: ConnectionPool.Options = { size: 8 }) => {
  const server = makeServer(model)
  const layer = ConnectionPool.layer(config, pool).pipe(Layer.provide(memoryTransport(server)))
  return { server, layer }
}

const handlers = (runs: Ref.Ref<number>, delay: Duration.DurationInput = "0 millis") =>
  kit.toLayer({
    step: ({ n, tag }) => Ref.update(runs, (x) => x + 1).pipe(Effect.zipRight(Effect.sleep(delay)), Effect.as({ n, tag })),
    note: ({ text }) => Effect.succeed(text)
  })

describe("AgentLoop", () => {
  it.effect("runs tool calls until the model answers, emitting text, tools and turns", () => {
    const { layer, server } = setup({ toolCalls: 3 })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = Chunk.toArray(
        yield* drive(
          Stream.runCollect(AgentLoop.run("task-A", { toolkit: kit, settings: { model: "m", store: false } })).pipe(
            Effect.provide(handlers(runs))
          )
        )
      )
      const tags = events.map((e) => e._tag)
      assert.strictEqual(tags.filter((t) => t === "ToolStarted").length, 3)
      assert.strictEqual(tags.filter((t) => t === "ToolFinished").length, 3)
      assert.strictEqual(tags.filter((t) => t === "TurnCompleted").length, 4)
      const final = events.at(-1)!
      assert.strictEqual(final._tag, "FinalAnswer")
      assert.strictEqual((final as any).text, "done after 3 tool calls for task-A")
      const text = events.filter((e) => e._tag === "TextDelta").map((e: any) => e.delta).join("")
      assert.strictEqual(text, "done after 3 tool calls for task-A")
      const usage = (events.find((e) => e._tag === "TurnCompleted") as any).usage
      assert.strictEqual(usage.input_tokens, 10)
      assert.strictEqual(yield* Ref.get(runs), 3)
      // Every turn after the first was a delta carrying only the tool output.
      for (const c of server.creates.slice(1)) {
        assert.isDefined(c.previousResponseId)
        assert.strictEqual(c.inputItems, 1)
      }
    }).pipe(Effect.provide(layer))
  })

  it.effect("parallel tool calls run concurrently and their outputs go back in call order", () => {
    const { layer, server } = setup({ toolCalls: 4, parallel: 4 })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = Chunk.toArray(
        yield* drive(
          Stream.runCollect(AgentLoop.run("p", { toolkit: kit, settings: { model: "m", store: false } })).pipe(
            Effect.provide(handlers(runs, "1 second"))
          ),
          "1 second"
        )
      )
      // All four started before any finished.
      const firstFinished = events.findIndex((e) => e._tag === "ToolFinished")
      assert.strictEqual(events.slice(0, firstFinished).filter((e) => e._tag === "ToolStarted").length, 4)
      assert.strictEqual(server.creates[1]!.inputItems, 4)
      assert.strictEqual(events.at(-1)!._tag, "FinalAnswer")
    }).pipe(Effect.provide(layer))
  })

  it.effect("invalid arguments are answered with a structured error, and the loop goes on", () => {
    const { layer } = setup({ toolCalls: 2, args: (i) => (i === 0 ? "{\"n\":\"zero\"}" : JSON.stringify({ n: i, tag: "t" })) })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = Chunk.toArray(
        yield* drive(
          Stream.runCollect(AgentLoop.run("v", { toolkit: kit, settings: { model: "m", store: false } })).pipe(
            Effect.provide(handlers(runs))
          )
        )
      )
      const finished = events.filter((e) => e._tag === "ToolFinished") as Array<any>
      assert.strictEqual(finished[0].outcome._tag, "InvalidArguments")
      assert.strictEqual(JSON.parse(finished[0].output).error.type, "invalid_arguments")
      assert.strictEqual(finished[1].outcome._tag, "Success")
      assert.strictEqual(yield* Ref.get(runs), 1)
      assert.strictEqual(events.at(-1)!._tag, "FinalAnswer")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a tool that exceeds its timeout is reported as a timeout", () => {
    const { layer } = setup({ toolCalls: 1 })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = Chunk.toArray(
        yield* drive(
          Stream.runCollect(AgentLoop.run("t", { toolkit: kit, settings: { model: "m", store: false } })).pipe(
            Effect.provide(handlers(runs, "1 minute"))
          ),
          "1 second"
        )
      )
      const finished = events.find((e) => e._tag === "ToolFinished") as any
      assert.strictEqual(finished.outcome._tag, "Timeout")
      assert.strictEqual(events.at(-1)!._tag, "FinalAnswer")
    }).pipe(Effect.provide(layer))
  })

  it.effect("stops at maxTurns", () => {
    const { layer } = setup({ toolCalls: 10 })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = Chunk.toArray(
        yield* drive(
          Stream.runCollect(AgentLoop.run("m", { toolkit: kit, maxTurns: 3, settings: { model: "m", store: false } })).pipe(
            Effect.provide(handlers(runs))
          )
        )
      )
      assert.deepStrictEqual(events.at(-1), { _tag: "LimitReached", turns: 3, reason: "max_turns" })
    }).pipe(Effect.provide(layer))
  })

  it.effect("a dropped socket mid-turn restarts the turn; no tool runs twice", () => {
    const { layer, server } = setup({ toolCalls: 3 })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      let turns = 0
      const events = Chunk.toArray(
        yield* drive(
          AgentLoop.run("d", { toolkit: kit, settings: { model: "m", store: false } }).pipe(
            Stream.tap((e) =>
              Effect.sync(() => {
                if (e._tag === "TurnCompleted" && ++turns === 2) server.faults.dropAfterEvents = 4
              })
            ),
            Stream.runCollect,
            Effect.provide(handlers(runs))
          )
        )
      )
      assert.isTrue(events.some((e) => e._tag === "TurnRestarted"))
      assert.strictEqual(events.at(-1)!._tag, "FinalAnswer")
      assert.strictEqual(yield* Ref.get(runs), 3)
      assert.strictEqual(server.stats().connections, 2)
    }).pipe(Effect.provide(layer))
  })

  // No timer is involved (tools answer at once), so this one runs on the live clock.
  it.live("200 concurrent sessions over a pool of 8 sockets: no cross-talk", () => {
    const { layer, server } = setup({ toolCalls: 1, burst: 16 })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const tags = Array.from({ length: 200 }, (_, i) => `session-${i}`)
      const answers = yield* Effect.forEach(
          tags,
          (tag) =>
            AgentLoop.run(tag, { toolkit: kit, settings: { model: "m", store: false } }).pipe(
              Stream.runCollect,
              Effect.map((events) => {
                const list = Chunk.toArray(events)
                const outputs = list.filter((e) => e._tag === "ToolFinished").map((e: any) => JSON.parse(e.output).tag)
                return { tag, final: (list.at(-1) as any).text as string, outputs }
              })
            ),
          { concurrency: "unbounded" }
        ).pipe(Effect.provide(handlers(runs)))
      for (const a of answers) {
        assert.strictEqual(a.final, `done after 1 tool calls for ${a.tag}`)
        assert.deepStrictEqual(a.outputs, [a.tag])
      }
      assert.strictEqual(server.stats().connections, 8)
      assert.strictEqual(yield* Ref.get(runs), 200)
      // Every session's turns after the first were deltas.
      assert.strictEqual(server.creates.filter((c) => c.previousResponseId === undefined).length, 200)
    }).pipe(Effect.provide(layer))
  }, 60_000)
})
