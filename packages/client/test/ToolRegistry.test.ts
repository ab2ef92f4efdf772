import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Effect, Fiber, HashMap, Layer, Logger, Ref, Schema, Stream, TestClock } from "effect"
import * as ToolRegistry from "../src/ToolRegistry.js"

const Add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: { a: Schema.Number, b: Schema.Number },
  success: Schema.Number
})
const Lookup = Tool.make("lookup", {
  parameters: { key: Schema.String },
  success: Schema.Struct({ value: Schema.String }),
  failure: Schema.Struct({ notFound: Schema.String })
})
const Slow = Tool.make("slow", { success: Schema.String }).annotate(ToolRegistry.Timeout, "1 second")
const Crash = Tool.make("crash", { success: Schema.String })

const kit = Toolkit.make(Add, Lookup, Slow, Crash)

const handlers = (running: Ref.Ref<number>, peak: Ref.Ref<number>) =>
  kit.toLayer({
    add: ({ a, b }) =>
      Effect.gen(function*() {
        const now = yield* Ref.updateAndGet(running, (n) => n + 1)
        yield* Ref.update(peak, (p) => Math.max(p, now))
        yield* Effect.sleep("10 millis")
        yield* Ref.update(running, (n) => n - 1)
        return a + b
      }),
    lookup: ({ key }) => key === "x" ? Effect.succeed({ value: "found" }) : Effect.fail({ notFound: key }),
    slow: () => Effect.sleep("10 seconds").pipe(Effect.as("late")),
    crash: () => Effect.die(new Error("boom"))
  })

const fc = (call_id: string, name: string, args: unknown) => ({
  call_id,
  name,
  arguments: typeof args === "string" ? args : JSON.stringify(args)
})

const withRegistry = <A, E>(
  f: (r: ToolRegistry.Shape, peak: Ref.Ref<number>) => Effect.Effect<A, E>,
  options?: ToolRegistry.Options
) =>
  Effect.gen(function*() {
    const running = yield* Ref.make(0)
    const peak = yield* Ref.make(0)
    const registry = yield* ToolRegistry.make(kit, options).pipe(Effect.provide(handlers(running, peak)))
    return yield* f(registry, peak)
  })

