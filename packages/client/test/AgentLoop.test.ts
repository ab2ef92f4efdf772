import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Context, type Duration, Effect, HashMap, Layer, Logger, Ref, Schema, Stream } from "effect"
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
      const error = yield* Effect.flip(
        drive(AgentLoop.answer("m2", { toolkit: kit, maxTurns: 2, settings: { model: "m", store: false } }).pipe(
          Effect.provide(handlers(runs))
        ))
      )
      assert.strictEqual(error._tag, "AgentError")
      assert.strictEqual((error as AgentLoop.AgentError).reason, "MaxTurns")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a failing handler: its cause in the events and the log, a documented error item to the model; hosted tools are sent", () => {
    const { layer, server } = setup({ toolCalls: 1 })
    const lines: Array<{ readonly cause: Cause.Cause<unknown>; readonly annotations: Record<string, unknown> }> = []
    const logger = Logger.make(({ annotations, cause }) => {
      lines.push({ cause, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
    })
    const failing = kit.toLayer({
      step: () => Effect.die(new Error("database unreachable")),
      note: ({ text }) => Effect.succeed(text)
    })
    return Effect.gen(function*() {
      const events = Chunk.toArray(
        yield* drive(
          Stream.runCollect(AgentLoop.run("f", {
            toolkit: kit,
            settings: { model: "m", store: false, tools: [{ type: "web_search" }] as any }
          })).pipe(Effect.provide(failing))
        )
      )
      const finished = events.find((e) => e._tag === "ToolFinished") as Extract<AgentLoop.AgentEvent, { _tag: "ToolFinished" }>
      assert.strictEqual(finished.outcome._tag, "Defect")
      assert.include(Cause.pretty((finished.outcome as any).cause), "database unreachable")
      assert.deepStrictEqual(JSON.parse(finished.output), {
        error: { type: "tool_error", message: "Tool 'step' failed unexpectedly." }
      })
      const logged = lines.find((l) => l.annotations["tool"] === "step")!
      assert.include(Cause.pretty(logged.cause), "database unreachable")
      assert.strictEqual(logged.annotations["call_id"], finished.callId)
      // The loop went on: the model read the error item and answered.
      assert.strictEqual(events.at(-1)!._tag, "FinalAnswer")
      // Function tools of the toolkit, then the hosted tool of the settings, on every request.
      for (const create of server.creates) {
        assert.deepStrictEqual(create.tools!.map((t) => t.type === "function" ? t.name : t.type), ["step", "note", "web_search"])
      }
    }).pipe(Effect.provide(layer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  })

  it.effect("a settings tool named like a toolkit tool fails the run before any request", () => {
    const { layer, server } = setup({ toolCalls: 1 })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const error = yield* Effect.flip(
        drive(Stream.runDrain(AgentLoop.run("c", {
          toolkit: kit,
          settings: { model: "m", tools: [{ type: "function", name: "note", parameters: {} }] as any }
        })).pipe(Effect.provide(handlers(runs))))
      )
      assert.strictEqual(error._tag, "AgentError")
      assert.strictEqual((error as AgentLoop.AgentError).reason, "ToolNameCollision")
      assert.include(error.message, "note")
      assert.strictEqual(server.creates.length, 0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("argument deltas carry their call id, reasoning streams as ReasoningDelta; rawEvents adds every server event", () => {
    const { layer, server } = setup({ toolCalls: 1, reasoning: "Step first, then answer." })
    return Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = Chunk.toArray(
        yield* drive(
          Stream.runCollect(AgentLoop.run("a", { toolkit: kit, rawEvents: true, settings: { model: "m", store: false } })).pipe(
            Effect.provide(handlers(runs))
          )
        )
      )
      const deltas = events.filter((e) => e._tag === "ToolArgumentsDelta") as Array<Extract<AgentLoop.AgentEvent, { _tag: "ToolArgumentsDelta" }>>
      const started = events.find((e) => e._tag === "ToolStarted") as Extract<AgentLoop.AgentEvent, { _tag: "ToolStarted" }>
      assert.isAbove(deltas.length, 0)
      assert.strictEqual(deltas.map((d) => d.delta).join(""), started.arguments)
      assert.strictEqual(deltas[0]!.callId, started.callId)
      assert.strictEqual(deltas[0]!.name, "step")
      const reasoning = events.filter((e) => e._tag === "ReasoningDelta") as Array<Extract<AgentLoop.AgentEvent, { _tag: "ReasoningDelta" }>>
      assert.deepStrictEqual(
        [1, 2].map((turn) => reasoning.filter((r) => r.turn === turn).map((r) => r.delta).join("")),
        ["Step first, then answer.", "Step first, then answer."]
      )
      assert.strictEqual(reasoning[0]!.kind, "summary")
      const raw = events.filter((e) => e._tag === "ServerEvent") as Array<Extract<AgentLoop.AgentEvent, { _tag: "ServerEvent" }>>
      assert.deepStrictEqual(raw.filter((e) => e.event.type === "response.completed").map((e) => e.turn), [1, 2])
      assert.strictEqual(server.creates.length, 2)
    }).pipe(Effect.provide(layer))
  })

  it("a tool's undeclared service requirement does not type-check; a declared one flows into the loop's type", () => {
    class Db extends Context.Tag("test/Db")<Db, { readonly lookup: (n: number) => string }>() {}
    const Lookup = Tool.make("lookup", { parameters: { n: Schema.Number }, success: Schema.String, dependencies: [Db] })
    const dbKit = Toolkit.make(Lookup)
    // @ts-expect-error the handler needs Db, which the tool does not declare and the layer does not provide
    void kit.toLayer({ step: ({ n, tag }) => Effect.map(Db, () => ({ n, tag })), note: ({ text }) => Effect.succeed(text) })
    const run = AgentLoop.run("x", { toolkit: dbKit })
    // @ts-expect-error the run requires Db (declared by the tool): a stream type without it does not type-check
    const withoutDb: Stream.Stream<AgentLoop.AgentEvent, unknown, ConnectionPool.ConnectionPool | Tool.HandlersFor<typeof dbKit.tools>> = run
    void withoutDb
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