/** Log lines with their cause and annotations, as a test logger sees them. */
const captureLogs = () => {
  const lines: Array<{ message: unknown; cause: Cause.Cause<unknown>; annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ annotations, cause, message }) => {
    lines.push({ message, cause, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

describe("tools JSON", () => {
  it.effect("function tools from @effect/ai tools: JSON Schema parameters, description, the Strict annotation", () =>
    Effect.gen(function*() {
      const running = yield* Ref.make(0)
      const registry = yield* ToolRegistry.make(kit).pipe(Effect.provide(handlers(running, running)))
      const add = registry.definitions.find((d) => d.name === "add")!
      assert.deepStrictEqual(add, {
        type: "function",
        name: "add",
        description: "Adds two numbers",
        parameters: {
          type: "object",
          required: ["a", "b"],
          properties: { a: { type: "number" }, b: { type: "number" } },
          additionalProperties: false
        },
        strict: false
      })
      const strict = ToolRegistry.toDefinition(Add.annotate(ToolRegistry.Strict, true))
      assert.strictEqual((strict as ToolRegistry.FunctionToolDefinition).strict, true)
    }))

  it("a provider-defined tool becomes its hosted tool entry", () => {
    const WebSearch = Tool.providerDefined({
      id: "openai.web_search",
      toolkitName: "WebSearch",
      providerName: "web_search",
      args: { search_context_size: Schema.optional(Schema.Literal("low", "medium", "high")) }
    })
    assert.deepStrictEqual(ToolRegistry.toDefinition(WebSearch({ search_context_size: "low" })), {
      type: "web_search",
      search_context_size: "low"
    })
  })
})

describe("ToolRegistry", () => {
  it.effect("runs a call and encodes the success as function_call_output", () =>
    withRegistry((r) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(r.call(fc("c1", "add", { a: 2, b: 3 })))
        yield* TestClock.adjust("10 millis")
        const record = yield* Fiber.join(fiber)
        assert.deepStrictEqual(record.output, { type: "function_call_output", call_id: "c1", output: "5" })
        assert.strictEqual(record.outcome._tag, "Success")
      })
    ))

  it.effect("invalid arguments become a structured error output, the handler never runs", () =>
    withRegistry((r) =>
      Effect.gen(function*() {
        const bad = yield* r.call(fc("c1", "add", { a: "two" }))
        assert.strictEqual(bad.outcome._tag, "InvalidArguments")
        const parsed = JSON.parse(bad.output.output)
        assert.strictEqual(parsed.error.type, "invalid_arguments")
        assert.include(parsed.error.message, "a")
        const notJson = yield* r.call(fc("c2", "add", "{not json"))
        assert.strictEqual(JSON.parse(notJson.output.output).error.type, "invalid_arguments")
        const unknown = yield* r.call(fc("c3", "nope", {}))
        assert.strictEqual(JSON.parse(unknown.output.output).error.type, "unknown_tool")
        // A model naming an Object.prototype member calls no tool: names are own keys only.
        for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
          const odd = yield* r.call(fc(`c_${name}`, name, {}))
          assert.strictEqual(odd.outcome._tag, "UnknownTool", name)
        }
        assert.strictEqual(yield* r.executions, 0)
      })
    ))

  it.effect("typed failures are encoded with the failure schema", () =>
    withRegistry((r) =>
      Effect.gen(function*() {
        const ok = yield* r.call(fc("c1", "lookup", { key: "x" }))
        assert.deepStrictEqual(JSON.parse(ok.output.output), { value: "found" })
        const ko = yield* r.call(fc("c2", "lookup", { key: "y" }))
        assert.strictEqual(ko.outcome._tag, "Failure")
        assert.deepStrictEqual(JSON.parse(ko.output.output), { error: { notFound: "y" } })
      })
    ))

  it.effect("a per-tool timeout becomes an error output", () =>
    withRegistry((r) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(r.call(fc("c1", "slow", {})))
        yield* TestClock.adjust("1 second")
        const record = yield* Fiber.join(fiber)
        assert.strictEqual(record.outcome._tag, "Timeout")
        assert.strictEqual(JSON.parse(record.output.output).error.type, "timeout")
      })
    ))

  it.effect("a crashing handler is reported to the model, its cause logged and in the outcome", () => {
    const logs = captureLogs()
    return withRegistry((r) =>
      Effect.gen(function*() {
        const record = yield* r.call(fc("c1", "crash", {}))
        assert.strictEqual(record.outcome._tag, "Defect")
        const outcome = record.outcome as Extract<ToolRegistry.Outcome, { _tag: "Defect" }>
        assert.strictEqual(Cause.squash(outcome.cause) instanceof Error && (Cause.squash(outcome.cause) as Error).message, "boom")
        assert.deepStrictEqual(JSON.parse(record.output.output), {
          error: { type: "tool_error", message: "Tool 'crash' failed unexpectedly." }
        })
        const line = logs.lines.find((l) => l.annotations["tool"] === "crash")!
        assert.isDefined(line)
        assert.strictEqual(line.annotations["call_id"], "c1")
        assert.include(Cause.pretty(line.cause), "boom")
      })
    ).pipe(Effect.provide(logs.layer))
  })

  it.effect("a result the success schema rejects is a defect with its cause, not a crash", () =>
    Effect.gen(function*() {
      const Bad = Tool.make("bad", { success: Schema.Number })
      const badKit = Toolkit.make(Bad)
      const r = yield* ToolRegistry.make(badKit).pipe(
        Effect.provide(badKit.toLayer({ bad: () => Effect.succeed("not a number" as unknown as number) }))
      )
      const record = yield* r.call(fc("b1", "bad", {}))
      assert.strictEqual(record.outcome._tag, "Defect")
      assert.include(Cause.pretty((record.outcome as any).cause), "MalformedInput")
      assert.strictEqual(JSON.parse(record.output.output).error.type, "tool_error")
    }))

  it.effect("failureMode \"return\" failures are reported as typed failures", () =>
    Effect.gen(function*() {
      const Weather = Tool.make("weather", {
        parameters: { city: Schema.String },
        success: Schema.Struct({ temp: Schema.Number }),
        failure: Schema.Struct({ reason: Schema.String }),
        failureMode: "return"
      })
      const weatherKit = Toolkit.make(Weather)
      const r = yield* ToolRegistry.make(weatherKit).pipe(
        Effect.provide(weatherKit.toLayer({
          weather: ({ city }) => city === "Paris" ? Effect.succeed({ temp: 21 }) : Effect.fail({ reason: "unknown city" })
        }))
      )
      const ok = yield* r.call(fc("1", "weather", { city: "Paris" }))
      assert.deepStrictEqual(JSON.parse(ok.output.output), { temp: 21 })
      const ko = yield* r.call(fc("2", "weather", { city: "Atlantis" }))
      assert.strictEqual(ko.outcome._tag, "Failure")
      assert.deepStrictEqual(JSON.parse(ko.output.output), { error: { reason: "unknown city" } })
      assert.strictEqual(yield* r.executions, 2)
    }))

  it.effect("a tool's declared dependency is required by the registry and reaches the handler", () =>
    Effect.gen(function*() {
      class Db extends Context.Tag("test/Db")<Db, { readonly get: (k: string) => string }>() {}
      const Read = Tool.make("read", { parameters: { key: Schema.String }, success: Schema.String, dependencies: [Db] })
      const readKit = Toolkit.make(Read)
      const HandlersLive = readKit.toLayer({ read: ({ key }) => Effect.map(Db, (db) => db.get(key)) })
      const make = ToolRegistry.make(readKit)
      // @ts-expect-error the registry needs Db: without it, this does not type-check
      const missing: Effect.Effect<ToolRegistry.Shape, never, Tool.HandlersFor<typeof readKit.tools>> = make
      void missing
      // A handler needing a service its tool does not declare does not type-check either (as in @effect/ai).
      const Undeclared = Tool.make("undeclared", { success: Schema.String })
      // @ts-expect-error Db is neither declared by the tool nor provided to the layer's build
      void Toolkit.make(Undeclared).toLayer({ undeclared: () => Effect.map(Db, (db) => db.get("x")) })
      const r = yield* make.pipe(
        Effect.provide(Layer.merge(HandlersLive, Layer.succeed(Db, { get: (k) => `value of ${k}` })))
      )
      const record = yield* r.call(fc("d1", "read", { key: "k" }))
      assert.strictEqual(record.output.output, "value of k")
    }))

  it.effect("parallel calls run with bounded concurrency and keep call order", () =>
    withRegistry((r, peak) =>
      Effect.gen(function*() {
        const calls = Array.from({ length: 6 }, (_, i) => fc(`c${i}`, "add", { a: i, b: 1 }))
        const fiber = yield* Effect.fork(r.dispatchAll(calls))
        yield* TestClock.adjust("10 millis")
        yield* TestClock.adjust("10 millis")
        yield* TestClock.adjust("10 millis")
        const records = yield* Fiber.join(fiber)
        assert.deepStrictEqual(records.map((x) => x.output.output), ["1", "2", "3", "4", "5", "6"])
        assert.strictEqual(yield* Ref.get(peak), 2)
      }), { concurrency: 2 }))

  it.effect("dispatch emits started then finished for each call", () =>
    withRegistry((r) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(Stream.runCollect(r.dispatch([fc("a", "add", { a: 1, b: 1 }), fc("b", "lookup", { key: "x" })])))
        yield* TestClock.adjust("10 millis")
        const events = Array.from(yield* Fiber.join(fiber))
        assert.strictEqual(events.filter((e) => e._tag === "ToolStarted").length, 2)
        assert.strictEqual(events.filter((e) => e._tag === "ToolFinished").length, 2)
        for (const id of ["a", "b"]) {
          const started = events.findIndex((e) => e._tag === "ToolStarted" && e.callId === id)
          const finished = events.findIndex((e) => e._tag === "ToolFinished" && e.record.callId === id)
          assert.isTrue(started < finished)
        }
      })
    ))

  it.effect("the ledger never runs a replayed call twice", () =>
    withRegistry((r) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(
          Effect.all([r.call(fc("same", "add", { a: 1, b: 2 })), r.call(fc("same", "add", { a: 1, b: 2 }))], {
            concurrency: 2
          })
        )
        yield* TestClock.adjust("10 millis")
        const [first, second] = yield* Fiber.join(fiber)
        const third = yield* r.call(fc("same", "add", { a: 1, b: 2 }))
        assert.strictEqual(yield* r.executions, 1)
        assert.strictEqual(first.output.output, "3")
        assert.deepStrictEqual([first.replayed || second.replayed, third.replayed], [true, true])
        assert.isTrue(yield* r.hasRun("same"))
      })
    ))
})
